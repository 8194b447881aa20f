"""Tasks that act on the execution itself: Fail, Labels, Resume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import field_validator

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, plugin

__all__ = ["Fail", "Labels", "Resume"]


@plugin("io.kestra.plugin.core.execution.Fail")
class Fail(Task):
    """Fail the execution, or only when `condition` is true."""

    uses_worker_slot: ClassVar[bool] = False

    condition: str | bool | None = None
    errorMessage: str = "Flow failed"

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        if self.condition is not None:
            is_met = (
                self.condition if isinstance(self.condition, bool) else ctx.is_true(self.condition)
            )
            if not is_met:
                return None
        raise TaskFailed(ctx.render_text(self.errorMessage))


@plugin("io.kestra.plugin.core.execution.Labels")
class Labels(Task):
    """Add or change labels of the running execution."""

    uses_worker_slot: ClassVar[bool] = False

    labels: dict[str, Any] | list[dict[str, Any]] | str

    @field_validator("labels")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if isinstance(value, list) and not all(
            isinstance(i, dict) and set(i) == {"key", "value"} for i in value
        ):
            raise ValueError("a label list holds maps with exactly 'key' and 'value'")
        return value

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        raw: Any = self.labels
        if isinstance(raw, str):
            raw = ctx.evaluate(raw)
        if isinstance(raw, list):
            raw = {item["key"]: item["value"] for item in raw}
        if not isinstance(raw, dict):
            raise TaskFailed("labels must render to a map")
        rendered = ctx.render({str(k): v for k, v in raw.items()})
        labels = {str(k): _text(v) for k, v in rendered.items()}
        if any(k.startswith("system.") for k in labels):
            raise TaskFailed("labels starting with 'system.' are reserved")
        ctx.set_labels(labels)
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@plugin("io.kestra.plugin.core.execution.Resume")
class Resume(Task):
    """Resume a paused execution (this one by default)."""

    uses_worker_slot: ClassVar[bool] = False

    executionId: str | None = None
    namespace: str | None = None
    flowId: str | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        execution_id = ctx.render_text(self.executionId) if self.executionId else ctx.execution_id
        namespace = ctx.render_text(self.namespace) if self.namespace else None
        flow_id = ctx.render_text(self.flowId) if self.flowId else None
        await ctx.resume_execution(execution_id, namespace, flow_id)
        return None
