"""The dashboard's numbers: executions per time bucket and state, what runs now, and the
flows that fail most in the range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from engine.web.api import Services
from engine.web.http import ApiError, ApiRoutes, json_response, query_date

__all__ = ["stats_routes"]

MAX_BUCKETS = 2_000
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


async def execution_stats(services: Services, request: web.Request) -> web.StreamResponse:
    interval = request.query.get("interval") or "day"
    if interval not in _STEP:
        raise ApiError(400, "interval is hour or day")
    end = query_date(request, "endDate") or datetime.now(UTC)
    start = query_date(request, "startDate") or end - timedelta(days=30)
    if start >= end:
        raise ApiError(400, "startDate must be before endDate")
    if (end - start) / _STEP[interval] > MAX_BUCKETS:
        raise ApiError(400, f"at most {MAX_BUCKETS} {interval}s: narrow the range")
    stats = await services.store.execution_stats(start, end, interval)  # type: ignore[arg-type]
    return json_response(
        {
            "buckets": [
                {"start": bucket.isoformat(), "counts": dict(counts)}
                for bucket, counts in stats.buckets
            ],
            "running": stats.running,
            "queued": stats.queued,
            "failingFlows": [
                {
                    "namespace": f.namespace,
                    "flowId": f.flow_id,
                    "failed": f.failed,
                    "lastFailure": f.last_failure.isoformat(),
                }
                for f in stats.failing_flows
            ],
        }
    )


def stats_routes(services: Services, api: ApiRoutes) -> None:
    api.get("/stats/executions", services.bind(execution_stats))
