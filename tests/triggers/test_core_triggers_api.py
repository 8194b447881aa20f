"""Kestra's http.Trigger, ScheduleOnDates, trigger.Toggle and the date conditions, end to
end through the REST API of a whole Podium on a FakeClock (polls and slots happen when
a test moves the clock; executions run in real time).

The endpoint the HTTP trigger polls is a small aiohttp app of this module, on loopback:
the network policy refuses loopback unless PODIUM_HTTP_ALLOWED_NETWORKS allows it, so
the tests allow it explicitly (and one checks that it is refused otherwise).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from engine.clock import FakeClock
from tasks.http.network import ALLOWED_NETWORKS_ENV
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import Api, basic


class Endpoint:
    """What the polled endpoint answers, and how often it was called."""

    def __init__(self) -> None:
        self.price = 120
        self.hits = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.json_response({"price": self.price}, headers={"X-Shop": "acme"})


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


class Rig:
    def __init__(self, api: Api, clock: FakeClock, endpoint: Endpoint, url: str) -> None:
        self.api, self.clock, self.endpoint, self.url = api, clock, endpoint, url

    async def executions(self, flow_id: str) -> list[dict[str, Any]]:
        found = await self.api.json("GET", f"/api/v1/executions/search?flowId={flow_id}&size=50")
        return list(found["results"])

    async def ended(self, flow_id: str, count: int) -> list[dict[str, Any]]:
        async def done() -> bool:
            found = await self.executions(flow_id)
            ends = ("SUCCESS", "FAILED", "WARNING", "KILLED", "CANCELLED")
            return sum(e["state"]["current"] in ends for e in found) >= count

        await until(done)
        return await self.executions(flow_id)

    async def trigger(self, flow_id: str, trigger_id: str) -> dict[str, Any]:
        found = await self.api.json("GET", f"/api/v1/triggers/search?flowId={flow_id}")
        return next(t for t in found["results"] if t["triggerId"] == trigger_id)

    async def runner_asleep(self, sleepers: int) -> None:
        async def asleep() -> bool:
            return self.clock.sleepers > sleepers

        await until(asleep)


@pytest.fixture
async def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, "127.0.0.0/8")
    endpoint = Endpoint()
    app = web.Application()
    app.router.add_get("/price", endpoint.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    try:
        async with (
            running_podium(
                tmp_path / "data", clock=clock, serve_http=True, triggers={"refresh_seconds": 0.1}
            ) as podium,
            aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
        ):
            api = Api(podium, f"http://127.0.0.1:{podium.port}", http)
            yield Rig(api, clock, endpoint, f"http://127.0.0.1:{port}/price")
    finally:
        await runner.cleanup()


PRICE_ALERT = """
id: price_alert
namespace: tests.triggers
tasks:
  - id: say
    type: io.kestra.plugin.core.debug.Return
    format: "{{ fromJson(trigger.body).price }} {{ trigger.code }} {{ trigger.headers['X-Shop'][0] }}"
triggers:
  - id: http
    type: io.kestra.plugin.core.http.Trigger
    uri: "%s"
    responseCondition: "{{ fromJson(response.body).price <= 110 }}"
    interval: PT30S
    stopAfter: [SUCCESS]
"""


async def test_http_trigger_fires_on_its_condition_then_stop_after_disables_it(rig: Rig) -> None:
    endpoint, clock = rig.endpoint, rig.clock
    sleeping = clock.sleepers
    await rig.api.deploy(PRICE_ALERT % rig.url)
    await rig.runner_asleep(sleeping)  # after its first poll, at start: 120 is too dear
    assert endpoint.hits == 1
    await clock.advance(30)
    await rig.runner_asleep(sleeping)
    assert endpoint.hits == 2 and await rig.executions("price_alert") == []
    endpoint.price = 100
    await clock.advance(30)
    [execution] = await rig.ended("price_alert", 1)
    assert execution["state"]["current"] == "SUCCESS"
    full = await rig.api.json("GET", f"/api/v1/executions/{execution['id']}")
    variables = full["trigger"]["variables"]
    assert variables["code"] == 200 and variables["uri"] == rig.url
    assert variables["headers"]["X-Shop"] == ["acme"]
    assert full["taskRunList"][0]["outputs"]["value"] == "100 200 acme"
    # the next look reads the execution: SUCCESS is a stopAfter state, the trigger is
    # disabled as the API disables one, and the endpoint is not called again
    await clock.advance(30)

    async def disabled() -> bool:
        return bool((await rig.trigger("price_alert", "http"))["disabled"])

    await until(disabled)
    hits = endpoint.hits
    for _ in range(3):
        await clock.advance(30)
    await asyncio.sleep(0.3)
    assert endpoint.hits == hits and len(await rig.executions("price_alert")) == 1
    # enabled again through the API: it polls (and fires) again
    sleeping = clock.sleepers
    await rig.api.json(
        "PUT", "/api/v1/triggers/tests.triggers/price_alert/http", json={"disabled": False}
    )
    await rig.runner_asleep(sleeping)
    assert len(await rig.ended("price_alert", 2)) == 2


PAUSED_ALERT = """
id: paused_alert
namespace: tests.triggers
tasks:
  - {id: hold, type: io.kestra.plugin.core.flow.Pause}
