"""Conditions a trigger checks before it fires (Kestra's core condition types)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from engine.plugin import Condition, plugin
from engine.states import State

__all__ = ["CONDITIONS", "ExecutionFlow", "ExecutionNamespace", "ExecutionStatus", "Expression"]


@plugin("io.kestra.plugin.core.condition.ExecutionStatus")
class ExecutionStatus(Condition):
    """True when the execution's state is in `in` and not in `notIn`."""

    in_: tuple[State, ...] = Field(default=(), alias="in")
    notIn: tuple[State, ...] = ()

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        state = State(facts["execution"]["state"])
        return (not self.in_ or state in self.in_) and state not in self.notIn


@plugin("io.kestra.plugin.core.condition.ExecutionFlow")
class ExecutionFlow(Condition):
    """True when the execution belongs to the flow `namespace`/`flowId`."""

    namespace: str
    flowId: str

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        flow = facts["flow"]
        return bool(flow["namespace"] == self.namespace and flow["id"] == self.flowId)


@plugin("io.kestra.plugin.core.condition.ExecutionNamespace")
class ExecutionNamespace(Condition):
    """True when the execution's namespace equals (or, with prefix, starts with) `namespace`."""

    namespace: str
    prefix: bool = False
    # Kestra 1.x: EQUALS, PREFIX or SUFFIX; wins over the older `prefix`.
    comparison: Literal["EQUALS", "PREFIX", "SUFFIX"] | None = None

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        namespace = str(facts["flow"]["namespace"])
        comparison = self.comparison or ("PREFIX" if self.prefix else "EQUALS")
        if comparison == "PREFIX":
            return namespace == self.namespace or namespace.startswith(self.namespace + ".")
        if comparison == "SUFFIX":
            return namespace.endswith(self.namespace)
        return namespace == self.namespace


@plugin(
    "io.kestra.plugin.core.condition.Expression",
    "io.kestra.plugin.core.condition.ExpressionCondition",
)
class Expression(Condition):
    """True when `expression` renders truthy in the trigger's context."""

    expression: str

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        return bool(renderer.is_true(self.expression, facts))


CONDITIONS: tuple[type, ...] = (ExecutionFlow, ExecutionNamespace, ExecutionStatus, Expression)
