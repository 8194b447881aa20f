"""Authentication: deny by default, no path trick around it, Basic and session + CSRF,
the same answer for an unknown user as for a wrong password, and the first admin."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from engine.settings import Settings
from engine.web.auth import hash_password, is_public_path, normalise_path, verify_password
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.web.conftest import HELLO, YAML, Api, basic

PROTECTED = [
    "/api/v1/flows",
    "/api/v1/main/flows",
    "/api/v1/flows/search",
    "/api/v1/executions/search",
    "/api/v1/openapi.json",
    "/api/v1/auth/me",
    "/api/v1/stats/executions",
    "/api/v1/triggers/search",
    "/api/v1/nothing-here",
]

# Spellings that a lax check could take for a public path, or that reach a protected
# handler through the router's own normalisation.
TRICKS = [
    "//api/v1/flows",
    "/api//v1/flows",
    "/api/v1/flows/",
    "/api/v1/flows;x=1",
    "/api/v1%2Fflows",
    "/api/v1/flows%2F",
    "/health/../api/v1/flows",
    "/health/%2e%2e/api/v1/flows",
    "/ui/../api/v1/flows",
    "/ui/%2e%2e/api/v1/flows",
    "/ui/..%2Fapi/v1/flows",
    "/ui/..%252Fapi/v1/flows",
    "/ui%2F..%2Fapi/v1/flows",
    "/metrics/../api/v1/flows",
    "/api/v1/executions/webhook/../../flows",
    "/api/v1/executions/webhook/a/b",
    "/api/v1/main/../flows",
    "/health;/../api/v1/flows",
    "/ui\\..\\api/v1/flows",
]


def test_a_password_hash_verifies_only_its_password() -> None:
    encoded = hash_password("s3cret")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password("s3cret", encoded)
    assert not verify_password("s3cret ", encoded)
    assert not verify_password("s3cret", hash_password("s3cret").replace("scrypt", "md5"))
    assert not verify_password("s3cret", "scrypt$1$2$3$not-base64!$x")
    assert hash_password("s3cret") != encoded  # salted


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("/api/v1/flows", "/api/v1/flows"),
        ("//api//v1/flows/", "/api/v1/flows"),
        ("/ui/..%2Fapi", "/api"),
        ("/ui/..%252Fapi", "/api"),
        ("/health;x/../metrics", "/metrics"),
        ("/ui\\..\\api", "/api"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/", "/"),
    ],
)
def test_paths_are_normalised_before_the_decision(raw: str, normalised: str) -> None:
    assert normalise_path(raw) == normalised


def test_the_public_allow_list_is_narrow() -> None:
    assert normalise_path("/health%00") is None
    assert not is_public_path(None)
    for public in ("/health", "/health/ready", "/metrics", "/ui/", "/ui/flows/x", "/", "/ui"):
        assert is_public_path(normalise_path(public)), public
    assert is_public_path("/api/v1/executions/webhook/n/f/key")
    assert is_public_path("/api/v1/main/executions/webhook/n/f/key")
    for private in ("/healthz", "/health/readyz", "/uix", "/api/v1/executions/webhook/n/f",
                    "/api/v1/executions/webhook/n/f/k/x", "/metrics/x", "/api/v1/auth/me"):  # fmt: skip
        assert not is_public_path(private), private


async def _raw_request(port: int, method: str, path: str, headers: str = "") -> tuple[int, str]:
    """A request sent byte for byte (no client normalises the path first)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode()
        )
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode(errors="replace")


async def test_every_protected_path_and_trick_needs_credentials(api: Api) -> None:
    port = api.podium.port
    assert port is not None
    for path in PROTECTED + TRICKS:
        for method in ("GET", "HEAD", "OPTIONS", "POST", "DELETE"):
            status, body = await _raw_request(port, method, path)
            assert status == 401, f"{method} {path}: {status} {body[:200]}"
    # the same tricks with credentials reach the API (or a plain 404): auth was the gate
    status, _ = await _raw_request(
        port,
        "GET",
        "/api/v1/flows",
        f"Authorization: {basic(ADMIN_USER, ADMIN_PASSWORD)['Authorization']}\r\n",
    )
    assert status == 200


