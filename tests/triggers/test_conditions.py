"""The execution conditions triggers test."""

from __future__ import annotations

from engine.templating import Renderer
from triggers.conditions import ExecutionFlow, ExecutionNamespace, ExecutionStatus, Expression

FACTS = {
    "execution": {"id": "e1", "state": "FAILED"},
    "flow": {"namespace": "company.team", "id": "etl"},
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
