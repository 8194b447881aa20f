"""io.kestra.plugin.jdbc.postgresql.Batch: insert the rows of a file (see `batch.py`).

The INSERT is prepared once; each value is converted to the type the server expects for
its placeholder (as `Query` does with parameters), and each chunk goes in one
`executemany` round trip, all in one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from engine.errors import TaskFailed
from engine.plugin import RunContext, lazy_import, plugin
from tasks.jdbc.batch import BatchTask, RowChunk
from tasks.jdbc.postgres_connection import PostgresConnection, connect, describe_error
from tasks.jdbc.postgresql import coerce_parameter
from tasks.jdbc.sql import number_question_marks

if TYPE_CHECKING:
    import asyncpg
else:  # imported when a task first uses it: the catalog stays fast
    asyncpg = lazy_import("asyncpg")

__all__ = ["Batch"]


@plugin("io.kestra.plugin.jdbc.postgresql.Batch")
class Batch(BatchTask, PostgresConnection):
    """Insert the rows of a file into PostgreSQL, `chunk` rows per round trip."""

    async def run_batches(self, ctx: RunContext, sql: str, chunks: AsyncIterator[RowChunk]) -> int:
        text, count = number_question_marks(sql, "numbered")
        updated = 0
        async with connect(ctx, self) as connection:
            try:
                async with connection.transaction():
                    prepared = await connection.prepare(text)
                    kinds = [k.name for k in prepared.get_parameters()]
                    async for chunk in chunks:
                        chunk.check_width(count)
                        rows = [
                            [
                                coerce_parameter(value, kind, f"{index + 1}")
                                for index, (value, kind) in enumerate(zip(row, kinds, strict=True))
                            ]
                            for row in chunk.rows
                        ]
                        await prepared.executemany(rows)
                        updated += len(rows)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                raise TaskFailed(describe_error(exc, sql)) from None
        return updated
