"""Executions administered over HTTP as Kestra's UI and scripts do it: bulk actions by ids
and by query (all or nothing, Kestra's BulkResponse and error shape), delete (logs,
metrics and files too), change-status, unqueue, force-run, eval (the debug expression:
no secrets, bounded), file metas, task-run metrics, and the 1.x search filters."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import engine.web.api.bulk as bulk
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import Api, basic

NS = "tests.admin"
SECRET_VALUE = "hunter2-is-the-secret"

HELLO = f"""
id: hello
namespace: {NS}
tasks:
  - {{id: answer, type: io.kestra.plugin.core.debug.Return, format: "hi"}}
"""

FAILING = f"""
id: failing
namespace: {NS}
tasks:
  - {{id: boom, type: io.kestra.plugin.core.execution.Fail, errorMessage: no luck}}
"""

FAILS_THEN_GOES_ON = f"""
id: fails-first
namespace: {NS}
inputs:
  - {{id: token, type: SECRET, defaults: not-shown}}
tasks:
  - id: group
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - {{id: boom, type: io.kestra.plugin.core.execution.Fail, errorMessage: no luck}}
  - {{id: after, type: io.kestra.plugin.core.debug.Return, format: "went on"}}
"""

RETRIED_LATER = f"""
id: retried-later
namespace: {NS}
retry: {{type: constant, interval: PT1H, maxAttempts: 2, behavior: CREATE_NEW_EXECUTION}}
tasks:
  - {{id: boom, type: io.kestra.plugin.core.execution.Fail, errorMessage: no luck}}
"""

SLOW = f"""
id: slow
namespace: {NS}
tasks:
  - {{id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT60S}}
"""

QUEUED = f"""
id: one-at-a-time
namespace: {NS}
concurrency: {{limit: 1, behavior: QUEUE}}
tasks:
  - {{id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT60S}}
"""

MEASURED = f"""
id: measured
namespace: {NS}
inputs:
  - {{id: token, type: SECRET}}
tasks:
  - id: measure
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    outputFiles: [report.txt]
    commands:
      - |
        echo measuring
        printf 'hello report' > report.txt
        echo '::{{"outputs": {{"count": 7}}, "metrics": [{{"name": "rows", "type": "counter", "value": 42, "tags": {{"table": "t"}}}}]}}::'
"""


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    environ = {"SECRET_TOKEN": base64.b64encode(SECRET_VALUE.encode()).decode()}
    async with (
        running_podium(tmp_path / "data", serve_http=True, environ=environ) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Api(podium, f"http://127.0.0.1:{podium.port}", http)


async def state_of(api: Api, execution_id: str) -> str | None:
    async with api.http.get(api.url(f"/api/v1/executions/{execution_id}")) as got:
        return (await got.json())["state"]["current"] if got.status == 200 else None


async def wait_state(api: Api, execution_id: str, *states: str) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while (found := await state_of(api, execution_id)) not in states:
        assert asyncio.get_running_loop().time() < deadline, f"{execution_id}: {found}"
        await asyncio.sleep(0.05)


async def logged(api: Api, execution_id: str) -> None:
    """Until the execution's log lines are stored."""
    deadline = asyncio.get_running_loop().time() + 20
    while not (await api.json("GET", f"/api/v1/logs/search?executionId={execution_id}"))["total"]:
        assert asyncio.get_running_loop().time() < deadline, f"no logs for {execution_id}"
        await asyncio.sleep(0.05)


async def start(api: Api, flow_id: str) -> str:
    created = await api.json("POST", f"/api/v1/executions/{NS}/{flow_id}")
    return created["id"]


async def search(api: Api, query: str) -> list[dict[str, Any]]:
    found = await api.json("GET", f"/api/v1/executions/search?size=100&{query}")
    return found["results"]


