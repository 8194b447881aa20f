"""What every task runner is given and must do.

A `Launch` is a fully prepared attempt: the argv (interpreter + the one script it runs),
the environment the task adds and the working directory (a container runner knows its
image and options from its own properties). A runner
starts it, hands every output line to `on_line` while it runs, and returns the exit code.
If the awaiting task is cancelled (kill, timeout, shutdown), the runner stops everything
it started before the cancellation goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tasks.scripts.protocol import OnLine

__all__ = ["Launch", "OnLine", "Runner"]


@dataclass(frozen=True, slots=True)
class Launch:
    argv: tuple[str, ...]
    env: Mapping[str, str]  # what the task adds; a Process runner puts it over host_env
    working_dir: Path
    labels: Mapping[str, str] = field(default_factory=dict)
    path_prefix: tuple[str, ...] = ()  # folders put first on PATH (a cached venv's bin)


class Runner(Protocol):
    is_container: bool

    async def run(self, launch: Launch, on_line: OnLine) -> int: ...
