"""Password guessing and login floods: failures are limited per client address and per
user name (429 with Retry-After, before any hashing), and a flood of logins costs a
bounded number of password checks, so a real user from elsewhere gets in."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.attacks.conftest import ENVIRON, Server, basic
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium


def count_scrypt(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real: Callable[..., bytes] = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """The default bursts (10 per address, 30 per user), tokens coming back at 1 a minute
    (the defaults: 10 and 30), so a slow machine does not get a token back mid-test."""
    slow_refill = {"failed_logins_per_minute": 1, "failed_logins_per_user_per_minute": 1}
    async with (
        running_podium(tmp_path / "data", serve_http=True, environ=ENVIRON, auth=slow_refill) as p,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Server(p, f"http://127.0.0.1:{p.port}", http)


def from_address(host: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(host, 0)))


async def test_wrong_basic_passwords_from_one_client_get_429(server: Server) -> None:
    url = server.base + "/api/v1/flows/search"
    statuses = []
    async with aiohttp.ClientSession() as anonymous:
        for guess in range(30):
            async with anonymous.get(url, headers=basic(ADMIN_USER, f"guess-{guess}")) as answer:
                statuses.append(answer.status)
                if answer.status == 429:
                    assert int(answer.headers["Retry-After"]) >= 1
        assert statuses[:10] == [401] * 10
        assert statuses[10:] == [429] * 20, statuses
        # blocked is blocked: the right password too (else a guesser would learn it)
        async with anonymous.get(url, headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as answer:
            assert answer.status == 429
    async with (
        from_address("127.0.0.2") as elsewhere,
        elsewhere.get(url, headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as answer,
    ):
        assert answer.status == 200


async def test_one_user_guessed_from_many_addresses_gets_429(server: Server) -> None:
    login = server.base + "/api/v1/auth/login"
    statuses = []
    for host in range(2, 6):  # 9 guesses from each address: under its own limit of 10
        async with from_address(f"127.0.0.{host}") as client:
            for guess in range(9):
                body = {"username": ADMIN_USER, "password": f"guess-{host}-{guess}"}
                async with client.post(login, json=body) as answer:
                    statuses.append(answer.status)
    assert statuses[:30] == [401] * 30 and set(statuses[30:]) == {429}, statuses
    async with from_address("127.0.0.9") as fresh:  # another user is not affected
        body = {"username": "someone-else", "password": "x"}
        async with fresh.post(login, json=body) as answer:
            assert answer.status == 401


async def test_a_login_flood_costs_a_bounded_number_of_password_checks(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_scrypt(monkeypatch)
    login = server.base + "/api/v1/auth/login"

    async def attempt(session: aiohttp.ClientSession, n: int) -> int:
        body = {"username": "root", "password": f"flood-{n}"}
        async with session.post(login, json=body) as answer:
            return answer.status

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as flood:
        statuses = await asyncio.gather(*(attempt(flood, n) for n in range(300)))
    assert set(statuses) <= {401, 429} and statuses.count(429) >= 280, sorted(set(statuses))
    assert calls[0] <= 12, f"{calls[0]} password checks for a flood of 300 from one client"
    async with from_address("127.0.0.2") as real:
        body = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        async with real.post(login, json=body) as answer:
            assert answer.status == 200
