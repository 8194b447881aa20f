"""execution.Count: how many executions flows or namespaces had, kept by an expression
(Kestra's "alert when a flow did not run" pattern)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from engine.errors import TaskFailed
from engine.plugin import Model, RunContext, Task, plugin
from tasks.core.purge import render_date, render_states
from tasks.properties import render_strings, render_text

__all__ = ["TASKS", "Count"]


class FlowRef(Model):
    namespace: str
    flowId: str


@plugin(
    "io.kestra.plugin.core.execution.Count",
    "io.kestra.plugin.core.execution.Counts",  # io.kestra.core.tasks.executions.Counts
)
class Count(Task):
    """Count the executions created in [`startDate`, `endDate`] (now if unset) of each
    flow of `flows` and each namespace of `namespaces` (exact names), in `states` (any if
    unset), and keep those for which `expression` renders `true` with `count` set:
    output `results` (namespace, flowId — null for a namespace —, count) and `total`."""

    flows: list[FlowRef] | None = None
    namespaces: list[str] | str | None = None
    states: list[str] | str | None = None
    startDate: str
    endDate: str | None = None
    expression: str = Field(min_length=1)

    @model_validator(mode="after")
    def _something_to_count(self) -> Count:
        if self.flows is None and self.namespaces is None:
            raise ValueError("Count needs 'flows' or 'namespaces'")
        return self

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        flows = [
            (str(render_text(ctx, f.namespace, "flows")), str(render_text(ctx, f.flowId, "flows")))
            for f in self.flows or ()
        ]
        namespaces = render_strings(ctx, self.namespaces, "namespaces")
        start = render_date(ctx, self.startDate, "startDate")
        if start is None:
            raise TaskFailed("property 'startDate' is required")
        counts = await ctx.history.count_executions(
            flows=flows,
            namespaces=namespaces,
            states=render_states(ctx, self.states, "states"),
            start=start,
            end=render_date(ctx, self.endDate, "endDate"),
        )
        ctx.logger.trace(f"{len(counts)} flows matching filters")
        results = []
        for item in counts:
            kept = ctx.render(self.expression, extra={"count": item.count})
            if str(kept).strip().lower() == "true":
                results.append(
                    {"namespace": item.namespace, "flowId": item.flow_id, "count": item.count}
                )
        ctx.logger.debug(f"{len(results)} flows matching the expression")
        return {"results": results, "total": sum(r["count"] for r in results)}


TASKS: tuple[type, ...] = (Count,)
