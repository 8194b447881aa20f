"""STORE for the drivers that hand rows over in async batches (MySQL, SQLite): the rows go
to an Ion file of rows in the working directory, slice by slice off the event loop, then to
the execution's internal storage. Only one batch is in memory at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from engine.plugin import RunContext
from tasks.jdbc.results import RowFile

__all__ = ["StoredRows"]


class StoredRows:
    """Writes the STORE results of one task run: `rows_1.ion`, `rows_2.ion` …"""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.count = 0

    def __repr__(self) -> str:
        return f"<StoredRows {self.count} file(s)>"

    async def write(self, batches: AsyncIterator[Sequence[Mapping[str, Any]]]) -> tuple[str, int]:
        """Returns the file's URI and how many rows it holds."""
        self.count += 1
        name = f"rows_{self.count}.ion"
        # Named by run: tasks in one WorkingDirectory share the folder.
        path = self.ctx.working_dir() / f"{self.ctx.task_run_id}_{name}"
        rows = RowFile(path)
        handle = await asyncio.to_thread(path.open, "wb")
        try:
            async for batch in batches:
                chunk = rows.add(batch)
                if chunk:
                    await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.write, rows.take())
        finally:
            await asyncio.to_thread(handle.close)
        uri = await asyncio.to_thread(self.ctx.storage.put_file, name, path)
        await asyncio.to_thread(path.unlink)
        return uri, rows.size
