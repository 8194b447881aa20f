"""The terminal view of a running execution, for `podium flow run`.

It reads the same events the projector reads, so what it shows is what the store
will hold. Two forms, chosen by where stdout goes:

- a terminal: a table of task runs redrawn in place (rich's `Live`), each with its
  state in colour, its elapsed time (ticking while it runs) and its attempts, and the
  latest log lines below it, the level in a column of its own;
- anything else (CI, a pipe, a file): append-only lines, one per task run change and
  per log line, under a header that names the columns.

Cost: `show()` only updates a few dicts (and, plain, formats a line: the lines are
flushed by `refresh()`, not one by one); the live table is drawn by `refresh()`, which
the command calls twice a second, and never holds more rows than the terminal
has lines (a flow of 1,000 tasks shows the running ones and the latest ended ones, and
counts the rest). bench/cli_view.py measures it.
"""

from __future__ import annotations

import sys
from collections import Counter, deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from engine.events import ExecutionChanged, LogLine, LogsEmitted, TaskRunChanged
from engine.states import State

if TYPE_CHECKING:
    # rich is imported by the live view only (a twentieth of a second): not for plain
    # lines, and not for a quiet run
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.text import Text

__all__ = ["REFRESH_SECONDS", "ProgressView"]

REFRESH_SECONDS = 0.5  # how often the live table is redrawn (each costs ~10-30 ms)
LOG_LINES = 8  # the latest log lines under the live table

_STYLES = {
    State.SUCCESS: "green",
    State.WARNING: "yellow",
    State.FAILED: "red",
    State.KILLED: "magenta",
    State.CANCELLED: "magenta",
    State.RUNNING: "cyan",
    State.RETRYING: "yellow",
    State.PAUSED: "blue",
    State.SKIPPED: "bright_black",
    State.QUEUED: "bright_black",
    State.CREATED: "bright_black",
    State.KILLING: "magenta",
}
_LEVEL_STYLES = {"ERROR": "red", "WARN": "yellow", "INFO": "", "DEBUG": "bright_black"}
_ANSI = {
    "green": "32",
    "yellow": "33",
    "red": "31",
    "magenta": "35",
    "cyan": "36",
    "blue": "34",
    "bright_black": "90",
}


