"""Which executions a search (and a bulk action by query) is about, from its query string.

Two spellings, as Kestra's clients send them, and both may be mixed:

- 0.x parameters: `q`, `namespace`, `flowId`, `state` (repeated or comma-separated),
  `labels=key:value` (repeated), `startDate`, `endDate`, `timeRange` (an ISO-8601
  duration back from now), `triggerExecutionId`, `childFilter` (CHILD or MAIN), `scope`;
- 1.x filters: `filters[FIELD][OPERATION]=value`, and `filters[labels][EQUALS][key]=value`.

Only what the store can answer exactly is accepted; any other field or operation is a 400
that lists what is. Namespaces match the namespace and its children with EQUALS, PREFIX or
STARTS_WITH alike (Podium's namespace filter, docs/flows.md says so).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal

from aiohttp import web

from engine.durations import parse_duration
from engine.states import State
from engine.store.base import EXECUTION_SORTS, ExecutionQuery
from engine.web.http import ApiError, parse_date

__all__ = ["MATCHES_NOTHING", "execution_query", "paged"]

MAX_LABELS = 100

# `scope=SYSTEM` asks for the executions of Kestra's system flows: Podium has none
MATCHES_NOTHING = "SYSTEM"

_FILTER = re.compile(r"^filters\[([A-Za-z]+)\]\[([A-Z_]+)\](?:\[(.+)\])?$")

# field -> operations accepted
_SUPPORTED: dict[str, tuple[str, ...]] = {
    "q": ("EQUALS",),
    "query": ("EQUALS",),
    "namespace": ("EQUALS", "PREFIX", "STARTS_WITH"),
    "flowId": ("EQUALS",),
    "state": ("EQUALS", "IN", "NOT_EQUALS", "NOT_IN"),
    "labels": ("EQUALS",),
    "startDate": ("GREATER_THAN_OR_EQUAL_TO", "GREATER_THAN", "LESS_THAN_OR_EQUAL_TO", "LESS_THAN"),
    "endDate": ("LESS_THAN_OR_EQUAL_TO", "LESS_THAN"),
    "timeRange": ("EQUALS",),
    "triggerExecutionId": ("EQUALS",),
    "childFilter": ("EQUALS",),
    "scope": ("EQUALS", "IN"),
}


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _states(names: list[str], what: str) -> set[State]:
    found = set()
    for name in _split(names):
        try:
            found.add(State(name.upper()))
        except ValueError:
            known = ", ".join(s.value for s in State)
            raise ApiError(400, f"unknown state {name!r} in {what}; one of {known}") from None
    return found


def _label(item: str) -> tuple[str, str]:
    key, sep, value = item.partition(":")
    if not sep or not key.strip():
        raise ApiError(400, f"a label is key:value, got {item!r}")
    return key.strip(), value


def _since(raw: str, now: datetime, what: str) -> datetime:
    try:
        span = parse_duration(raw)
    except ValueError as exc:
        raise ApiError(400, f"{what}: {exc}") from None
    if span <= timedelta(0):
        raise ApiError(400, f"{what} must be a positive duration, got {raw!r}")
    try:
        return now - span
    except OverflowError:
        raise ApiError(400, f"{what} is too long: {raw!r}") from None


def _child_filter(raw: str) -> Literal["CHILD", "MAIN"]:
    value = raw.strip().upper()
    if value == "CHILD":
        return "CHILD"
    if value == "MAIN":
        return "MAIN"
    raise ApiError(400, f"childFilter is CHILD or MAIN, got {raw!r}")


def _scopes(values: list[str]) -> set[str]:
    scopes = {s.upper() for s in _split(values)}
    unknown = scopes - {"USER", MATCHES_NOTHING}
    if unknown:
        raise ApiError(400, f"scope is USER or SYSTEM, got {', '.join(sorted(unknown))}")
    return scopes


# Kestra's UI sorts by the paths of the Execution's JSON
_SORT_ALIASES = {
    "state.startDate": "startDate",
    "state.endDate": "endDate",
    "state.current": "state",
}


def _sort(request: web.Request) -> tuple[str, bool]:
    raw = request.query.get("sort") or "startDate:desc"
    field, _, direction = raw.partition(":")
    field = _SORT_ALIASES.get(field, field)
    direction = direction.lower() or "asc"
    if field not in EXECUTION_SORTS or direction not in ("asc", "desc"):
        fields = ", ".join(EXECUTION_SORTS)
        raise ApiError(400, f"sort is FIELD:asc or FIELD:desc with FIELD one of {fields}")
    return field, direction == "desc"


def execution_query(
    request: web.Request, now: datetime, *, limit: int = 25, offset: int = 0
) -> tuple[ExecutionQuery, bool]:
    """The query the request's parameters make, and whether it can match anything at
    all (False for `scope=SYSTEM`: Podium runs no system flows). Raises ApiError(400)."""
    params = request.query
    sort, is_descending = _sort(request)
    q = params.get("q") or None
    namespace = params.get("namespace") or None
    flow_id = params.get("flowId") or None
    states = _states(params.getall("state", []), "state")
    excluded: set[State] = set()
    labels = dict(_label(item) for item in params.getall("labels", []))
    start = parse_date(params["startDate"], "startDate") if params.get("startDate") else None
    end = parse_date(params["endDate"], "endDate") if params.get("endDate") else None
    if params.get("timeRange"):
        start = _since(params["timeRange"], now, "timeRange")
    trigger_execution_id = params.get("triggerExecutionId") or None
    child_filter = _child_filter(params["childFilter"]) if params.get("childFilter") else None
    scopes = _scopes(params.getall("scope", []))

    for key in params:
        match = _FILTER.match(key)
        if key.startswith("filters") and match is None:
            raise ApiError(400, f"a filter is filters[FIELD][OPERATION]=value, got {key!r}")
        if match is None:
            continue
        field, operation, label_key = match.groups()
        if field not in _SUPPORTED:
            fields = ", ".join(_SUPPORTED)
            raise ApiError(400, f"cannot filter executions by {field!r}; fields: {fields}")
        if operation not in _SUPPORTED[field]:
            ops = ", ".join(_SUPPORTED[field])
            raise ApiError(400, f"filters[{field}] takes {ops}, not {operation}")
        values = params.getall(key)
        value = values[-1]
        what = f"filters[{field}][{operation}]"
        if field in ("q", "query"):
            q = value or None
        elif field == "namespace":
            namespace = value or None
        elif field == "flowId":
            flow_id = value or None
        elif field == "state":
            chosen = _states(values, what)
            (states if operation in ("EQUALS", "IN") else excluded).update(chosen)
        elif field == "labels":
            if label_key is not None:
                labels[label_key] = value
            else:
                labels.update(_label(item) for item in _split(values))
        elif field == "startDate" and operation.startswith("GREATER"):
            start = parse_date(value, what)
        elif field in ("startDate", "endDate"):
            end = parse_date(value, what)
        elif field == "timeRange":
            start = _since(value, now, what)
        elif field == "triggerExecutionId":
            trigger_execution_id = value or None
        elif field == "childFilter":
            child_filter = _child_filter(value)
        elif field == "scope":
            scopes |= _scopes(values)
    if len(labels) > MAX_LABELS:
        raise ApiError(400, f"at most {MAX_LABELS} labels")
    if start is not None and end is not None and start > end:
        raise ApiError(400, "startDate is after endDate")
    if excluded:
        states = (states or set(State)) - excluded
    query = ExecutionQuery(
        namespace=namespace,
        flow_id=flow_id,
        states=tuple(sorted(states, key=lambda s: s.value)),
        labels=labels,
        start=start,
        end=end,
        q=q,
        trigger_execution_id=trigger_execution_id,
        child_filter=child_filter,
        sort=sort,
        is_descending=is_descending,
        limit=limit,
        offset=offset,
    )
    can_match = not (scopes == {MATCHES_NOTHING} or (excluded and not states))
    return query, can_match


def paged(query: ExecutionQuery, limit: int, offset: int) -> ExecutionQuery:
    return replace(query, limit=limit, offset=offset)
