"""io.kestra.plugin.jdbc.duckdb.Batch: insert the rows of a file into DuckDB (`batch.py`).

Kestra has no DuckDB Batch; this one takes the properties of the other databases' Batch
and the database of DuckDB's Query: `url` (`jdbc:duckdb:/abs/file.db`), or `databaseUri`
(a database file from internal storage) with `outputDbFile: true` to store the result
(`outputs.<task>.databaseUri`). DuckDB takes JDBC's `?` as they are. The inserts run in a
worker thread, one chunk at a time, in one transaction.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, lazy_import, plugin
from tasks.jdbc.batch import BatchTask, RowChunk
from tasks.jdbc.duckdb_queries import DEFAULT_URL, database_of
from tasks.jdbc.sql import number_question_marks, shorten
from tasks.properties import masks_failures, render_flag

if TYPE_CHECKING:
    import duckdb
else:  # imported when a task first uses it: the catalog stays fast
    duckdb = lazy_import("duckdb")

__all__ = ["Batch"]


@plugin("io.kestra.plugin.jdbc.duckdb.Batch")
class Batch(BatchTask, Task):
    """Insert the rows of a file into a DuckDB database, `chunk` rows at a time."""

    url: str = DEFAULT_URL
    username: str | None = None  # DuckDB has no users; accepted for pluginDefaults
    password: str | None = None
    databaseUri: str | None = None
    outputDbFile: bool | str = False

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        keep = bool(render_flag(ctx, self.outputDbFile, "outputDbFile"))
        folder = ctx.working_dir()
        database, settings = await database_of(ctx, self.url, self.databaseUri, folder, keep)
        if database == ":memory:":
            raise TaskFailed(
                "a Batch into an in-memory DuckDB would be lost: give a file in 'url', "
                "or 'databaseUri' / 'outputDbFile: true'"
            )
        outputs = await self.insert(ctx, functools.partial(_send, database, settings))
        if keep:
            path = Path(database)
            outputs["databaseUri"] = await asyncio.to_thread(ctx.storage.put_file, path.name, path)
        return outputs


async def _send(
    database: str,
    settings: Mapping[str, Any],
    ctx: RunContext,
    sql: str,
    chunks: AsyncIterator[RowChunk],
) -> int:
    connection = await asyncio.to_thread(duckdb.connect, database, config=dict(settings))
    count = number_question_marks(sql, "numbered")[1]
    updated = 0
    try:
        await asyncio.to_thread(connection.execute, "BEGIN TRANSACTION")
        async for chunk in chunks:
            chunk.check_width(count)
            await asyncio.to_thread(connection.executemany, sql, chunk.rows)
            updated += len(chunk.rows)
        await asyncio.to_thread(connection.execute, "COMMIT")
    except duckdb.Error as exc:
        raise TaskFailed(f"{exc}\n  in statement: {shorten(sql)}") from None
    finally:
        await asyncio.to_thread(connection.close)
    return updated
