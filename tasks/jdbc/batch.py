"""Kestra's `jdbc.*.Batch`: insert the rows of a file from internal storage.

Properties (as Kestra's AbstractJdbcBatch): `from` (the file's URI: rows as a query with
`fetchType: STORE` or a `…ToIon` conversion writes them), `sql` (an INSERT with one JDBC
`?` per value), `columns` (which keys of each row, in order; all of them otherwise),
`table` (with no `sql`, the INSERT is made for it from `columns` or the first row's
keys) and `chunk` (rows per round trip, 1000). Outputs: `rowCount` (rows read) and
`updatedCount` (rows the database says it changed).

The file (Ion as Kestra writes it, or Podium's older JSON lines: engine/ion.py) is read
row by row in a worker thread, one chunk ahead at most, so a file of any size goes
through in bounded memory. A row is a map (its values are taken in
`columns` order, or in its own order) or a list. Each database's task implements
`run_batches` (send the chunks, in one transaction).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from engine.errors import PodiumError, TaskFailed
from engine.ion import IonError, read_rows
from engine.plugin import RunContext
from tasks.properties import masks_failures, render_integer, render_strings, render_text

__all__ = ["BatchTask", "RowChunk", "insert_statement"]

DEFAULT_CHUNK = 1000
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")


@dataclass
class RowChunk:
    """Up to `chunk` rows, as lists of values in the INSERT's order."""

    first_row: int  # of the file, for messages
    rows: list[list[Any]] = field(default_factory=list, repr=False)

    def check_width(self, placeholders: int) -> None:
        for offset, row in enumerate(self.rows):
            if len(row) != placeholders:
                raise TaskFailed(
                    f"row {self.first_row + offset} of the file has {len(row)} value(s) and "
                    f"the statement {placeholders} placeholder(s)"
                )


Sender = Callable[[RunContext, str, AsyncIterator[RowChunk]], Awaitable[int]]


class BatchTask(BaseModel):
    """The properties of Kestra's Batch tasks; a mixin beside the database's connection."""

    from_: str = Field(alias="from")
    sql: str | None = None
    table: str | None = None
    columns: list[str] | str | None = None
    chunk: int | str = DEFAULT_CHUNK

    async def run_batches(self, ctx: RunContext, sql: str, chunks: AsyncIterator[RowChunk]) -> int:
        """Send every chunk with `sql`; returns how many rows the database changed."""
        raise NotImplementedError

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        return await self.insert(ctx, self.run_batches)

    async def insert(self, ctx: RunContext, send: Sender) -> dict[str, Any]:
        """Read the file and hand its chunks to `send`; Kestra's outputs."""
        uri = (render_text(ctx, self.from_, "from") or "").strip()
        try:
            path = ctx.storage.local_path(uri)
        except PodiumError as exc:
            raise TaskFailed(f"property 'from': {exc}") from None
        if not path.is_file():
            raise TaskFailed(f"property 'from': no file in internal storage at {uri!r}")
        columns = render_strings(ctx, self.columns, "columns") or None
        size = render_integer(ctx, self.chunk, "chunk", minimum=1) or DEFAULT_CHUNK
        sql = render_text(ctx, self.sql, "sql")
        table = render_text(ctx, self.table, "table")
        if not sql and not table:
            raise TaskFailed("a Batch needs 'sql' (an INSERT with ? placeholders) or 'table'")
        reader = ChunkReader(path, columns, size)
        await reader.open()
        try:
            first = await reader.peek_keys()
            if not sql:
                assert table is not None
                names = columns or first
                if not names:
                    raise TaskFailed(
                        "property 'table' needs 'columns' when the rows are lists, not maps"
                    )
                sql = insert_statement(table, names)
            updated = await send(ctx, sql, reader.chunks())
        finally:
            await reader.close()
        ctx.metric("records", reader.count)
        ctx.logger.info(f"inserted {reader.count} row(s) ({updated} updated)")
        return {"rowCount": reader.count, "updatedCount": updated}


def insert_statement(table: str, columns: list[str]) -> str:
    """`INSERT INTO table (a, b) VALUES (?, ?)`, names checked to be plain identifiers."""
    if not _IDENTIFIER.match(table.strip()):
        raise TaskFailed(f"property 'table' is not a table name: {table!r}")
    for column in columns:
        if not _IDENTIFIER.match(column) or "." in column:
            raise TaskFailed(f"not a column name: {column!r} (write the 'sql' yourself)")
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table.strip()} ({', '.join(columns)}) VALUES ({marks})"


class ChunkReader:
    """The rows of a file (Ion, or Podium's older JSON lines), in chunks, read by a
    worker thread."""

    def __init__(self, path: Path, columns: list[str] | None, size: int) -> None:
        self.path = path
        self.columns = columns
        self.size = size
        self.count = 0
        self._rows: Iterator[Any] | None = None
        self._read = 0
        self._pending: RowChunk | None = None
        self._first_keys: list[str] = []

    def __repr__(self) -> str:
        return f"<ChunkReader {self.path.name} rows={self.count}>"

    async def open(self) -> None:
        self._rows = read_rows(self.path)

    async def close(self) -> None:
        if isinstance(self._rows, Generator):
            await asyncio.to_thread(self._rows.close)

    async def peek_keys(self) -> list[str]:
        """The keys of the first row (a map), read ahead and kept for `chunks`."""
        self._pending = await asyncio.to_thread(self._read_chunk)
        return self._first_keys

    async def chunks(self) -> AsyncIterator[RowChunk]:
        chunk = self._pending
        self._pending = None
        while chunk is not None and chunk.rows:
            self.count += len(chunk.rows)
            yield chunk
            chunk = await asyncio.to_thread(self._read_chunk)

    def _read_chunk(self) -> RowChunk | None:
        assert self._rows is not None
        chunk: RowChunk | None = None
        try:
            for row in self._rows:
                self._read += 1
                if chunk is None:
                    chunk = RowChunk(first_row=self._read)
                if isinstance(row, dict):
                    if self._read == 1:
                        self._first_keys = list(row)
                    keys = self.columns or list(row)
                    chunk.rows.append([row.get(k) for k in keys])
                elif isinstance(row, list):
                    chunk.rows.append(row)
                else:
                    raise TaskFailed(f"row {self._read} of the file is neither a map nor a list")
                if len(chunk.rows) >= self.size:
                    break
        except IonError as exc:
            raise TaskFailed(f"the file of rows cannot be read: {exc}") from None
        return chunk
