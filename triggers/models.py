"""The YAML shape of the Webhook and Flow triggers, validated when a flow loads.

Schedule and file triggers keep their model beside their runner (schedule.py, files.py).
"""

from __future__ import annotations

from pydantic import Field

from engine.plugin import Trigger, plugin
from engine.states import State
from triggers.multiple import Preconditions

__all__ = ["TRIGGERS", "FlowTrigger", "Webhook"]


@plugin("io.kestra.plugin.core.trigger.Webhook")
class Webhook(Trigger):
    key: str = Field(min_length=1, max_length=256)
    wait: bool = False
    returnOutputs: bool = False


@plugin("io.kestra.plugin.core.trigger.Flow")
class FlowTrigger(Trigger):
    """Start this flow when other executions end (filtered by conditions/preconditions)."""

    preconditions: Preconditions | None = None
    states: tuple[State, ...] = ()


TRIGGERS: tuple[type, ...] = (FlowTrigger, Webhook)
