"""The terminal view of a running execution, for `podium flow run`.

It reads the same events the projector reads, so what it shows is what the store
will hold: task states with durations and attempts, and the log lines as they come.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, TextIO

from engine.events import ExecutionChanged, LogsEmitted, TaskRunChanged
from engine.states import State

__all__ = ["ProgressView"]

_COLORS = {
    State.SUCCESS: "32",
    State.WARNING: "33",
    State.FAILED: "31",
    State.KILLED: "35",
    State.CANCELLED: "35",
    State.RUNNING: "36",
    State.RETRYING: "33",
    State.PAUSED: "34",
    State.SKIPPED: "90",
    State.QUEUED: "90",
    State.CREATED: "90",
    State.KILLING: "35",
}
_LEVEL_COLORS = {"ERROR": "31", "WARN": "33", "INFO": "0", "DEBUG": "90", "TRACE": "90"}


def _ms(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    seconds = (end - start).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


class ProgressView:
    def __init__(
        self, execution_id: str, out: TextIO = sys.stdout, *, color: bool | None = None
    ) -> None:
        self.execution_id = execution_id
        self.out = out
        self.color = out.isatty() if color is None else color
        self.final: ExecutionChanged | None = None
        self.task_runs: dict[str, TaskRunChanged] = {}
        self._width = 24

    def __repr__(self) -> str:
        return f"<ProgressView {self.execution_id}>"

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code != "0" else text

    def _state(self, state: State) -> str:
        return self._paint(f"{state.value:<9}", _COLORS.get(state, "0"))

    def show(self, event: Any) -> None:
        if getattr(event, "execution_id", None) != self.execution_id:
            return
        if isinstance(event, ExecutionChanged):
            if event.state.is_terminal:
                self.final = event
            clock = event.at.strftime("%H:%M:%S.%f")[:-3]
            extra = f"  {event.error}" if event.error else ""
            self._line(f"{clock}  {'execution':<{self._width}} {self._state(event.state)}{extra}")
        elif isinstance(event, TaskRunChanged):
            self.task_runs[event.task_run_id] = event
            clock = event.at.strftime("%H:%M:%S.%f")[:-3]
            name = event.task_id + (f"[{event.value}]" if event.value is not None else "")
            detail = ""
            if event.state.is_terminal:
                detail = _ms(event.started_at, event.ended_at)
            if event.attempt > 1:
                detail += f"  attempt {event.attempt}"
            if event.state is State.RUNNING and event.attempt == 1:
                return  # the end line says enough; RUNNING again after a retry is worth a line
            self._line(
                f"{clock}  {name:<{self._width}} {self._state(event.state)} {detail}".rstrip()
            )
        elif isinstance(event, LogsEmitted):
            for line in event.lines:
                clock = line.at.strftime("%H:%M:%S.%f")[:-3]
                level = self._paint(f"{line.level:<5}", _LEVEL_COLORS.get(line.level, "0"))
                self._line(
                    f"{clock}  {(line.task_id or ''):<{self._width}} {level}     {line.message}"
                )

    def summary(self) -> None:
        final = self.final
        if final is None:
            return
        took = _ms(final.started_at or final.created_at, final.ended_at)
        self._line("")
        self._line(f"{self._state(final.state)} execution {final.execution_id} in {took}")
        outputs = {tid: r for tid, r in self.task_runs.items() if r.outputs}
        if outputs:
            self._line("outputs:")
            for run in outputs.values():
                label = run.task_id + (f"[{run.value}]" if run.value is not None else "")
                for key, value in run.outputs.items():
                    self._line(f"  {label}.{key} = {value}")
        if final.outputs:
            self._line("flow outputs:")
            for key, value in final.outputs.items():
                self._line(f"  {key} = {value}")

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