def _seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _took(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return _seconds((end - start).total_seconds())


_LOCAL_ZONE = datetime.now().astimezone().tzinfo  # looked up once: per line it costs


def _clock(moment: datetime) -> str:
    t = moment.astimezone(_LOCAL_ZONE)
    return f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond // 1000:03d}"


def _name(run: TaskRunChanged) -> str:
    return run.task_id + (f"[{run.value}]" if run.value is not None else "")


class ProgressView:
    """What one execution does, as it does it (see the module docstring).

    `show(event)` for every event read; `refresh()` twice a second (redraws the
    live table; nothing when the lines are plain); `close()` once it ended; then
    `summary()`."""

    def __init__(
        self,
        execution_id: str,
        out: TextIO = sys.stdout,
        *,
        live: bool | None = None,
        color: bool | None = None,
        is_quiet: bool = False,
    ) -> None:
        self.execution_id = execution_id
        self.out = out
        self.is_quiet = is_quiet  # only the summary
        is_terminal = out.isatty()
        self.is_live = (is_terminal if live is None else live) and not is_quiet
        # a line per change and per log line (not formatted at all for a quiet run)
        self._is_plain = not self.is_live and not is_quiet
        self.color = is_terminal if color is None else color
        self.header: ExecutionChanged | None = None
        self.final: ExecutionChanged | None = None
        self.task_runs: dict[str, TaskRunChanged] = {}  # in the order they appeared
        self.logs: deque[LogLine] = deque(maxlen=LOG_LINES)
        self._width = 24
        self._has_header = False
        self._pending: list[str] = []  # plain lines not yet written (see `refresh`)
        self._console: Console | None = None
        self._live: Live | None = None
        if self.is_live:
            from rich.console import Console
            from rich.live import Live

            self._console = Console(
                file=out, force_terminal=True, no_color=not self.color, highlight=False
            )
            self._live = Live(
                console=self._console,
                get_renderable=self._render,
                auto_refresh=False,  # `refresh()`, from the event loop: no drawing thread
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    def __repr__(self) -> str:
        return f"<ProgressView {self.execution_id} live={self.is_live}>"

    # -- events ---------------------------------------------------------------------

    def show(self, event: Any) -> None:
        if getattr(event, "execution_id", None) != self.execution_id:
            return
        if isinstance(event, ExecutionChanged):
            if self.header is None or event.seq >= self.header.seq:
                self.header = event
            if event.state.is_terminal:
                self.final = event
            if self._is_plain:
                extra = f"  {event.error}" if event.error else ""
                self._row(event.at, "execution", self._state(event.state), "", extra)
        elif isinstance(event, TaskRunChanged):
            known = self.task_runs.get(event.task_run_id)
            if known is not None and event.seq < known.seq:
                return  # an older change read late
            self.task_runs[event.task_run_id] = event
            if self._is_plain:
                detail = _took(event.started_at, event.ended_at) if event.state.is_terminal else ""
                if event.attempt > 1:
                    detail += f"  attempt {event.attempt}"
                self._row(event.at, _name(event), self._state(event.state), "", detail)
        elif isinstance(event, LogsEmitted):
            self.logs.extend(event.lines)
            if self._is_plain:
                for line in event.lines:
                    level = self._paint(f"{line.level:<5}", _LEVEL_STYLES.get(line.level, ""))
                    self._row(line.at, line.task_id or "", " " * 9, level, line.message)

    def refresh(self) -> None:
        """Redraw the live table, or flush the plain lines written since the last call:
        one write per refresh rather than one per line keeps a fast flow fast."""
        if self._live is not None:
            self._live.refresh()
        else:
            self._write()

    def close(self) -> None:
        """The last drawing stays on screen; what is printed next goes below it."""
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
        self._write()

    # -- the live table -------------------------------------------------------------

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        assert self._console is not None
        now = datetime.now(UTC)
        height = self._console.size.height
        room = max(3, height - LOG_LINES - 9)  # borders, titles and the log lines
        runs = list(self.task_runs.values())
        shown = runs
        if len(runs) > room:
            # the running ones first, then the latest to change; in their first order
            active = [r for r in runs if not r.state.is_terminal][:room]
            ended = sorted((r for r in runs if r.state.is_terminal), key=lambda r: r.at)
            keep = {r.task_run_id for r in active}
            keep.update(r.task_run_id for r in ended[len(ended) - (room - len(active)) :])
            shown = [r for r in runs if r.task_run_id in keep]
        table = Table(title=self._title(now), title_justify="left", expand=True)
        table.add_column("task", no_wrap=True, overflow="ellipsis", ratio=3)
        table.add_column("state", no_wrap=True, width=9)
        table.add_column("elapsed", justify="right", no_wrap=True, width=10)
        table.add_column("attempts", justify="right", no_wrap=True, width=8)
        for run in shown:
            end = run.ended_at if run.state.is_terminal else now
            elapsed = "" if run.started_at is None or end is None else _took(run.started_at, end)
            table.add_row(
                _name(run),
                Text(run.state.value, style=_STYLES.get(run.state, "")),
                elapsed,
                str(run.attempt),
            )
        if len(shown) < len(runs):
            visible = {r.task_run_id for r in shown}
            hidden = Counter(r.state.value for r in runs if r.task_run_id not in visible)
            counts = ", ".join(f"{n} {state}" for state, n in sorted(hidden.items()))
            table.caption = f"{len(runs) - len(shown)} more task runs: {counts}"
        logs = Table(title="latest logs", title_justify="left", expand=True, show_header=True)
        logs.add_column("time", no_wrap=True, width=12)
        logs.add_column("task", no_wrap=True, overflow="ellipsis", max_width=self._width)
        logs.add_column("level", no_wrap=True, width=5)
        logs.add_column("message", no_wrap=True, overflow="ellipsis", ratio=4)
        for line in list(self.logs):
            logs.add_row(
                _clock(line.at),
                line.task_id or "",
                Text(line.level, style=_LEVEL_STYLES.get(line.level, "")),
                line.message.replace("\n", " "),
            )
        return Group(table, logs)

    def _title(self, now: datetime) -> Text:
        from rich.text import Text

        header = self.header
        title = Text(f"execution {self.execution_id}")
        if header is None:
            return title
        title.append(f"  {header.namespace}.{header.flow_id}  ")
        title.append(header.state.value, style=_STYLES.get(header.state, ""))
        start = header.started_at or header.created_at
        end = header.ended_at if header.state.is_terminal else now
        title.append(f"  {_took(start, end)}")
        return title

    # -- plain lines ------------------------------------------------------------------

    def _paint(self, text: str, style: str) -> str:
        code = _ANSI.get(style)
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code else text

    def _state(self, state: State) -> str:
        return self._paint(f"{state.value:<9}", _STYLES.get(state, ""))

    def _row(self, at: datetime, name: str, state: str, level: str, text: str) -> None:
        if not self._has_header:
            self._has_header = True
            self._line(f"{'time':<12}  {'task':<{self._width}} {'state':<9} {'level':<5}  message")
        self._line(f"{_clock(at)}  {name:<{self._width}} {state} {level:<5}  {text}".rstrip())

    # -- the end ------------------------------------------------------------------------

    def summary(self) -> None:
        final = self.final
        if final is None:
            return
        took = _took(final.started_at or final.created_at, final.ended_at)
        if not self.is_quiet:
            self._line("")
        self._line(f"{self._state(final.state)} execution {final.execution_id} in {took}")
        if final.error and (self.is_live or self.is_quiet):  # or plain lines showed it
            self._line(f"  {final.error}")
        outputs = {tid: r for tid, r in self.task_runs.items() if r.outputs}
        if outputs:
            self._line("outputs:")
            for run in outputs.values():
                for key, value in run.outputs.items():
                    self._line(f"  {_name(run)}.{key} = {value}")
        if final.outputs:
            self._line("flow outputs:")
            for key, value in final.outputs.items():
                self._line(f"  {key} = {value}")
        self._write()

    def _line(self, text: str) -> None:
        self._pending.append(text)

    def _write(self) -> None:
        if self._pending:
            self.out.write("\n".join(self._pending) + "\n")
            self._pending.clear()
        self.out.flush()
