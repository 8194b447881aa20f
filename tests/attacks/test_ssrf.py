"""Server-side request forgery through the HTTP tasks: private, loopback and link-local
targets are refused unless PODIUM_HTTP_ALLOWED_NETWORKS allows them — whatever the
spelling of the address, and after DNS and redirects too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tasks.http.network import ALLOWED_NETWORKS_ENV, NetworkPolicy
from tests.conftest import Harness

REQUEST = """
id: ssrf
namespace: attacks
tasks:
  - id: get
    type: io.kestra.plugin.core.http.Request
    uri: "{uri}"
    options: {{timeout: {{connectTimeout: PT2S, readIdleTimeout: PT2S}}}}
"""


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.1", True), ("172.16.5.4", True),
        ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("::1", True),
        ("fe80::1", True), ("fd00::1", True), ("::ffff:127.0.0.1", True),
        ("::ffff:169.254.169.254", True), ("224.0.0.1", True), ("8.8.8.8", False),
        ("2606:4700::1111", False),
    ],
)  # fmt: skip
def test_the_default_policy(address: str, refused: bool) -> None:
    assert (NetworkPolicy().refusal(address) is not None) is refused


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),  # NAT64, well-known prefix
        ("64:ff9b:1::7f00:1", "127.0.0.1"),  # NAT64, local-use prefix
        ("2002:a9fe:a9fe::1", "169.254.169.254"),  # 6to4
        ("::7f00:1", "127.0.0.1"),  # IPv4-compatible
        ("::a00:1", "10.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),  # Teredo (client, obfuscated)
        ("fec0::1", None),  # site-local (deprecated, still routed on some networks)
    ],
)
def test_ipv6_forms_of_refused_addresses_are_refused(address: str, embedded: str | None) -> None:
    why = NetworkPolicy().refusal(address)
    assert why is not None, address
    assert embedded is None or embedded in why
    if embedded is not None:  # an allow-list entry for the IPv4 address allows its forms too
        allowed = NetworkPolicy.from_environ({ALLOWED_NETWORKS_ENV: f"{embedded}/32"})
        assert allowed.refusal(address) is None


def test_public_addresses_behind_ipv6_prefixes_are_allowed() -> None:
    for address in ("64:ff9b::808:808", "2002:808:808::1"):  # 8.8.8.8
        assert NetworkPolicy().refusal(address) is None


def test_the_allow_list() -> None:
    policy = NetworkPolicy.from_environ({ALLOWED_NETWORKS_ENV: "127.0.0.0/8, ::1"})
    assert policy.refusal("127.0.0.1") is None and policy.refusal("::1") is None
    assert policy.refusal("169.254.169.254") is not None
    assert NetworkPolicy.from_environ({ALLOWED_NETWORKS_ENV: "*"}).refusal("10.0.0.1") is None
    with pytest.raises(ValueError, match="not a network"):
        NetworkPolicy.from_environ({ALLOWED_NETWORKS_ENV: "localhost"})


@pytest.fixture
async def local_server() -> AsyncIterator[tuple[int, list[str]]]:
    """A loopback server that records every hit and redirects /to?url=… anywhere."""
    hits: list[str] = []

    async def anything(request: web.Request) -> web.StreamResponse:
        hits.append(request.path_qs)
        if request.path == "/to":
            raise web.HTTPFound(request.query["url"])
        return web.Response(text="internal data")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield port, hits
    await runner.cleanup()


TARGETS = [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://127.1:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:{port}/",
]


@pytest.mark.parametrize("target", TARGETS)
async def test_private_targets_are_refused(
    harness: Harness,
    local_server: tuple[int, list[str]],
    target: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ALLOWED_NETWORKS_ENV, raising=False)
    port, hits = local_server
    outcome = await harness.run(REQUEST.format(uri=target.format(port=port)))
    assert outcome.state == "FAILED"
    assert hits == []
    error = outcome.run("get").error or ""
    assert "refused to connect" in error or "not a canonical" in error or "Invalid URL" in error, (
        error
    )


async def test_a_redirect_to_a_private_target_is_refused(
    harness: Harness, local_server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, hits = local_server
    # the first hop is allowed (the "public" server), the redirect to metadata is not
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, "127.0.0.1/32")
    target = f"http://127.0.0.1:{port}/to?url=http://169.254.169.254/latest/meta-data/"
    outcome = await harness.run(REQUEST.format(uri=target))
    assert outcome.state == "FAILED"
    assert "169.254.169.254" in (outcome.run("get").error or "")
    assert hits == ["/to?url=http://169.254.169.254/latest/meta-data/"]


async def test_loopback_works_when_allowed(
    harness: Harness, local_server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, hits = local_server
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, "127.0.0.0/8")
    outcome = await harness.run(REQUEST.format(uri=f"http://127.0.0.1:{port}/ok"))
    assert outcome.state == "SUCCESS", outcome.run("get").error
    assert outcome.run("get").outputs["body"] == "internal data" and hits == ["/ok"]