async def test_public_paths_answer_without_credentials(api: Api) -> None:
    async with aiohttp.ClientSession() as anonymous:
        for path in ("/health", "/health/ready", "/metrics"):
            async with anonymous.get(api.url(path)) as got:
                assert got.status == 200, path
        async with anonymous.get(api.url("/"), allow_redirects=False) as got:
            assert got.status in (301, 302, 307, 308) and got.headers["Location"] == "/ui/"
        async with anonymous.get(api.url("/ui/")) as got:
            assert got.status == 200
        async with anonymous.post(api.url("/api/v1/executions/webhook/n/f/k")) as got:
            assert got.status == 404  # the webhook's own answer, not a 401


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(api: Api) -> None:
    answers = []
    async with aiohttp.ClientSession() as anonymous:
        for user, password in (
            (ADMIN_USER, "wrong"),
            ("nobody", "wrong"),
            ("nobody", ADMIN_PASSWORD),
        ):
            async with anonymous.get(
                api.url("/api/v1/flows"), headers=basic(user, password)
            ) as got:
                answers.append((got.status, await got.text(), got.headers.get("WWW-Authenticate")))
        async with anonymous.get(
            api.url("/api/v1/flows"), headers={"Authorization": "Basic !!!not-base64"}
        ) as got:
            assert got.status == 401
        async with anonymous.get(
            api.url("/api/v1/flows"), headers={"Authorization": "Bearer x"}
        ) as got:
            assert got.status == 401
        async with anonymous.get(
            api.url("/api/v1/flows"), headers={"X-Requested-With": "XMLHttpRequest"}
        ) as got:
            assert got.status == 401 and "WWW-Authenticate" not in got.headers
        async with anonymous.get(  # an EventSource cannot set headers, but says Accept
            api.url("/api/v1/logs/x/follow"), headers={"Accept": "text/event-stream"}
        ) as got:
            assert got.status == 401 and "WWW-Authenticate" not in got.headers
    assert len(set(answers)) == 1, answers
    status, body, challenge = answers[0]
    assert (
        status == 401
        and json.loads(body)["message"]
        and challenge
        and challenge.startswith("Basic")
    )


async def test_a_session_cookie_with_csrf_protection(api: Api) -> None:
    # unsafe: the jar keeps cookies of an IP address host (127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        session = api.url("/api/v1/auth/session")
        for path in ("/api/v1/auth/session", "/api/v1/main/auth/session"):
            async with browser.get(api.url(path)) as got:  # public, a 200 while signed out
                assert await got.json() == {"authEnabled": True, "username": None}
        login = api.url("/api/v1/auth/login")
        async with browser.post(login, json={"username": ADMIN_USER, "password": "bad"}) as got:
            assert got.status == 401
        async with browser.post(login, json={"username": ADMIN_USER}) as got:
            assert got.status == 400
        async with browser.post(login, data=b"not json") as got:
            assert got.status == 400
        async with browser.post(
            login, json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        ) as got:
            assert got.status == 200 and await got.json() == {"username": ADMIN_USER}
            cookie = got.cookies["podium_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            assert not got.cookies["podium_csrf"]["httponly"]
        csrf = got.cookies["podium_csrf"].value
        async with browser.get(api.url("/api/v1/auth/me")) as got:
            assert got.status == 200 and (await got.json())["username"] == ADMIN_USER
        async with browser.get(session) as got:
            assert await got.json() == {"authEnabled": True, "username": ADMIN_USER}
        flows = api.url("/api/v1/flows")
        async with browser.post(flows, data=HELLO, headers=YAML) as got:
            assert got.status == 403  # no CSRF header
        async with browser.post(
            flows, data=HELLO, headers={**YAML, "X-CSRF-Token": "guess"}
        ) as got:
            assert got.status == 403
        async with browser.post(flows, data=HELLO, headers={**YAML, "X-CSRF-Token": csrf}) as got:
            assert got.status == 200
        async with browser.post(api.url("/api/v1/auth/logout")) as got:
            assert got.status == 403
        async with browser.post(
            api.url("/api/v1/auth/logout"), headers={"X-CSRF-Token": csrf}
        ) as got:
            assert got.status == 204
        async with browser.get(api.url("/api/v1/auth/me")) as got:
            assert got.status == 401
        async with browser.get(session) as got:
            assert (await got.json())["username"] is None
    # a forged cookie is nobody's session
    async with aiohttp.ClientSession() as forger:
        for cookie in ("podium_session=forged", f"podium_session=; podium_csrf={csrf}"):
            async with forger.get(api.url("/api/v1/flows"), headers={"Cookie": cookie}) as got:
                assert got.status == 401


def test_the_first_admin_is_created_once_with_only_its_hash_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.server import ADMIN_FILE, _auth_users

    settings = Settings(data=tmp_path)
    users = _auth_users(settings, {}, tmp_path)
    printed = capsys.readouterr().err
    password = printed.split("password ", 1)[1].split()[0]
    assert verify_password(password, users["admin"])
    stored = (tmp_path / ADMIN_FILE).read_text()
    assert password not in stored and (tmp_path / ADMIN_FILE).stat().st_mode & 0o077 == 0
    assert _auth_users(settings, {}, tmp_path) == users  # next start: same user, nothing printed
    assert capsys.readouterr().err == ""
    chosen = _auth_users(
        settings, {"PODIUM_ADMIN_USER": "boss", "PODIUM_ADMIN_PASSWORD": "pw"}, tmp_path
    )
    assert list(chosen) == ["boss"] and verify_password("pw", chosen["boss"])
    configured = Settings(
        data=tmp_path, auth={"users": [{"username": "ann", "password_hash": hash_password("x")}]}
    )
    assert list(_auth_users(configured, {}, tmp_path)) == ["ann"]
