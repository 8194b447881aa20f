"""How often an execution may be resumed after its executor died without it progressing.

A task that kills the process running it (a script doing `kill -9 $PPID`, a native crash,
an out-of-memory kill) would otherwise take down every executor that resumes it, one
after the other, for ever. Each time an executor resumes an execution it counts, in the
execution's labels, how many times in a row it was resumed with the same number of
finished task runs; past `limit` (`executor.max_recoveries`) it fails the execution instead of walking it again.
Progress (a task run that finished since the last resume) starts the count over, so
executions that merely outlive a few restarts are not affected; only executions that were
RUNNING when their executor died are counted (a paused one is not). The cost: during
such a crash loop, other executions of the same executor that were in the middle of one
long task also make no progress, and fail with the culprit once they reach the limit.

The labels: `system.recoveries` (resumes in a row without progress) and
`system.recoveryProgress` (finished task runs when last resumed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.events import ExecutionChanged, TaskRunChanged
from engine.states import State

__all__ = [
    "PROGRESS_LABEL",
    "RECOVERIES_LABEL",
    "Recovery",
    "count",
    "is_running",
]

RECOVERIES_LABEL = "system.recoveries"
PROGRESS_LABEL = "system.recoveryProgress"


def is_running(header: ExecutionChanged) -> bool:
    """Whether the executor died while this execution was running (paused, queued or
    created executions are not counted: nothing of theirs can have crashed it)."""
    return header.state is State.RUNNING


@dataclass(frozen=True)
class Recovery:
    labels: dict[str, str]  # the execution's labels, counted
    failure: str | None  # why it must fail instead of being resumed; None: resume it


def count(
    labels: Mapping[str, str], task_runs: Iterable[TaskRunChanged], *, limit: int
) -> Recovery:
    finished = sum(1 for run in task_runs if run.state.is_terminal)
    try:
        before = int(labels.get(RECOVERIES_LABEL, "0"))
        progress = int(labels.get(PROGRESS_LABEL, "-1"))
    except ValueError:
        before, progress = 0, -1
    times = before + 1 if progress == finished else 1
    counted = {**labels, RECOVERIES_LABEL: str(times), PROGRESS_LABEL: str(finished)}
    if times <= limit:
        return Recovery(counted, None)
    return Recovery(
        counted,
        f"its executor died {times} times in a row while running it, with no task run "
        f"finishing in between (limit {limit}): a task probably crashes the process that "
        "runs it; failed instead of resumed again",
    )