async def test_bulk_actions_by_ids_are_all_or_nothing(api: Api) -> None:
    for source in (HELLO, FAILING, SLOW):
        await api.deploy(source)
    ok = (await api.run(NS, "hello"))["id"]
    failed = (await api.run(NS, "failing"))["id"]
    running = await start(api, "slow")
    await wait_state(api, running, "RUNNING")

    refused = await api.json(
        "DELETE", "/api/v1/executions/kill/by-ids", 400, json=[running, ok, "no-such-id"]
    )
    assert refused["message"] == "invalid bulk kill"
    assert {(i["invalidValue"], i["message"]) for i in refused["invalids"]} == {
        ("no-such-id", "execution not found"),
        (ok, "execution already finished"),
    }
    assert await state_of(api, running) == "RUNNING"  # nothing was done
    assert await api.json("DELETE", "/api/v1/executions/kill/by-ids", json=[running]) == {
        "count": 1
    }
    await wait_state(api, running, "KILLED")

    refused = await api.json("POST", "/api/v1/executions/restart/by-ids", 400, json=[ok, failed])
    assert refused["invalids"] == [
        {"message": "execution not in state FAILED or KILLED", "invalidValue": ok}
    ]
    assert await api.json("POST", "/api/v1/executions/restart/by-ids", json=[failed]) == {
        "count": 1
    }
    await wait_state(api, failed, "FAILED")
    restarted = await api.json("GET", f"/api/v1/executions/{failed}")
    assert {"key": "system.restarted", "value": "true"} in restarted["labels"]
    assert len(restarted["taskRunList"][0]["attempts"]) == 2

    for path in ("restart/by-ids?latestRevision=true", f"{failed}/replay?revision=1"):
        refused = await api.json("POST", f"/api/v1/executions/{path}", 400, json=[failed])
        assert "another flow revision" in refused["message"]
    assert await api.json("POST", "/api/v1/executions/replay/by-ids", json=[ok, ok]) == {
        "count": 1  # each id once
    }

    labels = {"executionsId": [ok, failed], "executionLabels": [{"key": "team", "value": "x"}]}
    assert await api.json("POST", "/api/v1/executions/labels/by-ids", json=labels) == {"count": 2}
    system = {"executionsId": [ok], "executionLabels": [{"key": "system.x", "value": "1"}]}
    refused = await api.json("POST", "/api/v1/executions/labels/by-ids", 400, json=system)
    assert "System labels" in refused["message"]

    refused = await api.json(
        "POST", "/api/v1/executions/change-status/by-ids?newStatus=RUNNING", 400, json=[ok]
    )
    assert "terminal state" in refused["message"]
    assert await api.json(
        "POST", "/api/v1/executions/change-status/by-ids?newStatus=WARNING", json=[ok]
    ) == {"count": 1}
    await wait_state(api, ok, "WARNING")
    deadline = asyncio.get_running_loop().time() + 20
    while len(await search(api, "labels=team:x")) < 2:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    # the state stays what change-status made it: the labels came after it
    assert await state_of(api, ok) == "WARNING"

    for body in ({"ids": [ok]}, [1, 2], "not json"):
        kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
        await api.json("DELETE", "/api/v1/executions/kill/by-ids", 400, **kwargs)


