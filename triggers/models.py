"""The YAML shape of the Webhook and Flow triggers, validated when a flow loads.

Schedule and file triggers keep their model beside their runner (schedule.py, files.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from engine.plugin import Model, Trigger, plugin
from engine.states import State

__all__ = ["TRIGGERS", "FlowTrigger", "Webhook"]


@plugin("io.kestra.plugin.core.trigger.Webhook")
class Webhook(Trigger):
    key: str = Field(min_length=1, max_length=256)
    wait: bool = False
    returnOutputs: bool = False


class Preconditions(Model):
    id: str | None = None
    flows: list[dict[str, Any]] = Field(default_factory=list)
    where: list[dict[str, Any]] = Field(default_factory=list)
    timeWindow: dict[str, Any] | None = None
    resetOnSuccess: bool = True


@plugin("io.kestra.plugin.core.trigger.Flow")
class FlowTrigger(Trigger):
    """Start this flow when other executions end (filtered by conditions/preconditions)."""

    preconditions: Preconditions | None = None
    states: tuple[State, ...] = ()


TRIGGERS: tuple[type, ...] = (FlowTrigger, Webhook)