triggers:
  - id: http
    type: io.kestra.plugin.core.http.Trigger
    uri: "%s"
    interval: PT30S
"""


async def test_http_trigger_waits_for_its_running_execution_unless_allow_concurrent(
    rig: Rig,
) -> None:
    endpoint, clock = rig.endpoint, rig.clock
    await rig.api.deploy(PAUSED_ALERT % rig.url)  # default condition: statusCode < 400

    async def paused(count: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            found = await rig.executions("paused_alert")
            return sum(e["state"]["current"] == "PAUSED" for e in found) >= count

        return check

    await until(await paused(1))
    await rig.runner_asleep(0)
    hits = endpoint.hits
    for _ in range(3):  # the execution it started still runs: no poll
        await clock.advance(30)
    await asyncio.sleep(0.3)
    assert endpoint.hits == hits and len(await rig.executions("paused_alert")) == 1
    [held] = await rig.executions("paused_alert")
    await rig.api.json("POST", f"/api/v1/executions/{held['id']}/resume", status=204)
    await rig.ended("paused_alert", 1)
    await clock.advance(30)
    await until(await paused(1))
    assert len(await rig.executions("paused_alert")) == 2
    await rig.runner_asleep(0)
    # allowConcurrent: a poll at each interval, whatever runs (the edited trigger's
    # runner starts again, and polls at once)
    await rig.api.deploy(
        (PAUSED_ALERT % rig.url).replace(
            "interval: PT30S", "interval: PT30S\n    allowConcurrent: true"
        )
    )
    await until(await paused(2))
    await asyncio.sleep(0.3)  # the new runner is back asleep on the clock
    await clock.advance(30)
    await until(await paused(3))


async def test_http_trigger_obeys_the_network_policy(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(ALLOWED_NETWORKS_ENV)
    caplog.set_level(logging.WARNING, "podium.triggers.polling")
    await rig.api.deploy(PAUSED_ALERT % rig.url)

    async def refused() -> bool:
        return any("refused to connect" in r.getMessage() for r in caplog.records)

    await until(refused)
    assert rig.endpoint.hits == 0 and await rig.executions("paused_alert") == []


HOLIDAYS = """
id: dated
namespace: tests.triggers
inputs:
  - {id: when, type: STRING}
tasks:
  - {id: say, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.when }}"}
triggers:
  - id: dates
    type: io.kestra.plugin.core.trigger.ScheduleOnDates
    timezone: Europe/Paris
    dates:
      - 2026-01-01T01:00:00Z   # New Year's Day: a public holiday in France
      - 2026-01-02T01:00:00Z   # fires
      - 2026-01-02T05:00:00Z   # not before 04:00Z
    inputs: {when: "{{ trigger.date }}"}
    conditions:
      - type: io.kestra.plugin.core.condition.Not
        conditions:
          - {type: io.kestra.plugin.core.condition.PublicHoliday, country: FR}
      - {type: io.kestra.plugin.core.condition.TimeBetweenCondition, before: "04:00:00Z"}
"""


async def test_schedule_on_dates_with_holiday_and_time_conditions(rig: Rig) -> None:
    clock = rig.clock
    sleeping = clock.sleepers
    await rig.api.deploy(HOLIDAYS)
    await rig.runner_asleep(sleeping)
    listed = await rig.trigger("dated", "dates")
    assert listed["type"] == "io.kestra.plugin.core.trigger.ScheduleOnDates"
    assert listed["nextExecutionDate"] == "2026-01-01T01:00:00+00:00"
    await clock.advance(2 * 86400)
    [execution] = await rig.ended("dated", 1)
    full = await rig.api.json("GET", f"/api/v1/executions/{execution['id']}")
    assert full["inputs"]["when"] == "2026-01-02T02:00:00+01:00"
    assert full["trigger"]["variables"] == {"date": "2026-01-02T02:00:00+01:00"}
    await clock.advance(86400)
    await asyncio.sleep(0.2)
    assert len(await rig.executions("dated")) == 1


HOURLY = """
id: hourly
namespace: tests.triggers
tasks:
  - {id: tick, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.date }}"}
