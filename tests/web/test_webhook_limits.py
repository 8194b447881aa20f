"""Webhook key guessing is limited per client address: each wrong key or unknown flow
costs the caller a token; a caller with none left gets 429 and Retry-After before its key
is looked at, and may call again once its allowance refills. Time is a clock the tests
move, never a sleep."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from engine.errors import ConfigError
from engine.flows import FlowRepository
from engine.server import Podium
from engine.settings import WebhookSection, load_settings
from engine.web.webhooks import FailedKeyLimiter, client_address, webhook_routes
from tests.conftest import running_podium

HOOKED = """
id: hooked
namespace: tests.web
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: right-key-Zx81}
tasks:
  - {id: got, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.body }}"}
"""
RIGHT, WRONG = "right-key-Zx81", "wrong-key-0000"


class Ticks:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __repr__(self) -> str:
        return f"<Ticks {self.now}>"

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountedFlows:
    """The flow repository as the webhooks see it, counting their lookups (and slowing
    them when asked)."""

    def __init__(self, flows: FlowRepository) -> None:
        self.flows = flows
        self.lookups = 0
        self.delay = 0.0

    def __repr__(self) -> str:
        return f"<CountedFlows lookups={self.lookups}>"

    async def get(self, namespace: str, flow_id: str, revision: int | None = None) -> Any:
        self.lookups += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return await self.flows.get(namespace, flow_id, revision)


@dataclass
class Hooks:
    """Webhook routes of a running Podium, served on their own port with a limiter the
    test holds; `call` sends from any 127.0.0.0/8 address (Linux routes all of it)."""

    podium: Podium
    limiter: FailedKeyLimiter
    ticks: Ticks
    base: str
    flows: CountedFlows
    sessions: dict[str, aiohttp.ClientSession] = field(default_factory=dict)

    async def call(
        self, key: str, *, source: str = "127.0.0.1", flow: str = "hooked", **kwargs: Any
    ) -> tuple[int, str | None, Any]:
        if source not in self.sessions:
            connector = aiohttp.TCPConnector(local_addr=(source, 0))
            self.sessions[source] = aiohttp.ClientSession(connector=connector)
        url = f"{self.base}/api/v1/executions/webhook/tests.web/{flow}/{key}"
        async with self.sessions[source].post(url, **kwargs) as answer:
            return answer.status, answer.headers.get("Retry-After"), await answer.json()


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, **limits: int) -> AsyncIterator[Hooks]:
    ticks = Ticks()
    limits = {"per_minute": 30, "burst": 3, "max_clients": 100, **limits}
    limiter = FailedKeyLimiter(**limits, monotonic=ticks)
    async with running_podium(tmp_path / "data") as podium:
        await podium.flows.save(HOOKED)
        flows = CountedFlows(podium.flows)
        app = web.Application()
        app.add_routes(
            webhook_routes(
                cast(FlowRepository, flows),
                podium.triggers.ctx,
                podium.watcher,
                max_body_bytes=1 << 20,
                max_in_flight=64,
                is_disabled=podium.triggers.is_disabled,
                failed_keys=limiter,
            )
        )
        listening = socket.create_server(("127.0.0.1", 0))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, listening).start()
        base = f"http://127.0.0.1:{listening.getsockname()[1]}"
        hooks = Hooks(podium, limiter, ticks, base, flows)
        try:
            yield hooks
        finally:
            for session in hooks.sessions.values():
                await session.close()
            await runner.cleanup()


async def test_past_its_allowance_a_client_gets_429_without_any_lookup(tmp_path: Path) -> None:
    async with serving(tmp_path) as hooks:
        answers = [await hooks.call(WRONG) for _ in range(3)]
        answers.append(await hooks.call(WRONG, flow="nowhere"))
        assert [status for status, *_ in answers] == [404, 404, 404, 429]
        assert hooks.flows.lookups == 3
        status, retry_after, body = answers[-1]
        assert retry_after == "2"  # 30 a minute: one token every 2 s
        assert "too many wrong webhook keys" in body["message"]
        # the right key too: answering it otherwise would tell the guesser it found it
        status, retry_after, _ = await hooks.call(RIGHT)
        assert (status, retry_after) == (429, "2")
        assert hooks.flows.lookups == 3


async def test_a_blocked_client_recovers_when_its_allowance_refills(tmp_path: Path) -> None:
    async with serving(tmp_path) as hooks:
        for _ in range(3):
            await hooks.call(WRONG)
        assert (await hooks.call(RIGHT))[0] == 429
        hooks.ticks.advance(1.5)
        status, retry_after, _ = await hooks.call(RIGHT)
        assert (status, retry_after) == (429, "1")  # half a second, rounded up
        hooks.ticks.advance(0.5)
        status, _, body = await hooks.call(RIGHT)
        assert status == 200 and body["id"]
        assert (await hooks.call(WRONG))[0] == 404  # the token that came back
        assert (await hooks.call(WRONG))[0] == 429
        hooks.ticks.advance(60)
        assert len(hooks.limiter) == 1
        assert [(await hooks.call(WRONG))[0] for _ in range(4)] == [404, 404, 404, 429]
        hooks.ticks.advance(60)
        assert hooks.limiter.retry_after("127.0.0.1") == 0
        assert len(hooks.limiter) == 0  # a full bucket is forgotten


async def test_a_blocked_client_does_not_stop_the_others(tmp_path: Path) -> None:
    async with serving(tmp_path) as hooks:
        for _ in range(5):
            await hooks.call(WRONG)
        assert (await hooks.call(RIGHT))[0] == 429
        status, _, body = await hooks.call(RIGHT, source="127.0.0.2", json={"n": 1})
        assert status == 200
        execution = await hooks.podium.watcher.wait(body["id"], 20)
        assert execution is not None and execution.state.value == "SUCCESS"
        # the other client has its own allowance, and X-Forwarded-For does not move a call
        forged = {"X-Forwarded-For": "127.0.0.2"}
        assert (await hooks.call(WRONG, headers=forged))[0] == 429
        assert [(await hooks.call(WRONG, source="127.0.0.2"))[0] for _ in range(4)] == [
            404,
            404,
            404,
            429,
        ]


async def test_failures_in_flight_together_are_all_charged(tmp_path: Path) -> None:
    async with serving(tmp_path) as hooks:
        hooks.flows.delay = 0.2  # every guess is past the check before the first fails
        answers = await asyncio.gather(*(hooks.call(WRONG) for _ in range(20)))
        failed = sum(1 for status, *_ in answers if status == 404)
        assert failed > 3
        # each failure past the burst is owed: one token back every 2 s
        assert hooks.limiter.retry_after("127.0.0.1") == pytest.approx((failed - 2) * 2)
        hooks.ticks.advance((failed - 2) * 2 - 1)
        assert (await hooks.call(RIGHT))[0] == 429
        hooks.ticks.advance(1)
        assert (await hooks.call(RIGHT))[0] == 200


async def test_the_table_of_clients_stays_bounded(tmp_path: Path) -> None:
    async with serving(tmp_path, max_clients=3) as hooks:
        sources = [f"127.0.0.{n}" for n in range(2, 8)]
        for source in sources:
            await hooks.call(WRONG, source=source)
            assert len(hooks.limiter) <= 3
        assert len(hooks.limiter) == 3
        assert "127.0.0.7" in hooks.limiter
        assert "127.0.0.2" not in hooks.limiter  # the oldest went first


def test_many_addresses_do_not_grow_the_table() -> None:
    ticks = Ticks()
    limiter = FailedKeyLimiter(per_minute=30, burst=2, max_clients=1000, monotonic=ticks)
    for n in range(100_000):
        limiter.charge(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}")
    assert len(limiter) == 1000
    assert "10.0.0.0" not in limiter  # the oldest are forgotten, the newest stay
    limiter.charge("10.1.134.159")
    assert limiter.retry_after("10.1.134.159") == 2


async def test_zero_turns_the_limit_off(tmp_path: Path) -> None:
    async with serving(tmp_path, per_minute=0) as hooks:
        assert not hooks.limiter.is_enabled
        statuses = {(await hooks.call(WRONG))[0] for _ in range(30)}
        assert statuses == {404}
        assert len(hooks.limiter) == 0
        assert (await hooks.call(RIGHT))[0] == 200


def test_the_limit_comes_from_the_webhook_settings() -> None:
    section = WebhookSection()
    assert (section.failed_keys_per_minute, section.failed_keys_burst) == (30, 10)
    limiter = FailedKeyLimiter.from_settings(section)
    assert limiter.is_enabled and limiter.max_clients == section.failed_keys_clients
    off = load_settings(environ={"PODIUM_WEBHOOK__FAILED_KEYS_PER_MINUTE": "0"})
    assert not FailedKeyLimiter.from_settings(off.webhook).is_enabled
    with pytest.raises(ConfigError, match="failed_keys_per_minute"):
        load_settings(environ={"PODIUM_WEBHOOK__FAILED_KEYS_PER_MINUTE": "-1"})
    with pytest.raises(ConfigError, match="failed_keys_clients"):
        load_settings(environ={"PODIUM_WEBHOOK__FAILED_KEYS_CLIENTS": "0"})


@pytest.mark.parametrize(
    ("peer", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # one host's block is one client
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
)
def test_the_client_is_the_peer_address(peer: str, client: str) -> None:
    transport = mock.Mock()
    transport.get_extra_info.return_value = (peer, 40000)
    request = make_mocked_request(
        "POST",
        "/api/v1/executions/webhook/n/f/k",
        headers={"X-Forwarded-For": "198.51.100.1", "X-Real-IP": "198.51.100.1"},
        transport=transport,
    )
    assert client_address(request) == client
