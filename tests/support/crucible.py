"""crucible-emulator, the BigQuery API server of tests/tasks/cloud/test_bigquery.py, in a
virtualenv of its own: it pins DuckDB 1.5 and sqlglot, Podium runs DuckDB 2.0.

`python -m tests.support.crucible` builds it (scripts/test does, as a timed setup step);
the test's fixture builds it too when it is missing, for a developer running pytest alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

__all__ = ["CRUCIBLE", "crucible_venv"]

CRUCIBLE = "crucible-emulator[server]==0.1.0a2"


def crucible_venv() -> Path:
    """The virtualenv holding crucible, built once (about 15 s) into a temporary folder
    and renamed into place, so a half-built one is never reused."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "podium-tests"
    venv = cache / "crucible-emulator-0.1.0a2"
    if (venv / "bin" / "crucible").exists():
        return venv
    cache.mkdir(parents=True, exist_ok=True)
    building = cache / f".building-{uuid.uuid4().hex}"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, timeout=120)
        subprocess.run(
            [str(building / "bin" / "python"), "-m", "pip", "install", "-q", CRUCIBLE],
            check=True,
            timeout=600,
        )
        # Renamed, the venv's scripts keep the old path in their #! line: the fixture
        # runs crucible through the venv's python, never its `crucible` script.
        try:
            building.rename(venv)
        except OSError:  # another session finished first: use theirs
            shutil.rmtree(building, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return venv


if __name__ == "__main__":
    print(crucible_venv())
