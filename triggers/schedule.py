"""io.kestra.plugin.core.trigger.Schedule (being built)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import field_validator

from engine.plugin import Duration, Trigger, plugin

__all__ = ["MODELS", "RUNNERS", "Schedule"]

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


MODELS: tuple[type, ...] = (Schedule,)
RUNNERS: dict[type, Any] = {}
