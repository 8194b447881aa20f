"""io.kestra.plugin.core.trigger.Toggle: enable or disable a trigger from a flow.

The switch is the one the API and the UI use (PUT /api/v1/triggers/...): one document
of the scheduler's trigger state, read by every scheduler at its next reconcile, so it
works the same on the embedded runtime and on Kafka + PostgreSQL, from the executor's
process. A trigger enabled again starts from now (a schedule does not run the slots it
missed). A trigger disabled in its flow's YAML stays disabled: the task says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.errors import PodiumError, TaskFailed
from engine.plugin import RunContext, Task, plugin
from tasks.properties import render_flag, render_text

__all__ = ["TASKS", "Toggle"]


@plugin("io.kestra.plugin.core.trigger.Toggle", "io.kestra.core.tasks.trigger.Toggle")
class Toggle(Task):
    """Enable (`enabled: true`) or disable (the default, as Kestra) the trigger `trigger`
    of the flow `namespace`/`flowId` (this flow when left out)."""

    uses_worker_slot: ClassVar[bool] = False

    trigger: str
    namespace: str | None = None
    flowId: str | None = None
    enabled: bool | str = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace = render_text(ctx, self.namespace, "namespace") or ctx.namespace
        flow_id = render_text(ctx, self.flowId, "flowId") or ctx.flow_id
        trigger = render_text(ctx, self.trigger, "trigger") or ""
        enabled = bool(render_flag(ctx, self.enabled, "enabled"))
        if not trigger.strip():
            raise TaskFailed("property 'trigger' rendered to nothing: name the trigger's id")
        try:
            runs = await ctx.triggers.set_enabled(namespace, flow_id, trigger, enabled=enabled)
        except PodiumError as exc:
            raise TaskFailed(str(exc)) from None
        where = f"trigger {trigger} of {namespace}.{flow_id}"
        if enabled and not runs:
            ctx.logger.warning(
                f"{where} is enabled, but its flow's YAML disables it (`disabled: true` on "
                "the trigger or the flow): it stays off until the flow is changed"
            )
        else:
            ctx.logger.info(f"{where} {'enabled' if enabled else 'disabled'}")
        return None


TASKS: tuple[type, ...] = (Toggle,)
