"""Webhook triggers over real HTTP against an embedded Podium."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from engine.server import Podium
from engine.states import State
from tests.conftest import Harness, running_podium

FLOW = """
id: hook
namespace: tests
inputs:
  - {id: who, type: STRING, defaults: nobody}
tasks:
  - {id: body, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.body.name ?? trigger.body }}"}
  - {id: meta, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.parameters.x[0] ?? '' }}|{{ trigger.headers['X-Team'][0] ?? '' }}|{{ inputs.who }}"}
outputs:
  - {id: seen, type: STRING, value: "{{ outputs.body.value }}"}
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: s3cret-key
    inputs: {who: "{{ trigger.body.name ?? 'anon' }}"}
    returnOutputs: true
"""


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[tuple[Podium, str]]:
    async with running_podium(
        tmp_path / "data", serve_http=True, webhook={"max_body_bytes": 4096, "max_in_flight": 64}
    ) as podium:
        await podium.flows.save(FLOW)
        yield podium, f"http://127.0.0.1:{podium.port}"


async def wait_all(podium: Podium, count: int, timeout: float = 60) -> list:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await podium.projector.caught_up()
        executions = await podium.store.list_executions(flow_id="hook", limit=100_000)
        if len(executions) >= count and all(e.state.is_terminal for e in executions):
            return executions
        assert asyncio.get_running_loop().time() < deadline, f"{len(executions)} executions so far"
        await asyncio.sleep(0.05)


async def test_a_post_starts_an_execution_with_body_headers_and_parameters(
    web: tuple[Podium, str],
) -> None:
    podium, base = web
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{base}/api/v1/executions/webhook/tests/hook/s3cret-key?x=1&x=2&wait=true",
            json={"name": "Ada"},
            headers={"X-Team": "data"},
        )
        assert response.status == 200
        answer = await response.json()
    assert answer["state"]["current"] == "SUCCESS"  # the whole execution, as Kestra answers
    assert answer["outputs"] == {"seen": "Ada"}
    outcome = await Harness(podium, None).outcome(answer["id"])
    assert outcome.run("meta").outputs["value"] == "1|data|Ada"
    trigger = outcome.execution.trigger
    assert trigger is not None and trigger["variables"]["parameters"]["x"] == ["1", "2"]


async def test_get_put_text_bodies_and_the_tenant_path(web: tuple[Podium, str]) -> None:
    podium, base = web
    async with aiohttp.ClientSession() as http:
        put = await http.put(
            f"{base}/api/v1/main/executions/webhook/tests/hook/s3cret-key?wait=true",
            data=b"plain text",
        )
        got = await http.get(f"{base}/api/v1/executions/webhook/tests/hook/s3cret-key?wait=true")
        assert (put.status, got.status) == (200, 200)
        assert (await put.json())["outputs"] == {"seen": "plain text"}


async def test_wrong_key_unknown_and_disabled_flows_look_the_same(web: tuple[Podium, str]) -> None:
    podium, base = web
    await podium.flows.save(
        FLOW.replace("id: hook\nnamespace", "id: off\nnamespace").replace(
            "tasks:", "disabled: true\ntasks:", 1
        )
    )
    async with aiohttp.ClientSession() as http:
        answers = []
        for path in (
            "tests/hook/wrong-key",
            "tests/ghost/s3cret-key",
            "tests/off/s3cret-key",
            "nope/hook/s3cret-key",
        ):
            response = await http.post(f"{base}/api/v1/executions/webhook/{path}", json={})
            answers.append((response.status, await response.json()))
    assert all(a == answers[0] for a in answers)
    assert answers[0][0] == 404
    assert await podium.store.list_executions(flow_id="hook") == []


async def test_a_body_over_the_limit_gets_413_and_starts_nothing(web: tuple[Podium, str]) -> None:
    podium, base = web
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{base}/api/v1/executions/webhook/tests/hook/s3cret-key", data=b"x" * 10_000
        )
        assert response.status == 413

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"y" * 1000

        chunked = await http.post(
            f"{base}/api/v1/executions/webhook/tests/hook/s3cret-key", data=chunks()
        )
        assert chunked.status == 413
    await podium.projector.caught_up()
    assert await podium.store.list_executions(flow_id="hook") == []


async def test_an_idempotency_key_makes_a_retried_post_start_one_execution(
    web: tuple[Podium, str],
) -> None:
    podium, base = web
    url = f"{base}/api/v1/executions/webhook/tests/hook/s3cret-key"
    async with aiohttp.ClientSession() as http:
        ids = set()
        for _ in range(3):
            response = await http.post(
                url, json={"name": "once"}, headers={"Idempotency-Key": "order-42"}
            )
            ids.add((await response.json())["id"])
        other = await http.post(
            url, json={"name": "twice"}, headers={"Idempotency-Key": "order-43"}
        )
        ids.add((await other.json())["id"])
    assert len(ids) == 2
    assert len(await wait_all(podium, 2)) == 2


async def test_a_thousand_posts_from_another_process_start_exactly_a_thousand(
    web: tuple[Podium, str],
) -> None:
    podium, base = web
    client = """
import asyncio, sys, aiohttp
async def main():
    url, n = sys.argv[1], int(sys.argv[2])
    gate = asyncio.Semaphore(50)
    ok = retried = 0
    async with aiohttp.ClientSession() as http:
        async def one(i):
            nonlocal ok, retried
            async with gate:
                while True:
                    async with http.post(url, json={"name": f"n{i}"}) as r:
                        if r.status == 200:
                            ok += 1
                            return
                        assert r.status in (429, 503), r.status
                        retried += 1
                        await asyncio.sleep(0.01)
        await asyncio.gather(*(one(i) for i in range(n)))
    print(ok, retried)
asyncio.run(main())
"""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        client,
        f"{base}/api/v1/executions/webhook/tests/hook/s3cret-key",
        "1000",
        stdout=subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0
    assert out.split()[0] == b"1000"
    executions = await wait_all(podium, 1000)
    assert len(executions) == 1000
    assert all(e.state is State.SUCCESS for e in executions)


async def test_past_capacity_it_answers_429_and_loses_no_acknowledged_call(tmp_path: Path) -> None:
    slow = FLOW.replace(
        "tasks:",
        "tasks:\n  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.2S}",
        1,
    )
    slow = slow.replace("returnOutputs: true", "returnOutputs: true\n    wait: true")
    async with running_podium(
        tmp_path / "data", serve_http=True, webhook={"max_in_flight": 2}
    ) as podium:
        await podium.flows.save(slow)
        url = f"http://127.0.0.1:{podium.port}/api/v1/executions/webhook/tests/hook/s3cret-key"
        async with aiohttp.ClientSession() as http:

            async def call(i: int) -> tuple[int, str | None]:
                async with http.post(url, json={"name": f"n{i}"}) as response:
                    body = await response.json()
                    return response.status, body.get("id")

            answers = await asyncio.gather(*(call(i) for i in range(10)))
        statuses = sorted(status for status, _ in answers)
        assert 429 in statuses and 200 in statuses
        accepted = {execution_id for status, execution_id in answers if status == 200}
        executions = await wait_all(podium, len(accepted))
        assert {e.execution_id for e in executions} == accepted
