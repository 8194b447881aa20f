"""Triggers: list them with their next date, disable or enable one without editing its
flow, and backfill a schedule over a past range with progress.

A trigger disabled in its YAML stays disabled whatever the API says; the API's switch is
kept in the store (see triggers/service.py), so it survives restarts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.flow import Flow
from engine.plugin import Trigger
from engine.web.api import Services
from engine.web.http import ApiError, ApiRoutes, json_response, page_args, parse_date, read_json
from triggers.base import trigger_scope
from triggers.schedule import Schedule
from triggers.schedule_on_dates import ScheduleOnDates
from triggers.service import DISABLED_SCOPE, BackfillBusy, backfill_scope

__all__ = ["trigger_routes"]


async def _disabled_scopes(services: Services) -> set[str]:
    data = await services.store.get_trigger_state(DISABLED_SCOPE) or {}
    return {str(s) for s in data.get("scopes") or ()}


async def _describe(
    services: Services, flow: Flow, trigger: Trigger, disabled: set[str]
) -> dict[str, Any]:
    store = services.store
    scope = trigger_scope(flow, trigger)
    state = await store.get_trigger_state(scope) or {}
    return {
        "namespace": flow.namespace,
        "flowId": flow.id,
        "triggerId": trigger.id,
        "type": trigger.type,
        "disabled": bool(trigger.disabled or flow.disabled or scope in disabled),
        "nextExecutionDate": (
            state.get("next") if isinstance(trigger, Schedule | ScheduleOnDates) else None
        ),
        # a schedule's expression and zone, for the UI's Triggers tab (not in Kestra's answer)
        "cron": trigger.cron if isinstance(trigger, Schedule) else None,
        "timezone": trigger.timezone if isinstance(trigger, Schedule) else None,
        "backfill": await store.get_trigger_state(backfill_scope(scope)),
    }


async def _find(services: Services, request: web.Request) -> tuple[Flow, Trigger]:
    info = request.match_info
    flow = await services.flows.get(info["namespace"], info["flow_id"])
    trigger = next((t for t in flow.triggers if t.id == info["trigger_id"]), None) if flow else None
    if flow is None or trigger is None:
        raise ApiError(
            404,
            f"trigger {info['trigger_id']} of flow {info['namespace']}/{info['flow_id']} not found",
        )
    return flow, trigger


async def search_triggers(services: Services, request: web.Request) -> web.StreamResponse:
    limit, offset = page_args(request)
    namespace = request.query.get("namespace") or None
    flow_id = request.query.get("flowId") or None
    found: list[tuple[Flow, Trigger]] = []
    for record in await services.flows.list():
        if namespace and not (
            record.namespace == namespace or record.namespace.startswith(namespace + ".")
        ):
            continue
        if flow_id and record.id != flow_id:
            continue
        flow = await services.flows.get(record.namespace, record.id, record.revision)
        if flow is not None:
            found += [(flow, t) for t in flow.triggers]
    disabled = await _disabled_scopes(services)
    page = [await _describe(services, f, t, disabled) for f, t in found[offset : offset + limit]]
    return json_response({"results": page, "total": len(found)})


async def update_trigger(services: Services, request: web.Request) -> web.StreamResponse:
    flow, trigger = await _find(services, request)
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("disabled"), bool):
        raise ApiError(400, 'the body is {"disabled": true} or {"disabled": false}')
    if services.triggers is None:
        raise ApiError(503, "triggers are not managed by this server")
    await services.triggers.set_disabled(trigger_scope(flow, trigger), body["disabled"])
    return json_response(await _describe(services, flow, trigger, await _disabled_scopes(services)))


async def backfill_trigger(services: Services, request: web.Request) -> web.StreamResponse:
    flow, trigger = await _find(services, request)
    if not isinstance(trigger, Schedule):
        raise ApiError(
            400, f"trigger {trigger.id} is a {trigger.type}: only a Schedule is backfilled"
        )
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("start"), str):
        raise ApiError(400, 'the body is {"start": ISO date-time, "end"?, "inputs"?, "labels"?}')
    start = parse_date(body["start"], "start")
    end = parse_date(body["end"], "end") if isinstance(body.get("end"), str) else None
    if end is not None and end <= start:
        raise ApiError(400, "end must be after start")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise ApiError(400, "inputs is an object")
    labels = body.get("labels") or {}
    if isinstance(labels, list):
        if not all(isinstance(i, dict) and isinstance(i.get("key"), str) for i in labels):
            raise ApiError(400, 'labels is an object or a list of {"key", "value"}')
        labels = {i["key"]: str(i.get("value", "")) for i in labels}
    if not isinstance(labels, dict):
        raise ApiError(400, "labels is an object")
    if services.triggers is None:
        raise ApiError(503, "triggers are not managed by this server")
    try:
        await services.triggers.start_backfill(
            flow,
            trigger,
            start,
            end,
            inputs=inputs,
            labels={k: str(v) for k, v in labels.items()},
        )
    except BackfillBusy as exc:
        raise ApiError(409, str(exc)) from None
    except RuntimeError as exc:
        raise ApiError(503, str(exc)) from None
    return json_response(await _describe(services, flow, trigger, await _disabled_scopes(services)))


def trigger_routes(services: Services, api: ApiRoutes) -> None:
    bind = services.bind
    api.get("/triggers/search", bind(search_triggers))
    api.put("/triggers/{namespace}/{flow_id}/{trigger_id}", bind(update_trigger))
    api.post("/triggers/{namespace}/{flow_id}/{trigger_id}/backfill", bind(backfill_trigger))
