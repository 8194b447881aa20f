"""Deleting history from a flow: execution.PurgeExecutions and log.PurgeLogs.

Both go through `RunContext.history` (engine/purge.py): the deletions are published as
events the projector applies, in batches, and an execution that has not ended is never
deleted. As in Kestra, leaving `namespace` out means every namespace, and a namespace
without `flowId` is a prefix (`company` takes `company.team`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from engine.errors import TaskFailed
from engine.plugin import LogSelection, PurgeSelection, RunContext, Task, plugin
from engine.states import State
from tasks.properties import render_flag, render_integer, render_strings, render_text

__all__ = ["TASKS", "PurgeExecutions", "PurgeLogs", "render_date", "render_states"]

LogLevel = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]


def render_date(ctx: RunContext, value: str | None, name: str) -> datetime | None:
    """A date property (`{{ now() | dateAdd(-1, 'MONTHS') }}`) as an aware datetime; a
    date without an offset is UTC."""
    text = render_text(ctx, value, name)
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TaskFailed(
            f"property '{name}' must be an ISO-8601 date such as 2026-01-31T00:00:00Z, "
            f"not {text[:100]!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def render_states(ctx: RunContext, value: Any, name: str) -> tuple[State, ...]:
    states = []
    for item in render_strings(ctx, value, name):
        try:
            states.append(State(item.strip().upper()))
        except ValueError:
            known = ", ".join(s.value for s in State)
            raise TaskFailed(f"property '{name}': {item!r} is not a state ({known})") from None
    return tuple(states)


def _namespace(
    ctx: RunContext, namespace: str | None, flow_id: str | None
) -> tuple[str | None, str | None]:
    rendered_ns = render_text(ctx, namespace, "namespace")
    rendered_flow = render_text(ctx, flow_id, "flowId")
    if rendered_flow and not rendered_ns:
        raise TaskFailed("property 'flowId' needs 'namespace': the flow's namespace")
    return rendered_ns or None, rendered_flow or None


@plugin(
    "io.kestra.plugin.core.execution.PurgeExecutions",
    "io.kestra.plugin.core.storage.Purge",  # Kestra's older names, still aliases
)
class PurgeExecutions(Task):
    """Delete ended executions with their task runs, logs, metrics and files in internal
    storage: those of `namespace` (a prefix, unless `flowId` is given), that ended by
    `endDate` and were created from `startDate`, in `states` (any ended one if unset)."""

    namespace: str | None = None
    flowId: str | None = None
    startDate: str | None = None
    endDate: str
    states: list[str] | str | None = None
    purgeExecution: bool | str = True
    purgeLog: bool | str = True
    purgeMetric: bool | str = True
    purgeStorage: bool | str = True
    batchSize: int | str = 100

    @field_validator("states")
    @classmethod
    def _ended_states(cls, value: Any) -> Any:
        if isinstance(value, list):
            for item in value:
                if "{{" in str(item):
                    continue
                try:
                    state = State(str(item).upper())
                except ValueError:
                    raise ValueError(f"{item!r} is not a state") from None
                if not state.is_terminal:
                    raise ValueError(
                        f"{state.value} executions have not ended; PurgeExecutions only "
                        "deletes ended ones (SUCCESS, WARNING, FAILED, KILLED, CANCELLED, "
                        "SKIPPED, RETRIED)"
                    )
        return value

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace, flow_id = _namespace(ctx, self.namespace, self.flowId)
        end = render_date(ctx, self.endDate, "endDate")
        if end is None:
            raise TaskFailed("property 'endDate' is required")
        states = render_states(ctx, self.states, "states")
        if running := [s.value for s in states if not s.is_terminal]:
            raise TaskFailed(
                f"property 'states': {', '.join(running)} executions have not ended and are "
                "never purged"
            )
        batch = render_integer(ctx, self.batchSize, "batchSize", minimum=1) or 100
        counts = await ctx.history.purge_executions(
            PurgeSelection(
                end=end,
                namespace=namespace,
                flow_id=flow_id,
                states=states,
                start=render_date(ctx, self.startDate, "startDate"),
            ),
            executions=bool(render_flag(ctx, self.purgeExecution, "purgeExecution")),
            logs=bool(render_flag(ctx, self.purgeLog, "purgeLog")),
            metrics=bool(render_flag(ctx, self.purgeMetric, "purgeMetric")),
            storage=bool(render_flag(ctx, self.purgeStorage, "purgeStorage")),
            batch_size=min(batch, 1000),
        )
        ctx.logger.info(
            f"purged {counts.executions} execution(s), {counts.logs} log line(s), "
            f"{counts.metrics} metric(s), {counts.files} file(s)"
        )
        return {
            "executionsCount": counts.executions,
            "taskOutputsCount": counts.task_runs,
            "logsCount": counts.logs,
            "storagesCount": counts.files,
            "metricsCount": counts.metrics,
        }


@plugin("io.kestra.plugin.core.log.PurgeLogs")
class PurgeLogs(Task):
    """Delete log lines stamped up to `endDate` (and from `startDate`), of a namespace
    (a prefix unless `flowId` is given), a flow or an execution, of the `logLevels` given
    (all if unset). Every Podium log line belongs to an execution."""

    namespace: str | None = None
    flowId: str | None = None
    executionId: str | None = None
    logLevels: list[LogLevel] | str | None = None
    startDate: str | None = None
    endDate: str
    purgeExecutionLogs: bool | str = True
    purgeNonExecutionLogs: bool | str = True
    batchSize: int | str | None = Field(default=None)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace, flow_id = _namespace(ctx, self.namespace, self.flowId)
        end = render_date(ctx, self.endDate, "endDate")
        if end is None:
            raise TaskFailed("property 'endDate' is required")
        levels = [
            level.strip().upper() for level in render_strings(ctx, self.logLevels, "logLevels")
        ]
        levels = ["WARN" if level == "WARNING" else level for level in levels]
        if unknown := [
            lv for lv in levels if lv not in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
        ]:
            raise TaskFailed(f"property 'logLevels': unknown level(s) {', '.join(unknown)}")
        # Podium has no logs outside executions (trigger logs are the server's own)
        count = 0
        if render_flag(ctx, self.purgeExecutionLogs, "purgeExecutionLogs"):
            execution_id = render_text(ctx, self.executionId, "executionId") or None
            selection = LogSelection(
                end=end,
                namespace=namespace,
                flow_id=flow_id,
                execution_id=execution_id,
                levels=tuple(levels),
                start=render_date(ctx, self.startDate, "startDate"),
            )
            batch = render_integer(ctx, self.batchSize, "batchSize", minimum=1)
            count = await ctx.history.purge_logs(selection, batch_size=batch)
        render_flag(ctx, self.purgeNonExecutionLogs, "purgeNonExecutionLogs")
        ctx.logger.info(f"purged {count} log line(s)")
        return {"count": count, "executionLogsCount": count, "nonExecutionLogsCount": 0}


TASKS: tuple[type, ...] = (PurgeExecutions, PurgeLogs)
