"""Internal-storage housekeeping: storage.PurgeCurrentExecutionFiles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.plugin import RunContext, Task, plugin

__all__ = ["PurgeCurrentExecutionFiles"]


@plugin("io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles")
class PurgeCurrentExecutionFiles(Task):
    """Delete every file this execution put in internal storage."""

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uris = ctx.storage.purge_execution()
        ctx.logger.info(f"purged {len(uris)} file(s) of execution {ctx.execution_id}")
        return {"uris": uris}
