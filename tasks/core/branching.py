"""Choosing a branch: flow.If and flow.Switch."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import Field

from engine.plugin import ChildKind, FlowableTask, RunContext, Task, plugin

__all__ = ["TASKS", "If", "Switch"]


@plugin("io.kestra.plugin.core.flow.If")
class If(FlowableTask):
    """Run `then` when `condition` is true (Kestra truthiness), else `else`."""

    children: ClassVar[Mapping[str, ChildKind]] = {
        "then": ChildKind.LIST,
        "else_": ChildKind.LIST,
        "errors": ChildKind.LIST,
        "finally_": ChildKind.LIST,
    }

    condition: str | bool
    then: tuple[Task, ...]
    else_: tuple[Task, ...] = Field(default=(), alias="else")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        is_met = self.condition if isinstance(self.condition, bool) else ctx.is_true(self.condition)
        branch = self.then if is_met else self.else_
        if branch:
            await ctx.run_tasks(branch)
        return None


@plugin("io.kestra.plugin.core.flow.Switch")
class Switch(FlowableTask):
    """Run the task list of the case that `value` renders to, else `defaults`."""

    children: ClassVar[Mapping[str, ChildKind]] = {
        "cases": ChildKind.MAP_OF_LISTS,
        "defaults": ChildKind.LIST,
        "errors": ChildKind.LIST,
        "finally_": ChildKind.LIST,
    }

    value: str
    cases: dict[str, tuple[Task, ...]] = Field(default_factory=dict)
    defaults: tuple[Task, ...] = ()

    def static_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        if not self.cases and not self.defaults:
            yield (), "a Switch needs 'cases' or 'defaults'"

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        value = ctx.render_text(self.value)
        branch = self.cases.get(value, self.defaults)
        if branch:
            await ctx.run_tasks(branch)
        return {"value": value, "defaults": value not in self.cases}


TASKS: tuple[type, ...] = (If, Switch)
