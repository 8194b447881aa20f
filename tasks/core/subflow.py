"""Starting another flow: flow.Subflow (and what flow.ForEachItem shares with it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, plugin
from engine.states import State

__all__ = ["TASKS", "Subflow", "render_with_items", "text_labels"]


def text_labels(labels: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(k): ("true" if v is True else "false" if v is False else str(v))
        for k, v in labels.items()
    }


@plugin("io.kestra.plugin.core.flow.Subflow", "io.kestra.plugin.core.flow.Flow")
class Subflow(Task):
    """Start an execution of another flow; with `wait`, end as it ends."""

    uses_worker_slot: ClassVar[bool] = False

    namespace: str
    flowId: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, Any] = Field(default_factory=dict)
    wait: bool = True
    transmitFailed: bool = True
    inheritLabels: bool = False
    revision: int | None = None
    # deprecated in Kestra: name -> template rendered against the subflow's execution
    outputs: dict[str, Any] | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        labels = text_labels(ctx.render(self.labels))
        execution_id, state, outputs = await ctx.start_subflow(
            ctx.render_text(self.namespace),
            ctx.render_text(self.flowId),
            inputs=ctx.render(self.inputs),
            labels=labels,
            wait=self.wait,
            revision=self.revision,
            output_templates=self.outputs,
        )
        result = {
            "executionId": execution_id,
            "state": state.value if state else None,
            "outputs": dict(outputs),
        }
        if state is not None and state.is_failure and self.transmitFailed:
            raise TaskFailed(f"subflow execution {execution_id} ended {state.value}")
        if state is State.WARNING:
            ctx.warn()
        return result


def render_with_items(ctx: RunContext, inputs: Mapping[str, Any], uri: str) -> dict[str, Any]:
    # `taskrun.items` exists only while a ForEachItem renders its subflow inputs.
    return dict(ctx.render(dict(inputs), extra={"taskrun": {"items": uri}}))


TASKS: tuple[type, ...] = (Subflow,)