triggers:
  - {id: every_hour, type: io.kestra.plugin.core.trigger.Schedule, cron: "@hourly", timezone: UTC}
"""

SWITCH = """
id: switch
namespace: tests.triggers
inputs:
  - {id: enabled, type: BOOLEAN}
  - {id: trigger, type: STRING, defaults: every_hour}
tasks:
  - id: toggle
    type: io.kestra.plugin.core.trigger.Toggle
    namespace: tests.triggers
    flowId: hourly
    trigger: "{{ inputs.trigger }}"
    enabled: "{{ inputs.enabled }}"
"""


async def test_toggle_disables_and_enables_another_flows_schedule(rig: Rig) -> None:
    clock = rig.clock
    sleeping = clock.sleepers
    await rig.api.deploy(HOURLY)
    await rig.api.deploy(SWITCH)
    await rig.runner_asleep(sleeping)
    done = await rig.api.run("tests.triggers", "switch", enabled="false")
    assert done["state"]["current"] == "SUCCESS"
    assert (await rig.trigger("hourly", "every_hour"))["disabled"] is True

    async def stopped() -> bool:
        return not rig.api.podium.triggers._running.get(("tests.triggers/hourly", "every_hour"))

    await until(stopped)
    await clock.advance(3 * 3600)
    await asyncio.sleep(0.2)
    assert await rig.executions("hourly") == []
    sleeping = clock.sleepers
    done = await rig.api.run("tests.triggers", "switch", enabled="true")
    assert done["state"]["current"] == "SUCCESS"
    assert (await rig.trigger("hourly", "every_hour"))["disabled"] is False
    await rig.runner_asleep(sleeping)
    await clock.advance(3600)
    [execution] = await rig.ended("hourly", 1)  # from now: the 3 hours it was off do not run
    assert execution["state"]["current"] == "SUCCESS"
    # an unknown trigger fails the task with what the flow has
    failed = await rig.api.run("tests.triggers", "switch", enabled="true", trigger="nope")
    assert failed["state"]["current"] == "FAILED"
    logs = await rig.api.json("GET", f"/api/v1/logs/{failed['id']}")
    assert any(
        "has no trigger 'nope' (its triggers: every_hour)" in line["message"] for line in logs
    )


UPSTREAM = """
id: upstream
namespace: tests.triggers
labels: {owner: john.doe}
inputs:
  - {id: code, type: STRING}
tasks:
  - {id: noop, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.code }}"}
outputs:
  - {id: status_code, type: STRING, value: "{{ inputs.code }}"}
"""

DOWNSTREAM = """
id: downstream
namespace: tests.triggers
tasks:
  - {id: seen, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.outputs.status_code }}"}
triggers:
  - id: after_upstream
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - {type: io.kestra.plugin.core.condition.ExecutionLabelsCondition, labels: {owner: john.doe}}
      - type: io.kestra.plugin.core.condition.ExecutionOutputs
        expression: "{{ trigger.outputs.status_code == '200' }}"
"""


async def test_flow_trigger_with_execution_labels_and_outputs_conditions(rig: Rig) -> None:
    await rig.api.deploy(DOWNSTREAM)
    await rig.api.deploy(UPSTREAM)
    refused = await rig.api.run("tests.triggers", "upstream", code="500")
    assert refused["state"]["current"] == "SUCCESS"
    accepted = await rig.api.run("tests.triggers", "upstream", code="200")
    assert accepted["state"]["current"] == "SUCCESS"
    [execution] = await rig.ended("downstream", 1)
    full = await rig.api.json("GET", f"/api/v1/executions/{execution['id']}")
    assert full["trigger"]["variables"]["executionId"] == accepted["id"]
    assert full["taskRunList"][0]["outputs"]["value"] == "200"
    await asyncio.sleep(0.3)  # the refused one never fires, even late
    assert len(await rig.executions("downstream")) == 1
