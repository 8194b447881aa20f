"""Logs: an execution's lines (filtered, paged), a search, a text download, a live follow."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.store.base import LEVELS, LogQuery
from engine.web.api import Services
from engine.web.http import ApiError, ApiRoutes, json_response, page_args, query_date, query_int
from engine.web.kestra_json import log_json, log_text
from engine.web.sse import EventStream, stream

__all__ = ["log_routes"]

DOWNLOAD_PAGE = 5_000
FOLLOW_PAGE = 500
MAX_EXECUTION_LOGS = 10_000


def _filters(request: web.Request, execution_id: str | None) -> dict[str, Any]:
    level = (request.query.get("minLevel") or "TRACE").upper()
    if level not in LEVELS:
        raise ApiError(400, f"minLevel is one of {', '.join(LEVELS)}, got {level!r}")
    return {
        "execution_id": execution_id,
        "min_level": level,
        "task_run_id": request.query.get("taskRunId") or None,
        "task_id": request.query.get("taskId") or None,
        "attempt": query_int(request, "attempt", None, minimum=1),
    }


async def _execution_or_404(services: Services, request: web.Request) -> str:
    execution_id = request.match_info["execution_id"]
    if await services.store.get_execution(execution_id) is None:
        raise ApiError(404, f"execution {execution_id} not found")
    return execution_id


async def execution_logs(services: Services, request: web.Request) -> web.StreamResponse:
    execution_id = await _execution_or_404(services, request)
    if "page" in request.query or "size" in request.query:
        limit, offset = page_args(request, default_size=100)
    else:
        limit, offset = MAX_EXECUTION_LOGS, 0  # Kestra answers the whole list
    found, _ = await services.store.search_logs(
        LogQuery(**_filters(request, execution_id), limit=limit, offset=offset)
    )
    return json_response([log_json(e) for e in found])


def _log_sort(request: web.Request) -> bool:
    """`sort=timestamp:asc` (the default) or `timestamp:desc`: True for newest first."""
    raw = request.query.get("sort") or "timestamp:asc"
    if raw not in ("timestamp:asc", "timestamp:desc"):
        raise ApiError(400, f"sort is timestamp:asc or timestamp:desc, got {raw!r}")
    return raw.endswith(":desc")


async def search_logs(services: Services, request: web.Request) -> web.StreamResponse:
    limit, offset = page_args(request, default_size=100)
    start, end = query_date(request, "startDate"), query_date(request, "endDate")
    if start is not None and end is not None and start > end:
        raise ApiError(400, "startDate is after endDate")
    found, total = await services.store.search_logs(
        LogQuery(
            **_filters(request, request.query.get("executionId") or None),
            namespace=request.query.get("namespace") or None,
            flow_id=request.query.get("flowId") or None,
            q=request.query.get("q") or None,
            start=start,
            end=end,
            is_descending=_log_sort(request),
            limit=limit,
            offset=offset,
        )
    )
    return json_response({"results": [log_json(e) for e in found], "total": total})


async def download_logs(services: Services, request: web.Request) -> web.StreamResponse:
    execution_id = await _execution_or_404(services, request)
    # the same filters as the UI's view, text included: what you see is what you download
    filters = {**_filters(request, execution_id), "q": request.query.get("q") or None}
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{execution_id}.log"',
        }
    )
    await response.prepare(request)
    offset = 0
    while True:
        found, _ = await services.store.search_logs(
            LogQuery(**filters, limit=DOWNLOAD_PAGE, offset=offset)
        )
        if found:
            await response.write("".join(log_text(e) + "\n" for e in found).encode())
        if len(found) < DOWNLOAD_PAGE:
            break
        offset += len(found)
    await response.write_eof()
    return response


async def follow_logs(services: Services, request: web.Request) -> web.StreamResponse:
    store = services.store
    execution_id = await _execution_or_404(services, request)
    filters = _filters(request, execution_id)
    # resume after the last line a client saw: EventSource sends Last-Event-ID
    resume = request.headers.get("Last-Event-ID") or request.query.get("after") or "-1"
    try:
        cursor = [int(resume)]
    except ValueError:
        raise ApiError(400, f"Last-Event-ID / after: not a log position: {resume!r}") from None
    ended_polls = [0]

    async def poll(events: EventStream) -> bool:
        found, _ = await store.search_logs(LogQuery(**filters, after=cursor[0], limit=FOLLOW_PAGE))
        for entry in found:
            await events.send(log_json(entry), event_id=entry.position)
            cursor[0] = entry.position
        if len(found) == FOLLOW_PAGE:
            return False
        execution = await store.get_execution(execution_id)
        if execution is not None and execution.state.is_terminal:
            # lines of the last moments may be projected just after the end
            ended_polls[0] += 1
            return ended_polls[0] > 2
        return False

    return await stream(request, poll)


def log_routes(services: Services, api: ApiRoutes) -> None:
    api.get("/logs/search", services.bind(search_logs))
    api.get("/logs/{execution_id}", services.bind(execution_logs))
    api.get("/logs/{execution_id}/download", services.bind(download_logs))
    api.get("/logs/{execution_id}/follow", services.bind(follow_logs))
