"""Kestra 1.x flow `checks`: conditions evaluated before an execution is created.

Each check is a template that must render to true against the flow and the execution's
validated inputs; when it does not (or cannot be rendered), its `behavior` decides:
BLOCK_EXECUTION refuses the request (the API answers 422, Kestra's IllegalArgument),
FAIL_EXECUTION creates the execution already FAILED with the checks' messages,
CREATE_EXECUTION lets it run. Of several failed checks the strictest behaviour wins, in
that order. `style` only colours the message in a UI.

The intake evaluates them (engine/intake.py) for executions asked for through the API,
where a caller waits for the answer; a FAIL_EXECUTION travels to the executor as the
request's `failed_checks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from engine.errors import PodiumError
from engine.plugin import Model

__all__ = ["BLOCKED", "Check", "ChecksBlocked", "failed_checks", "resolve_behavior"]

Behavior = Literal["BLOCK_EXECUTION", "FAIL_EXECUTION", "CREATE_EXECUTION"]
_PRIORITY: tuple[Behavior, ...] = ("BLOCK_EXECUTION", "FAIL_EXECUTION", "CREATE_EXECUTION")

BLOCKED = "Flow execution blocked: one or more condition checks evaluated to false."
FAILED = "Flow execution failed because one or more condition checks evaluated to false."


class Check(Model):
    condition: str = Field(min_length=1)
    message: str = Field(min_length=1)
    style: Literal["ERROR", "SUCCESS", "WARNING", "INFO"] = "INFO"
    behavior: Behavior = "BLOCK_EXECUTION"


class ChecksBlocked(PodiumError):
    """A BLOCK_EXECUTION check failed: the execution is not created."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        super().__init__(f"{BLOCKED}\nFailed checks: {', '.join(self.messages)}")


def failed_checks(
    checks: Sequence[Check], context: Mapping[str, Any], renderer: Any
) -> list[Check]:
    """The checks whose condition is not exactly true in `context` (one that cannot be
    rendered counts as false, as in Kestra)."""
    failed = []
    for check in checks:
        try:
            value = renderer.render(check.condition, context)
        except PodiumError:
            value = None
        if value is None or value.strip() != "true":  # Kestra: exactly a boolean true
            failed.append(check)
    return failed


def resolve_behavior(failed: Sequence[Check]) -> Behavior:
    """The strictest behaviour of the failed checks; CREATE_EXECUTION when none failed."""
    behaviors = {c.behavior for c in failed}
    return next((b for b in _PRIORITY if b in behaviors), "CREATE_EXECUTION")
