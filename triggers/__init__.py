"""Triggers decide that a flow must run and publish one ExecutionRequested; they run nothing.

models          the YAML shape of the Webhook and Flow triggers
schedule        cron schedules (model, runner, backfill)
files           local-folder file triggers (model, runner)
conditions      the conditions triggers test (ExecutionStatus, ExpressionCondition …)
base            TriggerContext (fire → Intake) and the TriggerRunner protocol
service         TriggerService: one runner per live trigger, restarted on flow edits
flow_trigger    "run this flow when another ends", from the events topic
"""

from __future__ import annotations

from typing import Any

from triggers import conditions, files, models, schedule

__all__ = ["CONDITIONS", "TRIGGERS", "trigger_runners"]

TRIGGERS: tuple[type, ...] = (*models.TRIGGERS, *schedule.MODELS, *files.MODELS)
CONDITIONS: tuple[type, ...] = (*conditions.CONDITIONS, *schedule.CONDITIONS)


def trigger_runners() -> dict[type, Any]:
    """The runner for each trigger type that needs a loop of its own."""
    return {**schedule.RUNNERS, **files.RUNNERS}