async def test_bulk_actions_by_query_use_the_search_filters(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.deploy(HELLO)
    await api.deploy(FAILING)
    hellos = [(await api.run(NS, "hello"))["id"] for _ in range(2)]
    failed = (await api.run(NS, "failing"))["id"]
    # 1.x filters and 0.x parameters say the same
    legacy = await search(api, f"namespace={NS}&state=SUCCESS")
    modern = await search(
        api,
        f"filters[namespace][PREFIX]={NS}&filters[state][IN]=SUCCESS&filters[scope][EQUALS]=USER",
    )
    assert sorted(e["id"] for e in legacy) == sorted(e["id"] for e in modern) == sorted(hellos)
    assert [e["id"] for e in await search(api, "filters[state][NOT_IN]=SUCCESS")] == [failed]
    assert await search(api, "filters[scope][EQUALS]=SYSTEM") == []
    oldest_first = await search(api, f"namespace={NS}&sort=state.startDate:asc")
    assert oldest_first[0]["id"] == hellos[0]
    assert len(await search(api, "filters[childFilter][EQUALS]=MAIN&timeRange=PT1H")) == 3
    for bad in (
        "filters[color][EQUALS]=red",
        "filters[state][CONTAINS]=SUCC",
        "filters[state][IN]=NOPE",
        "filters=broken",
        "timeRange=yesterday",
        "childFilter=SOME",
    ):
        await api.json("GET", f"/api/v1/executions/search?{bad}", 400)

    found = await api.json(
        "POST", f"/api/v1/executions/labels/by-query?flowId=hello&namespace={NS}",
        json=[{"key": "batch", "value": "1"}],
    )  # fmt: skip
    assert found == {"count": 2}
    refused = await api.json(
        "DELETE", f"/api/v1/executions/kill/by-query?namespace={NS}", 400
    )  # every one has ended
    assert len(refused["invalids"]) == 3
    assert await api.json(
        "POST", "/api/v1/executions/restart/by-query?filters[state][EQUALS]=SUCCESS&"
        "filters[flowId][EQUALS]=nothing-matches"
    ) == {"count": 0}  # fmt: skip
    monkeypatch.setattr(bulk, "MAX_BULK", 2)
    refused = await api.json("POST", f"/api/v1/executions/replay/by-query?namespace={NS}", 400)
    assert "more than 2" in refused["message"]


async def test_delete_removes_the_execution_its_logs_metrics_and_files(api: Api) -> None:
    await api.deploy(MEASURED)
    await api.deploy(SLOW)
    done = await api.run(NS, "measured", token="my-token")
    assert done["state"]["current"] == "SUCCESS", done
    execution_id = done["id"]
    [run] = done["taskRunList"]
    uri = run["outputs"]["outputFiles"]["report.txt"]
    local = api.podium.intake.storage.path_of(uri)  # type: ignore[union-attr]
    assert local.read_bytes() == b"hello report"
    await logged(api, execution_id)
    assert (await api.json("GET", f"/api/v1/metrics/{execution_id}"))["total"] == 1

    async with api.http.delete(api.url(f"/api/v1/executions/{execution_id}")) as got:
        assert got.status == 204
    await api.json("GET", f"/api/v1/executions/{execution_id}", 404)
    assert (await api.json("GET", f"/api/v1/logs/search?executionId={execution_id}"))["total"] == 0
    await api.json("GET", f"/api/v1/metrics/{execution_id}", 404)
    assert await api.json("GET", f"/api/v1/metrics/names/{NS}/measured") == []
    assert not local.exists() and not local.parent.exists()
    await api.json("DELETE", f"/api/v1/executions/{execution_id}", 404)

    # a running execution is deleted only when asked to; it is killed and stays deleted
    running = await start(api, "slow")
    await wait_state(api, running, "RUNNING")
    refused = await api.json("DELETE", "/api/v1/executions/by-ids", 400, json=[running])
    assert "includeNonTerminated" in refused["invalids"][0]["message"]
    assert await api.json(
        "DELETE", "/api/v1/executions/by-ids?includeNonTerminated=true", json=[running]
    ) == {"count": 1}
    await api.json("GET", f"/api/v1/executions/{running}", 404)
    kept = (await api.run(NS, "measured", token="t"))["id"]
    assert await api.json(
        "DELETE", "/api/v1/executions/by-query?flowId=measured&deleteLogs=false", json=None
    ) == {"count": 1}
    await logged(api, kept)
    await api.podium.projector.caught_up()
    await api.json("GET", f"/api/v1/executions/{running}", 404)  # its KILLED was fenced off


async def test_metrics_eval_and_file_metas_of_an_ended_task_run(api: Api) -> None:
    await api.deploy(MEASURED)
    done = await api.run(NS, "measured", token=SECRET_VALUE)
    execution_id = done["id"]
    [run] = done["taskRunList"]
    run_id = run["id"]

    metrics = await api.json("GET", f"/api/v1/metrics/{execution_id}?taskId=measure")
    assert metrics["total"] == 1
    [entry] = metrics["results"]
    assert entry["name"] == "rows" and entry["value"] == 42 and entry["type"] == "counter"
    assert entry["tags"] == {"table": "t"} and entry["taskRunId"] == run_id
    assert entry["namespace"] == NS and entry["flowId"] == "measured"
    assert (await api.json("GET", f"/api/v1/metrics/{execution_id}?taskRunId=x"))["total"] == 0
    assert await api.json("GET", f"/api/v1/metrics/names/{NS}/measured") == ["rows"]
    assert await api.json("GET", f"/api/v1/metrics/names/{NS}/measured/measure") == ["rows"]
    assert await api.json("GET", f"/api/v1/metrics/tasks/{NS}/measured") == ["measure"]
    month = await api.json("GET", f"/api/v1/metrics/aggregates/{NS}/measured/rows")
    assert month["groupBy"] == "day" and len(month["aggregations"]) in (30, 31)
    assert [a["value"] for a in month["aggregations"] if a["value"] is not None] == [42]
    hour = await api.json(
        "GET", f"/api/v1/metrics/aggregates/{NS}/measured/measure/rows?aggregation=max&"
        f"startDate={entry['timestamp'][:16]}",
    )  # fmt: skip
    assert hour["groupBy"] == "minute" and hour["aggregations"][0]["value"] == 42
    await api.json("GET", f"/api/v1/metrics/aggregates/{NS}/measured/rows?aggregation=p99", 400)
    await api.json(
        "GET", f"/api/v1/metrics/aggregates/{NS}/measured/rows?startDate=2030-01-01T00:00:00Z"
        "&endDate=2029-01-01T00:00:00Z", 400,
    )  # fmt: skip
    await api.json("GET", "/api/v1/metrics/no-such-execution", 404)

    async def evaluate(expression: str, status: int = 200, run: str = run_id) -> Any:
        return await api.json(
            "POST", f"/api/v1/executions/{execution_id}/eval/{run}", status,
            data=expression.encode(), headers={"Content-Type": "text/plain"},
        )  # fmt: skip

    assert await evaluate("{{ outputs.measure.vars.count + 1 }}") == {"result": "8"}
    assert await evaluate("{{ taskrun.id }} {{ task.id }} {{ flow.id }}") == {
        "result": f"{run_id} measure measured"
    }
    # no secret reaches the answer: secret() is refused, SECRET inputs are masked, and a
    # value that is a secret is masked whatever way it got there
    refused = await evaluate("{{ secret('TOKEN') }}")
    assert "secrets are not available here" in refused["error"] and "result" not in refused
    assert refused["stackTrace"].startswith("TemplateError")
    assert await evaluate("{{ inputs.token }}") == {"result": "******"}
    assert SECRET_VALUE not in str(await evaluate("{{ printContext() }}"))
    broken = await evaluate("{{ outputs.measure.vars.count + }}")
    assert broken["error"] and "result" not in broken
    looping = await evaluate("{% for i in range(100000000) %}x{% endfor %}")
    assert looping["error"]
    await evaluate("", 400)
    await evaluate("{{ 1 }}", 404, run="no-such-run")
    await api.json("POST", "/api/v1/executions/nope/eval/x", 404, data=b"{{ 1 }}")
    await evaluate("x" * (70 << 10), 413)

    report = run["outputs"]["outputFiles"]["report.txt"]
    metas = await api.json(
        "GET", f"/api/v1/executions/{execution_id}/file/metas", params={"path": report}
    )
    assert metas == {"size": len(b"hello report")}
    await api.json("GET", f"/api/v1/executions/{execution_id}/file/metas", 400)
    outside = "kestra:///tests/admin/measured/executions/other/x.txt"
    await api.json(
        "GET", f"/api/v1/executions/{execution_id}/file/metas", 400, params={"path": outside}
    )

    async with aiohttp.ClientSession() as anonymous:
        for method, path in (
            ("DELETE", "/api/v1/executions/kill/by-ids"),
            ("POST", f"/api/v1/executions/{execution_id}/eval/{run_id}"),
            ("GET", f"/api/v1/metrics/{execution_id}"),
            ("DELETE", f"/api/v1/executions/{execution_id}"),
        ):
            async with anonymous.request(method, api.url(path)) as got:
                assert got.status == 401, (method, path)


async def test_change_status_unqueue_and_force_run(api: Api) -> None:
    await api.deploy(HELLO)
    await api.deploy(QUEUED)
    ok = (await api.run(NS, "hello"))["id"]
    changed = await api.json("POST", f"/api/v1/executions/{ok}/change-status?status=failed")
    assert changed["id"] == ok and changed["state"]["current"] == "FAILED"
    await wait_state(api, ok, "FAILED")
    await api.json("POST", f"/api/v1/executions/{ok}/change-status", 400)
    await api.json("POST", f"/api/v1/executions/{ok}/change-status?status=RUNNING", 400)
    await api.json("POST", "/api/v1/executions/nope/change-status?status=FAILED", 404)

    first = await start(api, "one-at-a-time")
    await wait_state(api, first, "RUNNING")
    second = await start(api, "one-at-a-time")
    third = await start(api, "one-at-a-time")
    await wait_state(api, second, "QUEUED")
    await wait_state(api, third, "QUEUED")
    await api.json("POST", f"/api/v1/executions/{first}/change-status?status=FAILED", 409)
    await api.json("POST", f"/api/v1/executions/{first}/unqueue", 409)
    await api.json("POST", f"/api/v1/executions/{second}/unqueue?state=SUCCESS", 400)
    unqueued = await api.json("POST", f"/api/v1/executions/{second}/unqueue?state=CANCELLED")
    assert unqueued["state"]["current"] == "CANCELLED"
    await wait_state(api, second, "CANCELLED")
    await api.json("POST", f"/api/v1/executions/{ok}/force-run", 409)
    await api.json("POST", f"/api/v1/executions/{third}/force-run")
    await wait_state(api, third, "RUNNING")  # past the limit of 1
    assert await state_of(api, first) == "RUNNING"
    assert await api.json(
        "DELETE", "/api/v1/executions/kill/by-query?flowId=one-at-a-time&state=RUNNING"
    ) == {"count": 2}
    await wait_state(api, third, "KILLED")

    # a flow retry waits an hour before its next attempt: force-run starts it now
    await api.deploy(RETRIED_LATER)
    first_try = await api.run(NS, "retried-later")
    assert first_try["state"]["current"] == "RETRIED"
    deadline = asyncio.get_running_loop().time() + 20
    while not (later := await search(api, "flowId=retried-later")) or (len(later) < 2):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    [second_try] = [e for e in later if e["id"] != first_try["id"]]
    assert second_try["state"]["current"] == "CREATED"
    assert await api.json(
        "POST", "/api/v1/executions/force-run/by-ids", json=[second_try["id"]]
    ) == {"count": 1}
    await wait_state(api, second_try["id"], "FAILED")


async def test_a_task_run_marked_success_lets_the_execution_go_on(api: Api) -> None:
    await api.deploy(FAILS_THEN_GOES_ON)
    await api.deploy(SLOW)
    failed = await api.run(NS, "fails-first")
    assert failed["state"]["current"] == "FAILED"
    boom = next(r for r in failed["taskRunList"] if r["taskId"] == "boom")
    path = f"/api/v1/executions/{failed['id']}/state"
    for body, status in (
        ({"taskRunId": boom["id"], "state": "RUNNING"}, 400),
        ({"taskRunId": boom["id"]}, 400),
        ({"state": "SUCCESS"}, 400),
        ({"taskRunId": "no-such-run", "state": "SUCCESS"}, 404),
        ({"taskRunId": boom["id"], "state": "FAILED"}, 409),  # it is FAILED already
    ):
        await api.json("POST", path, status, json=body)
    await api.json("POST", "/api/v1/executions/nope/state", 404, json={})
    planned = await api.json("POST", path, json={"taskRunId": boom["id"], "state": "SUCCESS"})
    assert planned["state"]["current"] == "RESTARTED"
    assert planned["inputs"]["token"] == "******"
    await wait_state(api, failed["id"], "SUCCESS")
    done = await api.json("GET", f"/api/v1/executions/{failed['id']}")
    runs = {r["taskId"]: r for r in done["taskRunList"]}
    assert runs["boom"]["state"]["current"] == "SUCCESS"
    assert runs["group"]["state"]["current"] == "SUCCESS"
    assert runs["after"]["outputs"] == {"value": "went on"}
    boom_states = [h["state"] for h in runs["boom"]["state"]["histories"]]
    assert boom_states[-2:] == ["RESTARTED", "SUCCESS"]

    running = await start(api, "slow")
    await wait_state(api, running, "RUNNING")
    await api.json(
        "POST", f"/api/v1/executions/{running}/state", 409,
        json={"taskRunId": "any", "state": "SUCCESS"},
    )  # fmt: skip
    await api.json("DELETE", f"/api/v1/executions/{running}/kill", 202)
