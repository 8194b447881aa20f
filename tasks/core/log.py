"""Log lines into the execution, and read them back (log.Log, log.Fetch)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from engine.plugin import RunContext, Task, plugin

__all__ = ["TASKS", "Fetch", "Log"]

Level = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]


@plugin("io.kestra.plugin.core.log.Log")
class Log(Task):
    """Write one message (or several) to the execution's logs."""

    uses_worker_slot: ClassVar[bool] = False

    message: str | list[str]
    level: Level = "INFO"

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        messages = self.message if isinstance(self.message, list) else [self.message]
        for message in messages:
            ctx.logger.log(self.level, ctx.render_text(message))
        return None


@plugin("io.kestra.plugin.core.log.Fetch")
class Fetch(Task):
    """Copy an execution's log lines into a file in internal storage."""

    executionId: str | None = None
    level: Level = "INFO"
    tasksId: list[str] = []

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        execution_id = ctx.render_text(self.executionId) if self.executionId else None
        lines = await ctx.fetch_logs(
            execution_id=execution_id,
            min_level=self.level,
            task_ids=[ctx.render_text(t) for t in self.tasksId],
        )
        # an Ion file, one log line per line, as Kestra writes it (engine/ion.py: imported
        # here, so that a flow that only logs does not import it)
        from engine.ion import ion_line

        body = b"".join(ion_line(line) for line in lines)
        uri = ctx.storage.put_bytes(f"{ctx.task_run_id}.ion", body)
        return {"size": len(lines), "uri": uri}


TASKS: tuple[type, ...] = (Log, Fetch)
