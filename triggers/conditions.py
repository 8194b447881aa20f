"""Conditions a trigger checks before it fires (Kestra's core condition types).

These look at an execution: the upstream one of a Flow trigger, whose facts are
`execution` (id, state), `flow` (its namespace, id), `labels` and `outputs`. Date
conditions (DayWeek, TimeBetween, PublicHoliday …) are in schedule_conditions.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from engine.plugin import Condition, plugin
from engine.states import State

__all__ = [
    "CONDITIONS",
    "ExecutionFlow",
    "ExecutionLabels",
    "ExecutionNamespace",
    "ExecutionOutputs",
    "ExecutionStatus",
    "Expression",
    "FlowCondition",
    "FlowNamespaceCondition",
]


@plugin(
    "io.kestra.plugin.core.condition.ExecutionStatus",
    "io.kestra.plugin.core.condition.ExecutionStatusCondition",
)
class ExecutionStatus(Condition):
    """True when the execution's state is in `in` and not in `notIn`."""

    in_: tuple[State, ...] = Field(default=(), alias="in")
    notIn: tuple[State, ...] = ()

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        state = State(facts["execution"]["state"])
        return (not self.in_ or state in self.in_) and state not in self.notIn


@plugin(
    "io.kestra.plugin.core.condition.ExecutionFlow",
    "io.kestra.plugin.core.condition.ExecutionFlowCondition",
)
class ExecutionFlow(Condition):
    """True when the execution belongs to the flow `namespace`/`flowId`."""

    namespace: str
    flowId: str

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        flow = facts["flow"]
        return bool(flow["namespace"] == self.namespace and flow["id"] == self.flowId)


@plugin(
    "io.kestra.plugin.core.condition.ExecutionNamespace",
    "io.kestra.plugin.core.condition.ExecutionNamespaceCondition",
)
class ExecutionNamespace(Condition):
    """True when the execution's namespace equals (or, with prefix, starts with) `namespace`."""

    namespace: str
    prefix: bool = False
    # Kestra 1.x: EQUALS, PREFIX or SUFFIX; wins over the older `prefix`.
    comparison: Literal["EQUALS", "PREFIX", "SUFFIX"] | None = None

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        namespace = str(facts["flow"]["namespace"])
        comparison = self.comparison or ("PREFIX" if self.prefix else "EQUALS")
        if comparison == "PREFIX":  # a plain string prefix, as Kestra's startsWith
            return namespace.startswith(self.namespace)
        if comparison == "SUFFIX":
            return namespace.endswith(self.namespace)
        return namespace == self.namespace


@plugin(
    "io.kestra.plugin.core.condition.Expression",
    "io.kestra.plugin.core.condition.ExpressionCondition",
    "io.kestra.core.models.conditions.types.VariableCondition",  # its 0.x name
)
class Expression(Condition):
    """True when `expression` renders truthy in the trigger's context."""

    expression: str

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        return bool(renderer.is_true(self.expression, facts))


def _kestra_true(text: Any) -> bool:
    """Kestra's reading of a rendered condition: false when blank or `false`."""
    rendered = str(text)
    return not (rendered.strip() == "" or rendered.strip() == "false")


@plugin(
    "io.kestra.plugin.core.condition.ExecutionLabels",
    "io.kestra.plugin.core.condition.ExecutionLabelsCondition",
)
class ExecutionLabels(Condition):
    """True when the execution carries every label of `labels` (key and value)."""

    labels: dict[str, str] | list[dict[str, str]]

    @field_validator("labels")
    @classmethod
    def _key_value_pairs(
        cls, value: dict[str, str] | list[dict[str, str]]
    ) -> dict[str, str] | list[dict[str, str]]:
        if isinstance(value, list):
            for item in value:
                if set(item) != {"key", "value"}:
                    raise ValueError("each label of the list is {key: ..., value: ...}")
        if not value:
            raise ValueError("labels must name at least one label")
        return value

    def pairs(self) -> list[tuple[str, str]]:
        if isinstance(self.labels, dict):
            return [(str(k), str(v)) for k, v in self.labels.items()]
        return [(str(i["key"]), str(i["value"])) for i in self.labels]

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        found = facts.get("labels") or {}
        return all(key in found and str(found[key]) == value for key, value in self.pairs())


@plugin(
    "io.kestra.plugin.core.condition.ExecutionOutputs",
    "io.kestra.plugin.core.condition.ExecutionOutputsCondition",
)
class ExecutionOutputs(Condition):
    """True when `expression`, rendered with `trigger.outputs` = the execution's outputs,
    is not blank nor `false`; false when the execution has no outputs (Kestra's rule)."""

    is_schedule_condition: ClassVar[bool] = True  # Kestra's is one (it never holds there)

    expression: str = Field(min_length=1)

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        outputs = facts.get("outputs")
        if not outputs:
            return False
        trigger = {**(facts.get("trigger") or {}), "outputs": outputs}
        return _kestra_true(renderer.render(self.expression, {**facts, "trigger": trigger}))


@plugin("io.kestra.plugin.core.condition.FlowCondition")
class FlowCondition(Condition):
    """Deprecated by Kestra for ExecutionFlow: true when `flow` is `namespace`/`flowId`."""

    namespace: str
    flowId: str

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        flow = facts["flow"]
        return bool(flow["namespace"] == self.namespace and flow["id"] == self.flowId)


@plugin("io.kestra.plugin.core.condition.FlowNamespaceCondition")
class FlowNamespaceCondition(Condition):
    """Deprecated by Kestra for ExecutionNamespace: the flow's namespace equals (or, with
    `prefix`, starts with) `namespace`."""

    namespace: str
    prefix: bool = False

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        namespace = str(facts["flow"]["namespace"])
        return namespace.startswith(self.namespace) if self.prefix else namespace == self.namespace


CONDITIONS: tuple[type, ...] = (
    ExecutionFlow,
    ExecutionLabels,
    ExecutionNamespace,
    ExecutionOutputs,
    ExecutionStatus,
    Expression,
    FlowCondition,
    FlowNamespaceCondition,
)
