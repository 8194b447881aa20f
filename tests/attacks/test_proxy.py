"""Behind a TLS-terminating proxy: the session cookie is `Secure` when a proxy named in
`http.trusted_proxies` says the client came over https; the same header from anyone else
changes nothing (any client can write it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.attacks.conftest import ENVIRON
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium

LOGIN = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


@pytest.fixture(params=[[], ["127.0.0.0/8"]], ids=["no-proxy", "trusted-proxy"])
async def base(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    http = {"trusted_proxies": request.param}
    async with running_podium(tmp_path / "d", serve_http=True, environ=ENVIRON, http=http) as p:
        yield f"http://127.0.0.1:{p.port}"


async def session_cookie(base: str, headers: dict[str, str]) -> str:
    async with (
        aiohttp.ClientSession() as client,
        client.post(base + "/api/v1/auth/login", json=LOGIN, headers=headers) as answer,
    ):
        assert answer.status == 200, await answer.text()
        return next(c for c in answer.headers.getall("Set-Cookie") if "podium_session=" in c)


async def test_the_session_cookie_is_secure_behind_a_trusted_tls_proxy(
    base: str, request: pytest.FixtureRequest
) -> None:
    is_trusted = "trusted-proxy" in request.node.callspec.id
    assert ("Secure" in await session_cookie(base, FORWARDED)) is is_trusted
    assert "Secure" not in await session_cookie(base, {})
