"""The execution conditions triggers test."""

from __future__ import annotations

import pytest

from engine.templating import Renderer
from triggers.conditions import (
    ExecutionFlow,
    ExecutionLabels,
    ExecutionNamespace,
    ExecutionOutputs,
    ExecutionStatus,
    Expression,
    FlowCondition,
    FlowNamespaceCondition,
)

FACTS = {
    "execution": {"id": "e1", "state": "FAILED"},
    "flow": {"namespace": "company.team", "id": "etl"},
    "labels": {"owner": "john.doe", "env": "prod"},
    "outputs": {"status_code": "200", "rows": 3},
    "trigger": {"executionId": "e1", "outputs": {"status_code": "200", "rows": 3}},
}
RENDERER = Renderer()


def test_execution_status() -> None:
    condition = ExecutionStatus.model_validate({"type": "x", "in": ["FAILED", "WARNING"]})
    assert condition.test(FACTS, RENDERER)
    assert not ExecutionStatus.model_validate({"type": "x", "notIn": ["FAILED"]}).test(
        FACTS, RENDERER
    )


def test_execution_flow_and_namespace() -> None:
    assert ExecutionFlow(type="x", namespace="company.team", flowId="etl").test(FACTS, RENDERER)
    assert not ExecutionFlow(type="x", namespace="company.team", flowId="other").test(
        FACTS, RENDERER
    )
    assert ExecutionNamespace(type="x", namespace="company", prefix=True).test(FACTS, RENDERER)
    assert not ExecutionNamespace(type="x", namespace="company").test(FACTS, RENDERER)


def test_expression_uses_kestra_truthiness() -> None:
    assert Expression(type="x", expression="{{ execution.state == 'FAILED' }}").test(
        FACTS, RENDERER
    )
    assert not Expression(type="x", expression="{{ flow.id == 'x' }}").test(FACTS, RENDERER)


def test_execution_namespace_comparisons_as_kestra() -> None:
    def matches(namespace: str, comparison: str) -> bool:
        return ExecutionNamespace(type="x", namespace=namespace, comparison=comparison).test(
            FACTS, RENDERER
        )

    assert matches("company.team", "EQUALS") and not matches("company", "EQUALS")
    assert matches("comp", "PREFIX")  # Kestra's String.startsWith: no dot boundary
    assert matches("team", "SUFFIX") and not matches("company", "SUFFIX")


def test_execution_labels_needs_every_label_with_its_value() -> None:
    def holds(labels: object) -> bool:
        return ExecutionLabels.model_validate({"type": "x", "labels": labels}).test(FACTS, RENDERER)

    assert holds({"owner": "john.doe"})
    assert holds([{"key": "owner", "value": "john.doe"}, {"key": "env", "value": "prod"}])
    assert not holds({"owner": "jane"})
    assert not holds({"owner": "john.doe", "team": "x"})
    assert not ExecutionLabels(type="x", labels={"owner": "john.doe"}).test(
        {**FACTS, "labels": {}}, RENDERER
    )
    with pytest.raises(ValueError, match="at least one label"):
        ExecutionLabels.model_validate({"type": "x", "labels": {}})
    with pytest.raises(ValueError, match="key: ..., value: ..."):
        ExecutionLabels.model_validate({"type": "x", "labels": [{"name": "owner"}]})


def test_execution_outputs_reads_trigger_outputs_and_is_false_without_outputs() -> None:
    condition = ExecutionOutputs(type="x", expression="{{ trigger.outputs.status_code == '200' }}")
    assert condition.test(FACTS, RENDERER)
    assert not ExecutionOutputs(type="x", expression="{{ trigger.outputs.rows > 5 }}").test(
        FACTS, RENDERER
    )
    assert not condition.test({**FACTS, "outputs": {}}, RENDERER)
    # Kestra's reading: only blank and `false` are false
    assert ExecutionOutputs(type="x", expression="{{ trigger.outputs.rows }}").test(FACTS, RENDERER)
    assert not ExecutionOutputs(type="x", expression="{{ '  ' }}").test(FACTS, RENDERER)


def test_deprecated_flow_conditions() -> None:
    assert FlowCondition(type="x", namespace="company.team", flowId="etl").test(FACTS, RENDERER)
    assert not FlowCondition(type="x", namespace="company", flowId="etl").test(FACTS, RENDERER)
    assert FlowNamespaceCondition(type="x", namespace="company.team").test(FACTS, RENDERER)
    assert not FlowNamespaceCondition(type="x", namespace="company").test(FACTS, RENDERER)
    assert FlowNamespaceCondition(type="x", namespace="company", prefix=True).test(FACTS, RENDERER)


def test_every_condition_loads_under_its_older_names() -> None:
    from engine.catalog import default_registries

    conditions = default_registries().conditions
    for short in (
        "ExecutionStatus", "ExecutionFlow", "ExecutionNamespace", "ExecutionLabels",
        "ExecutionOutputs", "DayWeek", "DayWeekInMonth", "Weekend", "DateTimeBetween",
        "TimeBetween", "PublicHoliday", "Not", "Or",
    ):  # fmt: skip
        current = conditions.get(f"io.kestra.plugin.core.condition.{short}")
        assert current is not None, short
        assert conditions.get(f"io.kestra.plugin.core.condition.{short}Condition") is current
        assert conditions.get(f"io.kestra.core.models.conditions.types.{short}Condition") is current
    assert conditions.get("io.kestra.core.models.conditions.types.VariableCondition") is Expression
    assert conditions.get("io.kestra.core.models.conditions.types.FlowCondition") is FlowCondition
