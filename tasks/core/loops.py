"""Repeating child tasks: flow.ForEach and flow.WaitFor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from engine.errors import TaskFailed
from engine.plugin import ChildKind, Duration, FlowableTask, Model, RunContext, Task, plugin

__all__ = ["TASKS", "ForEach", "WaitFor"]

_CHILDREN: Mapping[str, ChildKind] = {
    "tasks": ChildKind.LIST,
    "errors": ChildKind.LIST,
    "finally_": ChildKind.LIST,
}


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def resolve_values(ctx: RunContext, values: Any) -> list[str]:
    """ForEach values: a list (items rendered), or a template/JSON string of a list.
    Each becomes a string (`taskrun.value`), duplicates dropped, order kept."""
    if isinstance(values, str):
        rendered = ctx.render_text(values)
        try:
            values = json.loads(rendered)
        except json.JSONDecodeError as exc:
            raise TaskFailed(
                f"ForEach values must be a list or a JSON array, got {rendered[:200]!r}"
            ) from exc
        if not isinstance(values, list):
            raise TaskFailed(f"ForEach values must be a list, got {type(values).__name__}")
    else:
        values = ctx.render(list(values))
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        # Kestra fails the ForEach too: a null has no `taskrun.value` to run under
        raise TaskFailed(f"ForEach values hold null at position(s) {missing}")
    return list(dict.fromkeys(_as_text(v) for v in values))


@plugin("io.kestra.plugin.core.flow.ForEach")
class ForEach(FlowableTask):
    """Run the child tasks once per value; `concurrencyLimit` 0 runs all at once."""

    children: ClassVar[Mapping[str, ChildKind]] = _CHILDREN

    values: list[Any] | str
    tasks: tuple[Task, ...]
    concurrencyLimit: int = Field(default=1, ge=0)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        values = resolve_values(ctx, self.values)
        if self.concurrencyLimit == 1:
            for value in values:
                state = await ctx.run_tasks(self.tasks, value=value)
                if state.is_failure:
                    break
            return {"iterations": len(values)}
        gate = asyncio.Semaphore(self.concurrencyLimit or len(values) or 1)

        async def one(value: str) -> None:
            async with gate:
                await ctx.run_tasks(self.tasks, value=value)

        async with asyncio.TaskGroup() as group:
            for value in values:
                group.create_task(one(value))
        return {"iterations": len(values)}


class CheckFrequency(Model):
    interval: Duration = Field(default_factory=lambda: __import__("datetime").timedelta(seconds=1))
    maxIterations: int = Field(default=100, ge=1)
    maxDuration: Duration | None = None


@plugin("io.kestra.plugin.core.flow.WaitFor")
class WaitFor(FlowableTask):
    """Run the child tasks again and again until `condition` is true."""

    children: ClassVar[Mapping[str, ChildKind]] = _CHILDREN
    uses_worker_slot: ClassVar[bool] = False

    tasks: tuple[Task, ...]
    condition: str
    checkFrequency: CheckFrequency = Field(default_factory=CheckFrequency)
    failOnMaxReached: bool = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        started = ctx.now()
        frequency = self.checkFrequency
        iteration = 0
        while True:
            state = await ctx.run_tasks(self.tasks, iteration=iteration)
            iteration += 1
            if state.is_failure:
                return {"iterationCount": iteration}
            if ctx.is_true(self.condition):
                return {"iterationCount": iteration}
            is_over = iteration >= frequency.maxIterations or (
                frequency.maxDuration is not None and ctx.now() - started >= frequency.maxDuration
            )
            if is_over:
                if self.failOnMaxReached:
                    raise TaskFailed(f"the condition was still false after {iteration} iterations")
                return {"iterationCount": iteration}
            await ctx.sleep(frequency.interval.total_seconds())


TASKS: tuple[type, ...] = (ForEach, WaitFor)
