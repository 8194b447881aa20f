"""Triggers decide that a flow must run and publish one ExecutionRequested; they run nothing.

models          the YAML shape of the Webhook and Flow triggers
schedule        cron schedules (model, runner, backfill)
schedule_on_dates  a flow run at each date of a list
files           local-folder file triggers (model, runner)
conditions      the conditions triggers test (ExecutionStatus, ExpressionCondition …)
base            TriggerContext (fire → Intake) and the TriggerRunner protocol
service         TriggerService: one runner per live trigger, restarted on flow edits
flow_trigger    "run this flow when another ends", from the events topic
multiple        MultipleCondition and `preconditions`: several upstream executions in a
                time window (their windows: engine/trigger_windows.py)
polling         the runner of every PolledTrigger (cloud buckets, …): poll, claim, fire, act

`FAMILIES` is this package's part of the catalog's index (engine/catalog.py): each
module exports `TRIGGERS` or `CONDITIONS`, imported when a flow first names one of its
types. This package imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from engine.plugin import PluginFamily, PolledTrigger

__all__ = ["FAMILIES", "TriggerRunners"]

_TRIGGER = "io.kestra.plugin.core.trigger."
_CONDITION = "io.kestra.plugin.core.condition."
FAMILIES: tuple[PluginFamily, ...] = (
    PluginFamily("triggers.models", (f"{_TRIGGER}Flow", f"{_TRIGGER}Webhook")),
    PluginFamily("triggers.schedule", (f"{_TRIGGER}Schedule",)),
    PluginFamily("triggers.schedule_on_dates", (f"{_TRIGGER}ScheduleOnDates",)),
    PluginFamily("triggers.files", ("io.kestra.plugin.fs.local.",)),
    PluginFamily("triggers.conditions", (_CONDITION,)),
    PluginFamily(
        "triggers.schedule_conditions",
        tuple(
            _CONDITION + name
            for name in (
                "DateTimeBetween",
                "DayWeek",
                "Not",
                "Or",
                "PublicHoliday",
                "TimeBetween",
                "Weekend",
            )
        ),
    ),
    PluginFamily("triggers.multiple", (f"{_CONDITION}MultipleCondition",)),
)


class TriggerRunners(Mapping[type, Any]):
    """The runner of each trigger type that needs a loop of its own: Podium's own (their
    modules imported when a flow with a trigger first asks), and one PollRunner for every
    PolledTrigger class, of a plugin family or an entry point, found when asked rather
    than by listing every registered class (which would import every family)."""

    def __repr__(self) -> str:
        return f"<TriggerRunners {len(self)} own>"

    @cached_property
    def _own(self) -> dict[type, Any]:
        from triggers import files, schedule, schedule_on_dates

        return {**schedule.RUNNERS, **schedule_on_dates.RUNNERS, **files.RUNNERS}

    @cached_property
    def _polled(self) -> Any:
        from triggers.polling import PollRunner

        return PollRunner()

    def __getitem__(self, cls: type) -> Any:
        runner = self._own.get(cls)
        if runner is not None:
            return runner
        if isinstance(cls, type) and issubclass(cls, PolledTrigger):
            return self._polled
        raise KeyError(cls)

    def __iter__(self) -> Iterator[type]:
        return iter(self._own)

    def __len__(self) -> int:
        return len(self._own)
