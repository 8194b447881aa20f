"""Executions in bulk, as Kestra's API and UI ask: kill, restart, replay, change-status,
unqueue, force-run, set labels and delete, for a list of ids (`…/by-ids`, the ids as a JSON list in the body) or for every execution a search matches
(`…/by-query`, the search's parameters: engine/web/api/execution_filters.py).

All or nothing, as Kestra: every id is checked first, and if one cannot be acted on
(not found, or in a state the action does not apply to) nothing is done and the answer
is a 400 `{"message": "invalid bulk kill", "invalids": [{"message", "invalidValue"}]}`.
Otherwise each command goes onto the requests topic through `Intake` (a deletion onto
the events topic, engine/deletion.py) and the answer is `{"count": n}`.

A bulk action touches at most MAX_BULK executions; a query matching more is refused
(400, narrow it) rather than acted on in part.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine.deletion import Deletion, delete_executions
from engine.events import ExecutionChanged
from engine.projector import wait_for_projection
from engine.reruns import RESTARTABLE
from engine.states import State
from engine.web.api import Services
from engine.web.api.execution_filters import execution_query, paged
from engine.web.http import ApiError, ApiRoutes, json_response, query_bool, read_json

__all__ = ["MAX_BULK", "bulk_routes", "check_labels", "refuse_other_revision", "terminal_state"]

MAX_BULK = 10_000
_PAGE = 1_000
MAX_LABELS = 100
# how long a deletion waits for the projection, so a list read next no longer shows it
DELETE_SETTLE_SECONDS = 10.0

Act = Callable[[Services, Sequence[ExecutionChanged]], Awaitable[None]]


@dataclass(frozen=True)
class BulkAction:
    """One action: the name in messages, which executions it applies to (None: it
    does; a string: why not), and what it does to the ones that pass."""

    name: str
    refuses: Callable[[ExecutionChanged], str | None]
    act: Act


def terminal_state(raw: str | None, name: str) -> State:
    """A terminal state from a query parameter (change-status): 400 otherwise."""
    if not raw:
        raise ApiError(400, f"the {name} query parameter (a terminal state) is required")
    try:
        state = State(raw.strip().upper())
    except ValueError:
        known = ", ".join(s.value for s in State if s.is_terminal)
        raise ApiError(400, f"unknown state {raw!r}; one of {known}") from None
    if not state.is_terminal:
        raise ApiError(
            400, "You can only change the status of an execution to a terminal state, "
            f"not {state.value}",
        )  # fmt: skip
    return state


def check_labels(body: Any) -> dict[str, str]:
    """Kestra's labels body: a list of {"key", "value"} strings, no `system.` keys (only
    Podium sets those)."""
    if not isinstance(body, list) or not all(
        isinstance(i, dict)
        and isinstance(i.get("key"), str)
        and i["key"].strip()
        and isinstance(i.get("value"), str)
        for i in body
    ):
        raise ApiError(400, 'labels are a list of {"key": "…", "value": "…"} (strings)')
    if len(body) > MAX_LABELS:
        raise ApiError(400, f"at most {MAX_LABELS} labels")
    labels = {i["key"].strip(): i["value"] for i in body}
    system = sorted(k for k in labels if k.startswith("system."))
    if system:
        raise ApiError(400, f"System labels can only be set by Podium itself: {', '.join(system)}")
    return labels


async def _ids_from_body(request: web.Request) -> list[str]:
    body = await read_json(request)
    return _checked_ids(body)


def _checked_ids(body: Any) -> list[str]:
    if not isinstance(body, list) or not all(isinstance(i, str) and i for i in body):
        raise ApiError(400, "the body is a JSON list of execution ids")
    if len(body) > MAX_BULK:
        raise ApiError(400, f"at most {MAX_BULK:,} executions at once")
    return list(dict.fromkeys(body))  # each once, in the order given


async def _ids_from_query(services: Services, request: web.Request) -> list[str]:
    query, can_match = execution_query(request, services.intake.clock.now())
    if not can_match:
        return []
    ids: list[str] = []
    offset = 0
    while True:
        found, total = await services.store.search_executions(paged(query, _PAGE, offset))
        if total > MAX_BULK:
            raise ApiError(
                400, f"the query matches {total:,} executions, more than {MAX_BULK:,} at once: "
                "narrow it (namespace, flowId, state, dates)",
            )  # fmt: skip
        ids.extend(e.execution_id for e in found)
        offset += _PAGE
        if not found or offset >= total:
            return list(dict.fromkeys(ids))


async def _run(services: Services, action: BulkAction, ids: Sequence[str]) -> web.StreamResponse:
    found = await services.store.existing_executions(list(ids))
    invalids = []
    for execution_id in ids:
        execution = found.get(execution_id)
        reason = "execution not found" if execution is None else action.refuses(execution)
        if reason is not None:
            invalids.append({"message": reason, "invalidValue": execution_id})
    if invalids:
        raise ApiError(400, f"invalid bulk {action.name}", invalids=invalids)
    chosen = [found[i] for i in ids]
    await action.act(services, chosen)
    return json_response({"count": len(chosen)})


def _by_ids(action_of: Callable[[web.Request], BulkAction]) -> Any:
    async def handler(services: Services, request: web.Request) -> web.StreamResponse:
        action = action_of(request)  # its parameters are checked before the body is read
        return await _run(services, action, await _ids_from_body(request))

    handler.__name__ = handler.__qualname__ = f"{action_of.__name__}_by_ids"
    return handler


def _by_query(action_of: Callable[[web.Request], BulkAction]) -> Any:
    async def handler(services: Services, request: web.Request) -> web.StreamResponse:
        action = action_of(request)
        return await _run(services, action, await _ids_from_query(services, request))

    handler.__name__ = handler.__qualname__ = f"{action_of.__name__}_by_query"
    return handler


# -- the actions ----------------------------------------------------------------------


def _each(
    command: Callable[[Services, ExecutionChanged], Awaitable[Any]],
) -> Act:
    async def act(services: Services, executions: Sequence[ExecutionChanged]) -> None:
        for execution in executions:
            await command(services, execution)

    return act


def kill(request: web.Request) -> BulkAction:
    return BulkAction(
        "kill",
        lambda e: "execution already finished" if e.state.is_terminal else None,
        _each(lambda s, e: s.intake.kill(e.execution_id, e.namespace, e.flow_id)),
    )


def refuse_other_revision(request: web.Request) -> None:
    """Kestra restarts and replays on another flow revision when asked (`revision`,
    `latestRevision`): Podium runs the revision the execution ran, so it says so."""
    if request.query.get("revision") or query_bool(request, "latestRevision", False):
        raise ApiError(
            400, "restarting or replaying on another flow revision is not supported: "
            "the execution's own revision runs again",
        )  # fmt: skip


def restart(request: web.Request) -> BulkAction:
    refuse_other_revision(request)
    return BulkAction(
        "restart",
        lambda e: None if e.state in RESTARTABLE else "execution not in state FAILED or KILLED",
        _each(lambda s, e: s.intake.restart(e.execution_id, e.namespace, e.flow_id)),
    )


def replay(request: web.Request) -> BulkAction:
    refuse_other_revision(request)
    return BulkAction(
        "replay",
        lambda e: None if e.state.is_terminal else "execution not finished",
        _each(lambda s, e: s.intake.replay(e.execution_id, e.namespace, e.flow_id)),
    )


def unqueue(request: web.Request) -> BulkAction:
    state = unqueue_state(request.query.get("state"))
    return BulkAction(
        "unqueue",
        lambda e: None if e.state is State.QUEUED else "execution not in state QUEUED",
        _each(lambda s, e: s.intake.unqueue(e.execution_id, e.namespace, e.flow_id, state)),
    )


def force_run(request: web.Request) -> BulkAction:
    return BulkAction(
        "force run",
        lambda e: "execution in a terminated state" if e.state.is_terminal else None,
        _each(lambda s, e: s.intake.force_run(e.execution_id, e.namespace, e.flow_id)),
    )


def change_status(request: web.Request) -> BulkAction:
    state = terminal_state(request.query.get("newStatus"), "newStatus")
    return BulkAction(
        "change execution status",
        lambda e: None if e.state.is_terminal else "execution not in a terminated state",
        _each(lambda s, e: s.intake.change_status(e.execution_id, e.namespace, e.flow_id, state)),
    )


def deletion_of(request: web.Request) -> Deletion:
    return Deletion(
        logs=query_bool(request, "deleteLogs", True),
        metrics=query_bool(request, "deleteMetrics", True),
        files=query_bool(request, "deleteStorage", True),
    )


async def delete_now(
    services: Services, executions: Sequence[ExecutionChanged], what: Deletion
) -> None:
    """Delete, then wait (bounded) until the projection has dropped them, so that what the
    caller reads next no longer shows them. One still running is killed first: its walk
    stops, and what it publishes meanwhile is fenced off by the deletion."""
    intake = services.intake
    for execution in executions:
        intake.forget([execution.execution_id])
        if not execution.state.is_terminal:
            await intake.kill(execution.execution_id, execution.namespace, execution.flow_id)
    await delete_executions(
        executions, bus=intake.bus, clock=intake.clock, storage=services.storage,
        topics=intake.topics, what=what,
    )  # fmt: skip
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DELETE_SETTLE_SECONDS):
            await wait_for_projection(intake.bus, intake.topics)


def delete(request: web.Request) -> BulkAction:
    include_running = query_bool(request, "includeNonTerminated", False)
    what = deletion_of(request)

    def refuses(e: ExecutionChanged) -> str | None:
        if e.state.is_terminal or include_running:
            return None
        return "execution not finished (includeNonTerminated=true deletes it anyway)"

    async def act(services: Services, executions: Sequence[ExecutionChanged]) -> None:
        await delete_now(services, executions, what)

    return BulkAction("delete", refuses, act)


async def set_labels_by_ids(services: Services, request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, 'the body is {"executionsId": […], "executionLabels": […]}')
    ids = _checked_ids(body.get("executionsId"))
    labels = check_labels(body.get("executionLabels"))
    return await _run(services, _labels(labels), ids)


async def set_labels_by_query(services: Services, request: web.Request) -> web.StreamResponse:
    labels = check_labels(await read_json(request))
    return await _run(services, _labels(labels), await _ids_from_query(services, request))


def _labels(labels: dict[str, str]) -> BulkAction:
    # Podium sets labels on running executions too (the single endpoint does), so only
    # an unknown id is refused
    return BulkAction(
        "set labels",
        lambda e: None,
        _each(lambda s, e: s.intake.set_labels(e.execution_id, e.namespace, e.flow_id, labels)),
    )


def unqueue_state(raw: str | None) -> State:
    """Kestra's unqueue target: RUNNING (the default), CANCELLED or FAILED."""
    if not raw:
        return State.RUNNING
    allowed = (State.RUNNING, State.CANCELLED, State.FAILED)
    try:
        state = State(raw.strip().upper())
    except ValueError:
        state = None
    if state not in allowed:
        names = ", ".join(s.value for s in allowed)
        raise ApiError(400, f"Invalid target state: {raw}. Valid states are: {names}")
    assert state is not None
    return state


def bulk_routes(services: Services, api: ApiRoutes) -> None:
    """Before the routes with an execution id or a flow in the path: /executions/kill/…
    is not an execution `kill`, /executions/restart/by-ids not the flow `by-ids`."""
    bind = services.bind
    for method, name, action in (
        ("DELETE", "kill", kill),
        ("POST", "restart", restart),
        ("POST", "replay", replay),
        ("POST", "unqueue", unqueue),
        ("POST", "force-run", force_run),
        ("POST", "change-status", change_status),
    ):
        api.add(method, f"/executions/{name}/by-ids", bind(_by_ids(action)))
        api.add(method, f"/executions/{name}/by-query", bind(_by_query(action)))
    api.post("/executions/labels/by-ids", bind(set_labels_by_ids))
    api.post("/executions/labels/by-query", bind(set_labels_by_query))
    api.delete("/executions/by-ids", bind(_by_ids(delete)))
    api.delete("/executions/by-query", bind(_by_query(delete)))
