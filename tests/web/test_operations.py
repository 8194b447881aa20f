"""Health, readiness, metrics, the OpenAPI document against the router, the dashboard's
stats, and errors as JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from engine.metrics import Registry
from tests.web.conftest import HELLO, Api
from tests.web.test_executions_api import RETRIED


def _template(path: str) -> str:
    """A path with its parameters unnamed, and the tenant form folded into the plain one."""
    return re.sub(r"\{[^}]+\}", "{}", path.replace("/api/v1/main/", "/api/v1/", 1))


async def test_every_route_is_documented_and_every_documented_path_is_routed(api: Api) -> None:
    document = await api.json("GET", "/api/v1/openapi.json")
    assert document["openapi"].startswith("3.1")
    documented = {
        (method.upper(), _template(path))
        for path, operations in document["paths"].items()
        for method in operations
    }
    runner_app = api.podium.http_app
    routed = set()
    for route in runner_app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or canonical == "/" or canonical.startswith("/ui"):
            continue  # HEAD comes with GET; the UI's static files are not the API
        routed.add((route.method, _template(canonical)))
    assert routed - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routed == set(), "documented paths the server does not route"
    # both spellings of every API path are routed
    tenants = {r.resource.canonical for r in runner_app.router.routes() if r.resource is not None}
    for path in document["paths"]:
        if path.startswith("/api/v1/"):
            assert any(_template(t) == _template(path) and "/main/" in t for t in tenants), path


async def test_health_readiness_and_metrics(api: Api) -> None:
    assert (await api.json("GET", "/health"))["status"] == "UP"
    ready = await api.json("GET", "/health/ready")
    assert ready["status"] == "UP" and all(ready["ready"].values())
    await api.deploy(HELLO)
    await api.deploy(RETRIED)
    await api.run("tests.web", "hello")
    await api.run("tests.web", "retried")
    await api.json("GET", "/api/v1/flows/tests.web/hello")
    async with api.http.get(api.url("/metrics")) as got:
        assert got.status == 200 and got.headers["Content-Type"].startswith("text/plain")
        text = await got.text()
    assert 'podium_executions{state="SUCCESS"} 1' in text
    assert 'podium_executions{state="FAILED"} 1' in text
    assert "podium_executor_running_executions " in text
    assert "podium_executor_queued_executions 0" in text
    assert "podium_projector_lag_events " in text
    assert re.search(r"podium_projector_applied_events [1-9]", text)
    assert re.search(r'podium_task_run_duration_seconds_count\{state="SUCCESS"\} [1-9]', text)
    assert 'podium_task_run_duration_seconds_bucket{state="FAILED",le="+Inf"}' in text
    assert 'podium_executions_ended_total{state="FAILED"} 1' in text
    assert re.search(
        r'podium_http_request_duration_seconds_count\{method="GET",'
        r'route="/api/v1/flows/\{namespace\}/\{id\}",status="200"\} 1',
        text,
    )


async def test_dashboard_stats(api: Api) -> None:
    await api.deploy(HELLO)
    await api.deploy(RETRIED)
    await api.run("tests.web", "hello")
    await api.run("tests.web", "retried")
    await api.run("tests.web", "retried")
    end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    stats = await api.json(
        "GET", "/api/v1/stats/executions", params={"interval": "hour", "endDate": end}
    )
    assert sum(b["counts"].get("SUCCESS", 0) for b in stats["buckets"]) == 1
    assert sum(b["counts"].get("FAILED", 0) for b in stats["buckets"]) == 2
    assert (stats["running"], stats["queued"]) == (0, 0)
    [failing] = stats["failingFlows"]
    assert (failing["flowId"], failing["failed"]) == ("retried", 2) and failing["lastFailure"]
    for bad in ("interval=week", "startDate=x", "startDate=2026-02-01&endDate=2026-01-01",
                "interval=hour&startDate=2000-01-01T00:00:00Z"):  # fmt: skip
        await api.json("GET", f"/api/v1/stats/executions?{bad}", 400)


async def test_errors_are_json(api: Api) -> None:
    answer = await api.json("GET", "/api/v1/no/such/route", 404)
    assert answer["message"]
    async with api.http.patch(api.url("/api/v1/flows")) as got:
        assert got.status == 405 and "message" in await got.json() and "Allow" in got.headers


def test_metrics_render_in_the_prometheus_text_format() -> None:
    registry = Registry()
    counter = registry.counter("c_total", "a counter", ("kind",))
    counter.inc(kind='a"b\\c\nd')
    counter.inc(2, kind="x")
    histogram = registry.histogram("h_seconds", "a histogram", buckets=(0.1, 1))
    for value in (0.05, 0.5, 5):
        histogram.observe(value)
    registry.gauge_callback("g", "a gauge", lambda: [((), 1.5)])
    registry.gauge_callback("broken", "fails", lambda: 1 / 0)  # type: ignore[arg-type, return-value]
    text = registry.render()
    assert '# TYPE c_total counter\nc_total{kind="a\\"b\\\\c\\nd"} 1\nc_total{kind="x"} 2' in text
    assert (
        'h_seconds_bucket{le="0.1"} 1\nh_seconds_bucket{le="1"} 2\nh_seconds_bucket{le="+Inf"} 3'
        in text
    )
    assert "h_seconds_sum 5.55\nh_seconds_count 3" in text
    assert "# TYPE g gauge\ng 1.5" in text and "broken" not in text
    assert text.endswith("\n")
    with pytest.raises(ValueError, match="only goes up"):
        counter.inc(-1, kind="x")
    with pytest.raises(ValueError, match="twice"):
        registry.counter("c_total", "again")
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(other="x")
