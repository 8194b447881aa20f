"""Starting other flows: flow.Subflow and flow.ForEachItem."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, model_validator

from engine.errors import TaskFailed
from engine.plugin import Model, RunContext, Task, plugin
from engine.states import State

__all__ = ["ForEachItem", "Subflow"]


def _text_labels(labels: Mapping[str, Any]) -> dict[str, str]:
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

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        labels = _text_labels(ctx.render(self.labels))
        execution_id, state, outputs = await ctx.start_subflow(
            ctx.render_text(self.namespace),
            ctx.render_text(self.flowId),
            inputs=ctx.render(self.inputs),
            labels=labels,
            wait=self.wait,
            revision=self.revision,
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


class Batch(Model):
    rows: int | None = Field(default=None, ge=1)
    partitions: int | None = Field(default=None, ge=1)
    separator: str = "\n"

    @model_validator(mode="after")
    def _one_way(self) -> Batch:
        if self.rows is not None and self.partitions is not None:
            raise ValueError("set 'rows' or 'partitions', not both")
        return self


@plugin("io.kestra.plugin.core.flow.ForEachItem")
class ForEachItem(Task):
    """Split a file from internal storage into batches and start a subflow per batch.

    Each batch is written to storage; the subflow's inputs can name it as
    `{{ taskrun.items }}`.
    """

    uses_worker_slot: ClassVar[bool] = False

    items: str
    namespace: str
    flowId: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, Any] = Field(default_factory=dict)
    batch: Batch = Field(default_factory=lambda: Batch(rows=1))
    wait: bool = True
    transmitFailed: bool = True
    revision: int | None = None
    concurrencyLimit: int = Field(default=0, ge=0)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        data = ctx.storage.read_bytes(ctx.render_text(self.items)).decode("utf-8")
        separator = self.batch.separator
        rows = [row for row in data.split(separator) if row != ""]
        if self.batch.partitions:
            size = max(1, -(-len(rows) // self.batch.partitions))
        else:
            size = self.batch.rows or 1
        batches = [rows[i : i + size] for i in range(0, len(rows), size)]
        namespace, flow_id = ctx.render_text(self.namespace), ctx.render_text(self.flowId)
        labels = _text_labels(ctx.render(self.labels))
        gate = asyncio.Semaphore(self.concurrencyLimit or len(batches) or 1)
        states: list[State | None] = []

        async def one(index: int, batch: list[str]) -> None:
            uri = ctx.storage.put_bytes(
                f"batch-{index}.txt", (separator.join(batch) + separator).encode()
            )
            inputs = _render_with_items(ctx, self.inputs, uri)
            async with gate:
                _, state, _ = await ctx.start_subflow(
                    namespace,
                    flow_id,
                    inputs=inputs,
                    labels=labels,
                    wait=self.wait,
                    revision=self.revision,
                    key=str(index),
                )
            states.append(state)

        async with asyncio.TaskGroup() as group:
            for index, batch in enumerate(batches):
                group.create_task(one(index, batch))
        failed = sum(1 for s in states if s is not None and s.is_failure)
        if failed and self.transmitFailed:
            raise TaskFailed(f"{failed} of {len(batches)} subflow executions failed")
        return {
            "numberOfBatches": len(batches),
            "iterations": {"SUCCESS": len(batches) - failed, "FAILED": failed},
        }


def _render_with_items(ctx: RunContext, inputs: Mapping[str, Any], uri: str) -> dict[str, Any]:
    # `taskrun.items` exists only while a ForEachItem renders its subflow inputs.
    return dict(ctx.render(dict(inputs), extra={"taskrun": {"items": uri}}))
