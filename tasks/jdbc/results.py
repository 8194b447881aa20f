"""What a query's rows become: Kestra's `fetchType` outputs.

    NONE       nothing is kept (the default)
    FETCH_ONE  `row`: the first row as a map, `size`: 1 (0 when there was none)
    FETCH      `rows`: every row, `size`: how many; bounded by MAX_FETCH_ROWS
    STORE      `uri`: an Ion file in internal storage (one row per line, as Kestra
               writes it: see engine/ion.py), `size`

Rows are maps of column label → value. In outputs values become JSON (timestamps
ISO-8601, numerics as numbers, intervals as ISO durations, bytes as base64); in stored
files they keep their Ion types (decimals, timestamps, blobs). `RowFile` writes a stored
result in 1 MiB slices so the caller can put the writing off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import TaskFailed
from engine.ion import IonWriter
from engine.plugin import RunContext
from tasks.properties import render_choice, render_flag, render_integer

__all__ = [
    "FETCH_TYPES",
    "MAX_FETCH_ROWS",
    "Fetching",
    "Result",
    "RowFile",
    "fetching_of",
]

FETCH_TYPES = ("NONE", "FETCH_ONE", "FETCH", "STORE")
MAX_FETCH_ROWS = 100_000
"""FETCH keeps rows in the task's outputs, which travel as one event and are stored with
the task run: past this many rows the task fails and says to use STORE."""
DEFAULT_FETCH_SIZE = 10_000
_SLICE = 1024 * 1024


@dataclass(frozen=True)
class Fetching:
    """The rendered fetch settings of a query task."""

    kind: str = "NONE"
    batch: int = DEFAULT_FETCH_SIZE  # rows per round trip (Kestra's fetchSize)

    @property
    def keeps_rows(self) -> bool:
        return self.kind != "NONE"


def fetching_of(ctx: RunContext, task: Any) -> Fetching:
    """Kestra's precedence: the deprecated `fetch`, `fetchOne`, `store` flags win over
    `fetchType` when set."""
    if render_flag(ctx, getattr(task, "fetch", False), "fetch"):
        kind = "FETCH"
    elif render_flag(ctx, getattr(task, "fetchOne", False), "fetchOne"):
        kind = "FETCH_ONE"
    elif render_flag(ctx, getattr(task, "store", False), "store"):
        kind = "STORE"
    else:
        kind = render_choice(ctx, task.fetchType, "fetchType", FETCH_TYPES) or "NONE"
    batch = render_integer(ctx, task.fetchSize, "fetchSize", minimum=1) or DEFAULT_FETCH_SIZE
    return Fetching(kind, batch)


@dataclass
class Result:
    """One statement's rows, shaped as Kestra's output for the fetch type."""

    kind: str
    size: int = 0
    row: Mapping[str, Any] | None = field(default=None, repr=False)
    rows: list[Mapping[str, Any]] | None = field(default=None, repr=False)
    uri: str | None = None

    def as_output(self) -> dict[str, Any]:
        if self.kind == "FETCH_ONE":
            return {"row": self.row, "size": self.size}
        if self.kind == "FETCH":
            return {"rows": self.rows or [], "size": self.size}
        if self.kind == "STORE":
            return {"uri": self.uri, "size": self.size}
        return {}

    def add_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Collect FETCH rows, refusing to hold more than MAX_FETCH_ROWS."""
        if self.rows is None:
            self.rows = []
        if len(self.rows) + len(rows) > MAX_FETCH_ROWS:
            raise TaskFailed(
                f"fetchType FETCH keeps at most {MAX_FETCH_ROWS} rows in outputs and the "
                "query returned more; use fetchType STORE to write them to a file"
            )
        self.rows.extend(rows)
        self.size += len(rows)


class RowFile(IonWriter):
    """A stored result being written to `path`. `add` returns a slice to write once
    1 MiB is pending; `write` writes in the calling thread (the DuckDB worker uses that)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def __repr__(self) -> str:
        return f"<RowFile {self.path.name} rows={self.size}>"

    def write_to(self, handle: BinaryIO, rows: Iterable[Mapping[str, Any]]) -> None:
        chunk = self.add(rows)
        if chunk:
            handle.write(chunk)
