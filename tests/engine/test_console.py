"""`podium flow run`'s view, fed events directly: the plain lines' columns, and the live
table's bounds on a flow with more task runs than the terminal has lines."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.console import ProgressView
from engine.events import ExecutionChanged, LogLine, LogsEmitted, TaskRunChanged
from engine.states import State

NOW = datetime.now(UTC)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(number: int, state: State, seq: int, **extra: Any) -> TaskRunChanged:
    return TaskRunChanged(
        execution_id="e",
        namespace="tests",
        flow_id="view",
        task_run_id=f"r{number}",
        task_id=f"t{number:04d}",
        seq=seq,
        at=NOW,
        created_at=NOW,
        state=state,
        **extra,
    )


def log(task_id: str, level: str, message: str) -> LogsEmitted:
    return LogsEmitted(
        execution_id="e",
        namespace="tests",
        flow_id="view",
        event_id=f"{task_id}-{message}",
        seq=0,
        at=NOW,
        lines=(LogLine(at=NOW, level=level, message=message, task_id=task_id),),
    )


def test_plain_lines_keep_the_level_out_of_the_state_column() -> None:
    out = io.StringIO()
    view = ProgressView("e", out)
    assert not view.is_live
    view.show(run(1, State.RUNNING, 1, started_at=NOW))
    view.show(log("t0001", "ERROR", "something went wrong"))
    view.show(run(1, State.SUCCESS, 2, started_at=NOW, ended_at=NOW + timedelta(seconds=2)))
    view.close()
    header, running, logged, ended = out.getvalue().splitlines()
    state_at, level_at = header.index("state"), header.index("level")
    assert running[state_at:].startswith("RUNNING")  # a running task shows
    assert logged[state_at:level_at].strip() == ""  # no state for a log line
    assert logged[level_at:].startswith("ERROR  something went wrong")
    assert ended[state_at:].startswith("SUCCESS") and ended.endswith("2.00 s")


def test_an_older_change_read_late_does_not_go_back() -> None:
    view = ProgressView("e", io.StringIO(), is_quiet=True)
    view.show(run(1, State.SUCCESS, 2))
    view.show(run(1, State.RUNNING, 1))
    assert view.task_runs["r1"].state is State.SUCCESS


def test_the_live_table_fits_the_terminal_and_counts_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("LINES", "40")
    out = _Terminal()
    view = ProgressView("e", out)
    assert view.is_live
    view.show(
        ExecutionChanged(
            execution_id="e",
            namespace="tests",
            flow_id="view",
            seq=1,
            at=NOW,
            revision=1,
            state=State.RUNNING,
            created_at=NOW,
            started_at=NOW,
        )
    )
    for number in range(999):
        view.show(run(number, State.SUCCESS, 2, started_at=NOW, ended_at=NOW))
    started = datetime.now(UTC) - timedelta(seconds=100)  # not NOW: set at import
    view.show(run(999, State.RUNNING, 1, started_at=started))
    view.show(log("t0999", "WARN", "still going"))
    view.close()
    screen = _ANSI.sub("", out.getvalue()).split("execution e ")[-1]  # the last drawing
    tasks, logs = screen.split("latest logs")
    rows = re.findall(r"│ (t\d{4})\s+│", tasks)
    assert 0 < len(rows) < 40 - 8 and len(set(rows)) == len(rows)  # bounded by the terminal
    assert "t0999" in rows  # the running one is always shown, with its elapsed time
    assert re.search(r"t0999\s+│ RUNNING\s+│\s+10\d\.\d\d s │\s+1 │", screen), screen
    assert f"{1000 - len(rows)} more task runs: {1000 - len(rows)} SUCCESS" in screen
    assert re.search(r"t0999\s+│ WARN\s+│ still going", logs)
