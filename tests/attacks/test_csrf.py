"""Cross-site request forgery through what a browser remembers: HTTP Basic credentials
it once typed are sent with every request any page makes to the server. A state-changing
request a browser marks as cross-site is refused (403) whatever its credentials; a flow
is only taken as YAML or JSON (never a type an HTML form can send); and the server never
invites a browser to remember Basic credentials."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.attacks.conftest import ENVIRON, Server, basic
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium

SHELL = """
id: pwned
namespace: attacks
tasks:
  - id: run
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    commands: ["echo owned"]
"""
LOGGED = """
id: logged
namespace: attacks
inputs:
  - {id: who, type: STRING, defaults: nobody}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: the-right-key-8Hq3}
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: "{{ inputs.who }}"}
"""
EVIL = {
    "Origin": "http://evil.example",
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "no-cors",
}


async def executions_of(server: Server, flow_id: str, at_least: int = 0) -> int:
    """How many executions of the flow the store has, once it has `at_least` (the
    projection follows the bus a moment later)."""
    for _ in range(300):
        found = await server.get(f"/api/v1/executions/search?namespace=attacks&flowId={flow_id}")
        if int(found["total"]) >= at_least:
            break
        await asyncio.sleep(0.1)
    return int(found["total"])


async def test_a_forged_cross_site_form_with_remembered_basic_credentials_is_refused(
    server: Server,
) -> None:
    """The attack as found: a page on another origin posts the flow as text/plain, then
    an urlencoded form to execute it; the browser adds the Basic credentials."""
    await server.deploy(LOGGED)
    flows = server.base + "/api/v1/flows"
    for content_type in ("text/plain", "application/x-yaml"):
        headers = {**EVIL, "Content-Type": content_type}
        async with server.http.post(flows, data=SHELL, headers=headers) as answer:
            assert answer.status == 403, (content_type, answer.status, await answer.text())
            assert "cross-site" in (await answer.json())["message"]
    async with server.http.get(flows + "/attacks/pwned") as answer:
        assert answer.status == 404
    run = server.base + "/api/v1/executions/attacks/logged"
    form = {**EVIL, "Content-Type": "application/x-www-form-urlencoded"}
    async with server.http.post(run, data="who=attacker", headers=form) as answer:
        assert answer.status == 403
    origin_only = {"Origin": "null"}  # a sandboxed frame
    async with server.http.post(run, data={"who": "frame"}, headers=origin_only) as answer:
        assert answer.status == 403
    fetch_only = {"Sec-Fetch-Site": "same-site"}  # a sibling subdomain, no Origin sent
    async with server.http.post(run, data={"who": "sibling"}, headers=fetch_only) as answer:
        assert answer.status == 403
    async with server.http.post(run + "?wait=true", data={"who": "admin"}) as answer:
        assert answer.status == 200  # after the refused ones: once it is stored, they would be
    assert await executions_of(server, "logged", at_least=1) == 1


async def test_same_origin_pages_and_non_browsers_still_work(server: Server) -> None:
    await server.deploy(LOGGED)
    run = server.base + "/api/v1/executions/attacks/logged"
    same = {"Origin": server.base, "Sec-Fetch-Site": "same-origin"}
    async with server.http.post(run, data={"who": "ui"}, headers=same) as answer:
        assert answer.status == 200, await answer.text()
    async with server.http.post(run, data={"who": "curl"}) as answer:  # no Origin: not a browser
        assert answer.status == 200
    hook = server.base + "/api/v1/executions/webhook/attacks/logged/the-right-key-8Hq3"
    async with aiohttp.ClientSession() as anonymous, anonymous.post(hook, headers=EVIL) as answer:
        assert answer.status == 200  # webhooks are called from other sites by design
    assert await executions_of(server, "logged", at_least=3) == 3


async def test_a_flow_is_taken_only_as_yaml_or_json(server: Server) -> None:
    flows = server.base + "/api/v1/flows"
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
    ):
        async with server.http.post(flows, data=SHELL, headers={"Content-Type": content_type}) as a:
            assert a.status == 415, (content_type, a.status)
            assert "application/x-yaml" in (await a.json())["message"]
    async with server.http.post(
        flows, data=SHELL, headers={"Content-Type": "application/yaml"}
    ) as a:
        assert a.status == 200, await a.text()


async def test_browsers_are_never_invited_to_remember_basic_credentials(server: Server) -> None:
    url = server.base + "/api/v1/flows/search"
    navigation = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(url, headers=navigation) as answer:
            assert answer.status == 401
            assert "WWW-Authenticate" not in answer.headers
        async with anonymous.get(url, headers={"Sec-Fetch-Mode": "cors"}) as answer:
            assert answer.status == 401 and "WWW-Authenticate" not in answer.headers
        async with anonymous.get(server.base + "/ui/", headers=navigation) as answer:
            assert answer.status == 200  # the UI's own login page
            assert "WWW-Authenticate" not in answer.headers
        async with anonymous.get(url) as answer:  # curl, an SDK: the challenge as before
            assert answer.status == 401 and answer.headers["WWW-Authenticate"].startswith("Basic")


@pytest.fixture
async def with_allowed_origin(tmp_path: Path) -> Any:
    http = {"allowed_origins": ["https://ops.example.com"]}
    async with (
        running_podium(tmp_path / "data", serve_http=True, environ=ENVIRON, http=http) as p,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as session,
    ):
        yield Server(p, f"http://127.0.0.1:{p.port}", session)


async def test_an_allowed_origin_may_send_commands(with_allowed_origin: Server) -> None:
    server = with_allowed_origin
    await server.deploy(LOGGED)
    run = server.base + "/api/v1/executions/attacks/logged"
    allowed = {"Origin": "https://ops.example.com", "Sec-Fetch-Site": "cross-site"}
    async with server.http.post(run, data={"who": "ops"}, headers=allowed) as answer:
        assert answer.status == 200
    async with server.http.post(run, data={"who": "x"}, headers=EVIL) as answer:
        assert answer.status == 403
