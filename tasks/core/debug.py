"""Small building blocks: debug.Return and output.OutputValues."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.plugin import RunContext, Task, plugin

__all__ = ["TASKS", "OutputValues", "Return"]


@plugin("io.kestra.plugin.core.debug.Return")
class Return(Task):
    """Render `format` and return it as the `value` output."""

    uses_worker_slot: ClassVar[bool] = False

    format: str | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        return {"value": ctx.render_text(self.format) if self.format is not None else None}


@plugin("io.kestra.plugin.core.output.OutputValues")
class OutputValues(Task):
    """Render a map of values and expose it as `outputs.<id>.values`."""

    uses_worker_slot: ClassVar[bool] = False

    values: dict[str, Any]

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        return {"values": ctx.render(self.values)}


TASKS: tuple[type, ...] = (Return, OutputValues)
