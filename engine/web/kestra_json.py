"""Store records in Kestra's JSON shapes: Execution, TaskRun (with attempts and state
histories), LogEntry and Flow, as docs/api.md draws them.

Histories come from the store's `state_history` (one row per state event); repeated
events in the same state (a task run publishing outputs) are folded into one entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from engine.events import ExecutionChanged, ExecutionRequested, TaskRunChanged
from engine.states import State
from engine.store.base import FlowRecord, LogEntry, StateChange
from engine.templating.secrets import MASK

__all__ = [
    "execution_json",
    "flow_json",
    "labels_json",
    "log_json",
    "log_text",
    "requested_json",
    "task_run_json",
]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _duration(start: datetime | None, end: datetime | None) -> float | None:
    if start is None:
        return None
    return round(((end or datetime.now(UTC)) - start).total_seconds(), 3)


def _histories(changes: Iterable[StateChange]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for change in changes:
        if out and out[-1]["state"] == change.state.value:
            continue
        out.append({"state": change.state.value, "date": change.at.isoformat()})
    return out


def _state(
    current: State,
    start: datetime | None,
    end: datetime | None,
    histories: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "current": current.value,
        "startDate": _iso(start),
        "endDate": _iso(end),
        "duration": _duration(start, end),
        "histories": histories,
    }


def labels_json(labels: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in labels.items()]


def _log_file(run: TaskRunChanged, attempt: int) -> dict[str, str]:
    """Kestra's `logFile` of an attempt whose task has `logToFile: true`."""
    uri = run.log_files.get(attempt)
    return {"logFile": uri} if uri else {}


def task_run_json(run: TaskRunChanged, history: Sequence[StateChange] = ()) -> dict[str, Any]:
    mine = [c for c in history if c.task_run_id == run.task_run_id]
    histories = _histories(mine) or [{"state": run.state.value, "date": run.at.isoformat()}]
    attempts = []
    numbers = sorted({c.attempt for c in mine} or {run.attempt})
    for number in numbers:
        changes = [c for c in mine if c.attempt == number]
        if not changes:  # no history (an older store): the current attempt only
            attempts.append(
                {
                    "attempt": number,
                    "state": _state(run.state, run.started_at, run.ended_at, histories),
                    **_log_file(run, number),
                }
            )
            continue
        last = changes[-1]
        started = next((c.at for c in changes if c.state is State.RUNNING), changes[0].at)
        final = last.state
        if number != numbers[-1] and not final.is_terminal:
            # the run went RETRYING: this attempt failed, and another one followed
            final = next((c.state for c in reversed(changes) if c.state.is_terminal), State.FAILED)
        ended = last.at if final.is_terminal else None
        attempts.append(
            {
                "attempt": number,
                "state": _state(final, started, ended, _histories(changes)),
                **_log_file(run, number),
            }
        )
    return {
        "id": run.task_run_id,
        "executionId": run.execution_id,
        "namespace": run.namespace,
        "flowId": run.flow_id,
        "taskId": run.task_id,
        "parentTaskRunId": run.parent_task_run_id,
        "value": run.value,
        "iteration": run.iteration,
        "state": _state(run.state, run.started_at or run.created_at, run.ended_at, histories),
        "attempts": attempts,
        "outputs": run.outputs,
        "error": run.error,
    }


def execution_json(
    execution: ExecutionChanged,
    task_runs: Sequence[TaskRunChanged] | None = None,
    history: Sequence[StateChange] = (),
) -> dict[str, Any]:
    """An execution; with `task_runs`, its `taskRunList` too (searches leave it out)."""
    own = [c for c in history if c.task_run_id is None]
    histories = _histories(own) or [
        {"state": State.CREATED.value, "date": execution.created_at.isoformat()},
        *(
            [{"state": execution.state.value, "date": execution.at.isoformat()}]
            if execution.state is not State.CREATED
            else []
        ),
    ]
    body: dict[str, Any] = {
        "id": execution.execution_id,
        "namespace": execution.namespace,
        "flowId": execution.flow_id,
        "flowRevision": execution.revision,
        "inputs": execution.inputs,
        "outputs": execution.outputs,
        "variables": execution.variables,
        "labels": labels_json(execution.labels),
        "state": _state(
            execution.state,
            execution.started_at or execution.created_at,
            execution.ended_at,
            histories,
        ),
        "trigger": execution.trigger,
        # Kestra's parentId: the execution a replay came from; Podium's subflows say their
        # parent here too
        "parentId": execution.replay_of
        or (execution.parent.execution_id if execution.parent else None),
        "originalId": execution.original_id or execution.execution_id,
        "error": execution.error,
        "deleted": False,
    }
    if task_runs is not None:
        body["taskRunList"] = [task_run_json(r, history) for r in task_runs]
    return body


def requested_json(request: ExecutionRequested) -> dict[str, Any]:
    """A just-accepted execution, before the executor has said anything about it."""
    at = request.requested_at.isoformat()
    return {
        "id": request.execution_id,
        "namespace": request.namespace,
        "flowId": request.flow_id,
        "flowRevision": request.revision,
        "inputs": request.inputs,
        "outputs": {},
        "variables": {},
        "labels": labels_json(request.labels),
        "state": {
            "current": State.CREATED.value,
            "startDate": at,
            "endDate": None,
            "duration": 0.0,
            "histories": [{"state": State.CREATED.value, "date": at}],
        },
        "trigger": request.trigger,
        "parentId": request.parent.execution_id if request.parent else None,
        "error": None,
        "deleted": False,
        "taskRunList": [],
    }


def log_json(entry: LogEntry) -> dict[str, Any]:
    line = entry.line
    return {
        "timestamp": line.at.isoformat(),
        "level": "WARN" if line.level == "WARNING" else line.level,
        "message": line.message,
        "taskRunId": line.task_run_id,
        "taskId": line.task_id,
        "attempt": line.attempt,
        "executionId": entry.execution_id,
        "namespace": entry.namespace,
        "flowId": entry.flow_id,
    }


def log_text(entry: LogEntry) -> str:
    line = entry.line
    task = f" [{line.task_id}]" if line.task_id else ""
    return f"{line.at.isoformat()} {line.level:<5}{task} {line.message}"


def flow_json(record: FlowRecord, *, with_source: bool = False) -> dict[str, Any]:
    """The flow's YAML properties as JSON, plus revision, deleted and (asked) source."""
    try:
        loaded = yaml.safe_load(record.source)
    except yaml.YAMLError:
        loaded = None
    body: dict[str, Any] = dict(loaded) if isinstance(loaded, dict) else {}
    body.update(
        id=record.id,
        namespace=record.namespace,
        revision=record.revision,
        deleted=record.is_deleted,
        updated=record.updated_at.isoformat(),
    )
    body.setdefault("disabled", False)
    if with_source:
        body["source"] = record.source
    return body


def with_secret_inputs_masked(body: dict[str, Any], flow: Any) -> dict[str, Any]:
    """An execution's JSON with its SECRET inputs shown as ****** (Kestra never shows
    them); `flow` is the revision it ran (None: nothing known to mask)."""
    inputs = body.get("inputs")
    secret = {i.id for i in (flow.inputs if flow is not None else ()) if i.type == "SECRET"}
    if inputs and secret:
        body["inputs"] = {
            k: MASK if k in secret and v is not None else v for k, v in inputs.items()
        }
    return body
