"""The YAML shape of Kestra's core triggers, validated when a flow loads.

What each trigger does at run time (publish an ExecutionRequested) lives beside this
module, one file per trigger kind.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from engine.plugin import Duration, Model, Trigger, plugin
from engine.states import State

__all__ = ["TRIGGERS", "FlowTrigger", "Schedule", "Webhook"]

_NICKNAMES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_FIELD = re.compile(r"^[\d*?/,\-LW#A-Za-z]+$")


@plugin("io.kestra.plugin.core.trigger.Schedule")
class Schedule(Trigger):
    cron: str
    withSeconds: bool = False
    timezone: str | None = None
    recoverMissedSchedules: Literal["ALL", "LAST", "NONE"] | None = None
    lateMaximumDelay: Duration | None = None
    backfill: dict[str, Any] | None = None

    @field_validator("cron")
    @classmethod
    def _cron_shape(cls, value: str) -> str:
        text = value.strip()
        if text in _NICKNAMES:
            return text
        fields = text.split()
        if len(fields) not in (5, 6) or not all(_FIELD.match(f) for f in fields):
            raise ValueError(f"not a cron expression (5 fields, or 6 with withSeconds): {value!r}")
        return text

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


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


TRIGGERS: tuple[type, ...] = (FlowTrigger, Schedule, Webhook)
