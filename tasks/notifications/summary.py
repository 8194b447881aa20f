"""What Kestra's `…Execution` notifications say about an execution, computed once.

Every `…Execution` task (Slack, Teams, Google Chat, Discord, mail) reports the same facts,
as Kestra's shared execution service gathers them: the execution (`executionId`, by
default the running one; from a Flow trigger, `{{ trigger.executionId }}`), how long it
ran in Kestra's "human" form (`1m 5.2s`), the link to its page in the UI, the task run
the outcome hangs on (`lastTask`: the last FAILED task run when any failed, else the last
SUCCESS one) and `firstFailed` (that run when it failed), plus the flow's
`customMessage` and `customFields`. Each service lays them out in its own payload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from engine.errors import TaskFailed
from engine.plugin import ExecutionSummary, RunContext, TaskRunSummary
from tasks.properties import render_mapping, render_text

__all__ = ["ExecutionFacts", "ExecutionNotice", "gather_facts", "human_duration"]


class ExecutionNotice(BaseModel):
    """Kestra's `ExecutionInterface`: the properties every `…Execution` task has.
    A mixin: the task class brings the model configuration."""

    executionId: str = "{{ execution.id }}"
    customFields: dict[str, Any] | str | None = None
    customMessage: str | None = None


@dataclass(frozen=True)
class ExecutionFacts:
    """The rendered facts one notification is built from."""

    execution: ExecutionSummary
    duration: str
    last_task: TaskRunSummary | None
    custom_message: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)

    @property
    def first_failed(self) -> TaskRunSummary | None:
        last = self.last_task
        return last if last is not None and last.state == "FAILED" else None

    @property
    def link(self) -> str:
        return self.execution.link

    @property
    def headline(self) -> str:
        """`[namespace] flow ➛ STATE`, Kestra's title of every such message."""
        e = self.execution
        return f"[{e.namespace}] {e.flow_id} ➛ {e.state}"

    @property
    def outcome(self) -> str:
        """`Failed on task `load` after 3.2s`, or `Succeeded after …`."""
        failed = self.first_failed
        if failed is not None:
            return f"Failed on task `{failed.task_id}` after {self.duration}"
        return f"Succeeded after {self.duration}"

    @property
    def started_at(self) -> datetime:
        return self.execution.started_at or self.execution.created_at


async def gather_facts(ctx: RunContext, task: ExecutionNotice) -> ExecutionFacts:
    """Render the notice's properties and read the execution it names."""
    execution_id = (render_text(ctx, task.executionId, "executionId") or "").strip()
    if not execution_id:
        raise TaskFailed("property 'executionId' rendered empty")
    summary = await ctx.executions.summary(execution_id)
    if summary is None:
        raise TaskFailed(f"execution {execution_id!r} not found")
    if summary.namespace != ctx.namespace and not _is_related(ctx, summary):
        # A flow may report on executions it was told about (Flow trigger, subflow), in
        # its namespace or not; naming any other execution id reads nothing.
        raise TaskFailed(f"execution {execution_id!r} not found")
    end = summary.ended_at or ctx.now()
    start = summary.started_at or summary.created_at
    custom = render_mapping(ctx, task.customFields, "customFields")
    return ExecutionFacts(
        execution=summary,
        duration=human_duration((end - start).total_seconds()),
        last_task=_last_task(summary),
        custom_message=render_text(ctx, task.customMessage, "customMessage"),
        custom_fields=dict(custom),
    )


def _is_related(ctx: RunContext, summary: ExecutionSummary) -> bool:
    trigger = ctx.template_context.get("trigger") or {}
    return isinstance(trigger, dict) and trigger.get("executionId") == summary.id


def _last_task(summary: ExecutionSummary) -> TaskRunSummary | None:
    has_failed = any(run.state == "FAILED" for run in summary.task_runs)
    wanted = "FAILED" if has_failed else "SUCCESS"
    matching = [run for run in summary.task_runs if run.state == wanted]
    return matching[-1] if matching else None


def human_duration(seconds: float) -> str:
    """Kestra's `humanDuration`: Java's ISO duration without `PT`, spaced, lower case
    (`1h 2m 3.5s`, `0.123s`)."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if rest or not parts:
        text = format(Decimal(rest) / 1000, "f").rstrip("0").rstrip(".") if rest else "0"
        parts.append(f"{text}s")
    return " ".join(parts)


def epoch_seconds(moment: datetime) -> int:
    """A moment as Unix seconds (Slack's `ts`)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
