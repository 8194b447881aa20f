"""Task-run metrics (what tasks and scripts emit: counters and timers), at Kestra's paths:

GET /metrics/{executionId}                            an execution's, paged (taskRunId, taskId)
GET /metrics/names/{namespace}/{flowId}[/{taskId}]    the metric names of a flow (or task)
GET /metrics/tasks/{namespace}/{flowId}               the tasks of a flow that emitted some
GET /metrics/aggregates/{namespace}/{flowId}[/{taskId}]/{metric}
                                                      one metric over time: sum, avg, min or
                                                      max per minute, hour, day, week or month

Entries are Kestra's MetricEntry (`type` counter or timer, `value`, `timestamp`, `tags`);
aggregates are Kestra's MetricAggregations (`groupBy`, `aggregations: [{name, value, date}]`)
with the same bucket size for the same range (DateUtils.groupByType) and every bucket of
the range present (empty ones with a null value).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from engine.store.metrics import MetricEntry, MetricQuery
from engine.web.api import Services
from engine.web.http import ApiError, ApiRoutes, json_response, page_args, query_date

__all__ = ["MAX_AGGREGATED", "metric_routes"]

# the metric rows one aggregation may read; a range holding more is refused (narrow it)
MAX_AGGREGATED = 100_000
MAX_BUCKETS = 2_000
_AGGREGATIONS = ("sum", "avg", "min", "max")


def metric_json(entry: MetricEntry) -> dict[str, Any]:
    return {
        "namespace": entry.namespace,
        "flowId": entry.flow_id,
        "executionId": entry.execution_id,
        "taskId": entry.task_id,
        "taskRunId": entry.task_run_id,
        "type": entry.kind,
        "name": entry.name,
        "value": entry.value,
        "timestamp": entry.at.isoformat(),
        "tags": dict(entry.tags),
    }


async def execution_metrics(services: Services, request: web.Request) -> web.StreamResponse:
    execution_id = request.match_info["execution_id"]
    if await services.store.get_execution(execution_id) is None:
        raise ApiError(404, f"execution {execution_id} not found")
    limit, offset = page_args(request, default_size=10)
    query = MetricQuery(
        execution_id=execution_id,
        task_run_id=request.query.get("taskRunId") or None,
        task_id=request.query.get("taskId") or None,
        limit=limit,
        offset=offset,
    )
    found, total = await services.store.search_metrics(query)
    return json_response({"results": [metric_json(m) for m in found], "total": total})


async def metric_names(services: Services, request: web.Request) -> web.StreamResponse:
    info = request.match_info
    names = await services.store.metric_names(
        info["namespace"], info["flow_id"], info.get("task_id")
    )
    return json_response(names)


async def metric_tasks(services: Services, request: web.Request) -> web.StreamResponse:
    info = request.match_info
    return json_response(await services.store.metric_task_ids(info["namespace"], info["flow_id"]))


def _group_by(span: timedelta) -> str:
    """Kestra's DateUtils.groupByType: the bucket for a range of this length."""
    if span.days > 365:
        return "month"
    if span.days > 180:
        return "week"
    if span.days > 1:
        return "day"
    if span.total_seconds() // 3600 > 6:
        return "hour"
    return "minute"


def _bucket(at: datetime, group: str) -> datetime:
    at = at.astimezone(UTC)
    if group == "minute":
        return at.replace(second=0, microsecond=0)
    if group == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if group == "day":
        return day
    if group == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(bucket: datetime, group: str) -> datetime:
    if group == "month":
        return (bucket.replace(day=28) + timedelta(days=4)).replace(day=1)
    step = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
    return bucket + step.get(group, timedelta(weeks=1))


def _aggregate(values: list[float], how: str) -> float:
    if how == "sum":
        return sum(values)
    if how == "avg":
        return sum(values) / len(values)
    return min(values) if how == "min" else max(values)


async def metric_aggregates(services: Services, request: web.Request) -> web.StreamResponse:
    info = request.match_info
    how = (request.query.get("aggregation") or "sum").lower()
    if how not in _AGGREGATIONS:
        raise ApiError(400, f"Invalid aggregation: {how}; one of {', '.join(_AGGREGATIONS)}")
    now = services.intake.clock.now()
    end = query_date(request, "endDate") or now
    start = query_date(request, "startDate") or end - timedelta(days=30)
    if start > end:
        raise ApiError(400, "startDate is after endDate")
    group = _group_by(end - start)
    first = _bucket(start, group)
    buckets = 1
    cursor = first
    while (cursor := _next(cursor, group)) <= end:
        buckets += 1
        if buckets > MAX_BUCKETS:
            raise ApiError(400, f"the range makes more than {MAX_BUCKETS} {group}s: narrow it")
    query = MetricQuery(
        namespace=info["namespace"],
        flow_id=info["flow_id"],
        task_id=info.get("task_id"),
        name=info["metric"],
        start=start,
        end=end + timedelta(microseconds=1),  # Kestra's endDate is inclusive
        limit=MAX_AGGREGATED + 1,
    )
    found, total = await services.store.search_metrics(query)
    if total > MAX_AGGREGATED:
        raise ApiError(
            400, f"{total:,} values of {info['metric']} in the range, more than "
            f"{MAX_AGGREGATED:,}: narrow startDate/endDate",
        )  # fmt: skip
    grouped: dict[datetime, list[float]] = {}
    for entry in found:
        grouped.setdefault(_bucket(entry.at, group), []).append(entry.value)
    aggregations = []
    cursor = first
    while cursor <= end:
        values = grouped.get(cursor)
        aggregations.append(
            {
                "name": info["metric"],
                "value": _aggregate(values, how) if values else None,
                "date": cursor.isoformat(),
            }
        )
        cursor = _next(cursor, group)
    return json_response({"groupBy": group, "aggregations": aggregations})


def metric_routes(services: Services, api: ApiRoutes) -> None:
    bind = services.bind
    api.get("/metrics/names/{namespace}/{flow_id}", bind(metric_names))
    api.get("/metrics/names/{namespace}/{flow_id}/{task_id}", bind(metric_names))
    api.get("/metrics/tasks/{namespace}/{flow_id}", bind(metric_tasks))
    api.get("/metrics/aggregates/{namespace}/{flow_id}/{metric}", bind(metric_aggregates))
    api.get("/metrics/aggregates/{namespace}/{flow_id}/{task_id}/{metric}", bind(metric_aggregates))
    api.get("/metrics/{execution_id}", bind(execution_metrics))
