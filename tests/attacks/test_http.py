"""The API and webhooks under attack: oversized bodies, slow clients, wrong and missing
credentials, path tricks around the auth check, CSRF on cookie sessions, webhook key
guessing. Every answer is a clear 4xx, and the server keeps answering."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import yarl

from tests.attacks.conftest import Server, basic
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER

HOOKED = """
id: hooked
namespace: attacks
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: the-right-key-8Hq3}
tasks:
  - {id: got, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.body }}"}
"""


COUNTED = """
id: counted
namespace: attacks
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: the-right-key-8Hq3}
tasks:
  - {id: size, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.body | length }}"}
"""


async def still_answers(server: Server) -> None:
    async with server.http.get(server.base + "/api/v1/flows/search") as answer:
        assert answer.status == 200


async def test_an_oversized_webhook_body_is_refused(server: Server) -> None:
    await server.deploy(HOOKED)
    url = f"{server.base}/api/v1/executions/webhook/attacks/hooked/the-right-key-8Hq3"
    size = 11 << 20
    async with aiohttp.ClientSession() as anonymous:
        body = io.BytesIO(b"x" * size)
        async with anonymous.post(url, data=body, headers={"Content-Length": str(size)}) as answer:
            assert answer.status == 413
            assert "body over" in (await answer.json())["message"]
    await still_answers(server)


async def chunks(count: int, size: int) -> AsyncIterator[bytes]:
    """A body sent with chunked transfer encoding (no Content-Length), in pieces."""
    for _ in range(count):
        yield b"x" * size
        await asyncio.sleep(0.01)


async def test_a_chunked_webhook_body_arrives_whole(server: Server) -> None:
    await server.deploy(COUNTED)
    url = f"{server.base}/api/v1/executions/webhook/attacks/counted/the-right-key-8Hq3?wait=true"
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.post(
            url, data=chunks(20, 10_000), headers={"Content-Type": "text/plain"}
        ) as answer,
    ):
        assert answer.status == 200
        execution_id = (await answer.json())["id"]
    execution = await server.get(f"/api/v1/executions/{execution_id}")
    assert execution["taskRunList"][0]["outputs"] == {"value": "200000"}


async def test_a_chunked_webhook_body_over_the_limit_is_refused(server: Server) -> None:
    await server.deploy(HOOKED)
    url = f"{server.base}/api/v1/executions/webhook/attacks/hooked/the-right-key-8Hq3"
    async with aiohttp.ClientSession() as anonymous:
        try:
            async with anonymous.post(url, data=chunks(12, 1 << 20)) as answer:
                assert answer.status == 413
        except aiohttp.ClientError:
            pass  # the server closed the connection after its 413: also a refusal


async def test_an_oversized_api_body_is_refused(server: Server) -> None:
    flow = "id: big\nnamespace: attacks\ndescription: '" + "x" * (30 << 20) + "'\ntasks: []\n"
    headers = {"Content-Type": "application/x-yaml"}
    try:
        body = io.BytesIO(flow.encode())
        async with server.http.post(server.base + "/api/v1/flows", data=body, headers=headers) as a:
            assert a.status in (400, 413, 422), a.status
    except aiohttp.ClientError:
        pass  # closed after refusing
    await still_answers(server)


async def test_slow_clients_do_not_stop_the_server(server: Server) -> None:
    writers = []
    for _ in range(50):
        _, writer = await asyncio.open_connection("127.0.0.1", server.podium.port)
        writer.write(b"POST /api/v1/flows HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n")
        writers.append(writer)
    try:
        for _ in range(3):
            for writer in writers:
                writer.write(b"X-Slow: 1\r\n")
            await still_answers(server)
            await asyncio.sleep(0.2)
    finally:
        for writer in writers:
            writer.close()


def count_scrypt(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real: Callable[..., bytes] = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


async def test_unknown_user_and_wrong_password_get_the_same_answer_and_work(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_scrypt(monkeypatch)
    url = server.base + "/api/v1/flows/search"
    answers = {}
    work = {}
    async with aiohttp.ClientSession() as anonymous:
        for who, password in ((ADMIN_USER, "wrong"), ("nobody-at-all", "wrong")):
            before = calls[0]
            for _ in range(3):  # failures are never cached: each costs a full check
                async with anonymous.get(url, headers=basic(who, password)) as answer:
                    answers[who] = (
                        answer.status,
                        await answer.text(),
                        answer.headers.get("WWW-Authenticate"),
                    )
            work[who] = calls[0] - before
        login = server.base + "/api/v1/auth/login"
        for who in (ADMIN_USER, "nobody-at-all"):
            before = calls[0]
            async with anonymous.post(login, json={"username": who, "password": "wrong"}) as a:
                answers[f"login {who}"] = (a.status, await a.text(), None)
            work[f"login {who}"] = calls[0] - before
    assert answers[ADMIN_USER] == answers["nobody-at-all"]
    assert answers[ADMIN_USER][0] == 401
    assert answers[f"login {ADMIN_USER}"] == answers["login nobody-at-all"]
    assert work == {
        ADMIN_USER: 3,
        "nobody-at-all": 3,
        f"login {ADMIN_USER}": 1,
        "login nobody-at-all": 1,
    }


BYPASSES = [
    "/api/v1/flows/search", "//api/v1/flows/search", "/api/v1//flows/search",
    "/api/v1/flows/search/", "/api/v1/%66lows/search", "/api/v1/flows%2Fsearch",
    "/api/v1/flows;x/search", "/ui/../api/v1/flows/search", "/ui/%2e%2e/api/v1/flows/search",
    "/api/v1/executions/webhook/../../flows/search",
    "/api/v1/executions/webhook/a/b/c/../../../../flows/search",
    "/api/v1/executions/webhook/a/b/..%2f..%2f..%2fflows/search",
    "/health/../api/v1/flows/search", "/api/v1/flows/search%00", "/API/V1/FLOWS/SEARCH",
    "/api/v1/main/flows/search", "/api/v1\\flows\\search", "/ui\\..\\api/v1/flows/search",
]  # fmt: skip


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST"])
async def test_path_tricks_do_not_bypass_auth(server: Server, method: str) -> None:
    await server.deploy(HOOKED)
    async with aiohttp.ClientSession() as anonymous:
        for path in BYPASSES:
            async with anonymous.request(method, server.base + path) as answer:
                body = await answer.read()
                assert answer.status in (400, 401, 403, 404, 405), (method, path, answer.status)
                assert b"hooked" not in body, (method, path, body[:200])


async def test_cookie_sessions_need_the_csrf_token(server: Server) -> None:
    source = "id: csrf\nnamespace: attacks\ntasks:\n  - {id: a, type: io.kestra.plugin.core.log.Log, message: m}\n"
    yaml = {"Content-Type": "application/x-yaml"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        login = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        async with browser.post(server.base + "/api/v1/auth/login", json=login) as answer:
            assert answer.status == 200
            cookie = answer.headers.getall("Set-Cookie")
        session_cookie = next(c for c in cookie if c.startswith("podium_session="))
        assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
        csrf = browser.cookie_jar.filter_cookies(yarl.URL(server.base))["podium_csrf"].value
        url = server.base + "/api/v1/flows"
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
            async with browser.post(url, data=source, headers={**yaml, **headers}) as answer:
                assert answer.status == 403, (headers, answer.status)
        async with browser.get(server.base + "/api/v1/flows/attacks/csrf") as answer:
            assert answer.status == 404  # nothing was created; reads need no token
        async with browser.post(url, data=source, headers={**yaml, "X-CSRF-Token": csrf}) as answer:
            assert answer.status == 200


async def test_wrong_webhook_keys_get_the_same_answer_as_a_missing_flow(server: Server) -> None:
    await server.deploy(HOOKED)
    answers = set()
    async with aiohttp.ClientSession() as anonymous:
        for path in ("attacks/hooked/the-right-key-8Hq", "attacks/hooked/THE-RIGHT-KEY-8HQ3",
                     "attacks/nowhere/the-right-key-8Hq3", "nowhere/hooked/x"):  # fmt: skip
            async with anonymous.post(f"{server.base}/api/v1/executions/webhook/{path}") as a:
                answers.add((a.status, await a.text()))
    assert len(answers) == 1 and next(iter(answers))[0] == 404


async def test_webhook_key_guessing_is_rate_limited(server: Server) -> None:
    """With the default allowance (10 at once, then 30 a minute per address), 200 guesses
    from one address get 429 almost at once, whatever X-Forwarded-For says; the right key
    is refused too while blocked, and works from another address."""
    await server.deploy(HOOKED)
    statuses = []
    async with aiohttp.ClientSession() as anonymous:
        for guess in range(200):
            url = f"{server.base}/api/v1/executions/webhook/attacks/hooked/guess-{guess}"
            forged = {"X-Forwarded-For": f"10.0.{guess}.1", "X-Real-IP": f"10.0.{guess}.1"}
            async with anonymous.post(url, headers=forged) as answer:
                statuses.append(answer.status)
                if answer.status == 429:
                    assert int(answer.headers["Retry-After"]) >= 1
        assert 429 in statuses, f"200 wrong keys, answers: {sorted(set(statuses))}"
        assert statuses[:10] == [404] * 10
        assert statuses.count(404) <= 15, statuses  # a token comes back every 2 s
        right = f"{server.base}/api/v1/executions/webhook/attacks/hooked/the-right-key-8Hq3"
        async with anonymous.post(right) as answer:
            assert answer.status == 429
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with (
        aiohttp.ClientSession(connector=connector) as elsewhere,
        elsewhere.post(right) as answer,
    ):
        assert answer.status == 200, await answer.text()
    await still_answers(server)
