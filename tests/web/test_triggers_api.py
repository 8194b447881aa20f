"""Triggers over HTTP: a disabled trigger really stops (and stays disabled across a
restart), webhooks of a disabled trigger answer 404, backfills report their progress."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import Api, basic

TICKING = """
id: ticking
namespace: tests.web
tasks:
  - {id: tick, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.date }}"}
triggers:
  - {id: every_second, type: io.kestra.plugin.core.trigger.Schedule, cron: "* * * * * *", withSeconds: true}
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: tick-key}
"""

HOURLY = """
id: hourly
namespace: tests.web
inputs:
  - {id: who, type: STRING, defaults: schedule}
tasks:
  - {id: tick, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.who }}"}
triggers:
  - {id: hourly, type: io.kestra.plugin.core.trigger.Schedule, cron: "0 * * * *"}
"""


async def count(api: Api, flow_id: str, extra: str = "") -> int:
    found = await api.json("GET", f"/api/v1/executions/search?flowId={flow_id}&size=1{extra}")
    return found["total"]  # type: ignore[no-any-return]


async def until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_disabling_stops_a_schedule_and_its_webhook_even_after_a_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    headers = basic(ADMIN_USER, ADMIN_PASSWORD)
    async with (
        running_podium(data, serve_http=True, triggers={"refresh_seconds": 0.2}) as podium,
        aiohttp.ClientSession(headers=headers) as http,
    ):
        api = Api(podium, f"http://127.0.0.1:{podium.port}", http)
        await api.deploy(TICKING)
        listed = await api.json("GET", "/api/v1/triggers/search?flowId=ticking")
        assert listed["total"] == 2
        schedule = next(t for t in listed["results"] if t["triggerId"] == "every_second")
        assert schedule["disabled"] is False and schedule["backfill"] is None

        async def fired() -> bool:
            return await count(api, "ticking") >= 2

        await until(fired)
        answer = await api.json(
            "PUT", "/api/v1/triggers/tests.web/ticking/every_second", json={"disabled": True}
        )
        assert answer["disabled"] is True
        await api.json("PUT", "/api/v1/triggers/tests.web/ticking/hook", json={"disabled": True})
        await asyncio.sleep(1.5)  # let a firing in flight land
        before = await count(api, "ticking")
        await asyncio.sleep(2.5)
        assert await count(api, "ticking") == before
        hook = api.url("/api/v1/executions/webhook/tests.web/ticking/tick-key")
        async with aiohttp.ClientSession() as anonymous, anonymous.post(hook) as got:
            assert got.status == 404
        for bad in ({"disabled": "yes"}, {}, ["x"]):
            await api.json("PUT", "/api/v1/triggers/tests.web/ticking/every_second", 400, json=bad)
        await api.json(
            "PUT", "/api/v1/triggers/tests.web/ticking/nope", 404, json={"disabled": True}
        )
        await api.json("PUT", "/api/v1/triggers/tests.web/none/x", 404, json={"disabled": True})

    async with (
        running_podium(data, serve_http=True, triggers={"refresh_seconds": 0.2}) as podium,
        aiohttp.ClientSession(headers=headers) as http,
    ):
        api = Api(podium, f"http://127.0.0.1:{podium.port}", http)
        listed = await api.json("GET", "/api/v1/triggers/search?namespace=tests")
        assert all(t["disabled"] for t in listed["results"])
        before = await count(api, "ticking")
        await asyncio.sleep(2.5)
        assert await count(api, "ticking") == before  # still disabled after the restart
        await api.json(
            "PUT", "/api/v1/triggers/tests.web/ticking/every_second", json={"disabled": False}
        )
        await api.json(
            "PUT", "/api/v1/main/triggers/tests.web/ticking/hook", json={"disabled": False}
        )

        async def fires_again() -> bool:
            return await count(api, "ticking") >= before + 2

        await until(fires_again)
        hook = api.url("/api/v1/executions/webhook/tests.web/ticking/tick-key")
        async with aiohttp.ClientSession() as anonymous, anonymous.post(hook) as got:
            assert got.status == 200


async def test_a_backfill_runs_in_the_background_and_reports_progress(api: Api) -> None:
    await api.deploy(HOURLY)
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    start = (now - timedelta(hours=5)).isoformat()
    url = "/api/v1/triggers/tests.web/hourly/hourly/backfill"
    body = {
        "start": start,
        "end": now.isoformat(),
        "inputs": {"who": "backfill"},
        "labels": {"why": "gap"},
    }
    answer = await api.json("POST", url, json=body)
    assert answer["triggerId"] == "hourly" and answer["backfill"]["start"] == start

    async def finished() -> bool:
        listed = await api.json("GET", "/api/v1/triggers/search?flowId=hourly")
        progress = listed["results"][0]["backfill"]
        return progress is not None and progress["running"] is False

    await until(finished)
    listed = await api.json("GET", "/api/v1/triggers/search?flowId=hourly")
    progress = listed["results"][0]["backfill"]
    assert (progress["done"], progress["total"], progress["fired"], progress["error"]) == (
        5,
        5,
        5,
        None,
    )
    assert progress["currentDate"] is not None
    assert listed["results"][0]["nextExecutionDate"] is not None
    assert (listed["results"][0]["cron"], listed["results"][0]["timezone"]) == ("0 * * * *", None)

    async def all_ran() -> bool:
        return await count(api, "hourly", "&labels=why:gap&labels=backfill:true&state=SUCCESS") == 5

    await until(all_ran)
    await api.json("POST", url, 400, json={"start": "last week"})
    await api.json("POST", url, 400, json={"end": start})
    await api.json("POST", url, 400, json={"start": now.isoformat(), "end": start})
    await api.json("POST", url, 400, json={"start": start, "inputs": [1]})
    await api.json("POST", url, 400, data="{", headers={"Content-Type": "application/json"})
    await api.json("POST", "/api/v1/triggers/tests.web/hourly/none/backfill", 404, json=body)


async def test_only_a_schedule_is_backfilled(api: Api) -> None:
    await api.deploy(TICKING)
    await api.json(
        "POST",
        "/api/v1/triggers/tests.web/ticking/hook/backfill",
        400,
        json={"start": "2026-01-01T00:00:00Z"},
    )
    await api.json("GET", "/api/v1/triggers/search?page=0", 400)


UPSTREAM = """
id: upstream
namespace: tests.web
tasks:
  - {id: t, type: io.kestra.plugin.core.log.Log, message: up}
"""

DOWNSTREAM = """
id: downstream
namespace: tests.web
tasks:
  - {id: t, type: io.kestra.plugin.core.log.Log, message: down}
triggers:
  - id: after_upstream
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      flows: [{namespace: tests.web, flowId: upstream, states: [SUCCESS]}]
"""


async def test_a_disabled_flow_trigger_does_not_fire(api: Api) -> None:
    await api.deploy(UPSTREAM)
    await api.deploy(DOWNSTREAM)
    url = "/api/v1/triggers/tests.web/downstream/after_upstream"
    await api.json("PUT", url, json={"disabled": True})
    await asyncio.sleep(0.5)  # the service reconciles at once; give it a moment
    await api.run("tests.web", "upstream")
    await asyncio.sleep(2)
    assert await count(api, "downstream") == 0
    await api.json("PUT", url, json={"disabled": False})
    await asyncio.sleep(0.5)
    await api.run("tests.web", "upstream")

    async def fired() -> bool:
        return await count(api, "downstream") == 1

    await until(fired)
