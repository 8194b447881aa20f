"""A fresh Python interpreter for tests that need one of their own (what a process
imports at start, what it finds installed): Podium's tree first on its path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(
    code: str,
    *args: str,
    path: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    unset: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`python -c code args…` from the repository's folder, with Podium's tree and `path`
    on PYTHONPATH, this process's environment without `unset`, plus `env`. A child that
    fails raises CalledProcessError."""
    environ = {k: v for k, v in os.environ.items() if k not in unset}
    environ["PYTHONPATH"] = os.pathsep.join(str(p) for p in (ROOT, *path))
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**environ, **(env or {})},
    )
