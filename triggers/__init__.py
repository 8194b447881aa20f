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
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.plugin import PolledTrigger
from triggers import conditions, files, models, multiple, schedule, schedule_on_dates
from triggers.polling import PollRunner

__all__ = ["CONDITIONS", "TRIGGERS", "trigger_runners"]

TRIGGERS: tuple[type, ...] = (
    *models.TRIGGERS,
    *schedule.MODELS,
    *schedule_on_dates.MODELS,
    *files.MODELS,
)
CONDITIONS: tuple[type, ...] = (
    *conditions.CONDITIONS,
    *schedule.CONDITIONS,
    *multiple.CONDITIONS,
)


def trigger_runners(registered: Iterable[type] = ()) -> dict[type, Any]:
    """The runner for each trigger type that needs a loop of its own: Podium's own, and
    one PollRunner for every PolledTrigger among the `registered` trigger classes (those
    of plugin families and entry points)."""
    polled = PollRunner()
    runners: dict[type, Any] = {
        **schedule.RUNNERS,
        **schedule_on_dates.RUNNERS,
        **files.RUNNERS,
    }
    for cls in registered:
        if isinstance(cls, type) and issubclass(cls, PolledTrigger) and cls not in runners:
            runners[cls] = polled
    return runners
