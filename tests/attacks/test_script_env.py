"""What a script sees of the server: PATH, HOME, LANG, TZ, its task's `env`, and what
`scripts.env_allow` names; never the server's PODIUM_* (the admin password) or SECRET_*
variables. A secret's value is masked in every log line, whatever printed it, even one
no template has read since the server started."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.attacks.conftest import Server, basic
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium

RAW_SECRET = "raw-s3cr3t-Zt41q"
ENV_DUMP = """
id: dump
namespace: attacks
tasks:
  - id: env
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    env: {MINE: from-the-task}
    commands:
      - env | sort
      - echo "typed by the author ${MINE} raw-s3cr3t-Zt41q"
  - id: python
    type: io.kestra.plugin.scripts.python.Script
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    script: |
      import os
      print("python sees", sorted(os.environ))
"""


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    """The server's variables are the process's own, as in production."""
    monkeypatch.setenv("PODIUM_ADMIN_USER", ADMIN_USER)
    monkeypatch.setenv("PODIUM_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("SECRET_RAW", base64.b64encode(RAW_SECRET.encode()).decode())
    monkeypatch.setenv("ALLOWED_FOR_SCRIPTS", "visible-value")
    monkeypatch.setenv("NOT_ALLOWED", "hidden-value")
    monkeypatch.setenv("TZ", "UTC")
    async with (
        running_podium(
            tmp_path / "data", serve_http=True, environ=dict(os.environ),
            scripts={"env_allow": ["ALLOWED_FOR_SCRIPTS"]},
        ) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):  # fmt: skip
        yield Server(podium, f"http://127.0.0.1:{podium.port}", http)


async def test_a_script_sees_a_minimal_environment_and_no_server_secret(server: Server) -> None:
    await server.deploy(ENV_DUMP)
    ended = await server.run("attacks", "dump")
    assert ended["state"]["current"] == "SUCCESS", ended
    logs = await server.get(f"/api/v1/logs/{ended['id']}")
    text = "\n".join(line["message"] for line in logs)
    names = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line}
    assert {"PATH", "HOME", "TZ", "MINE", "ALLOWED_FOR_SCRIPTS"} <= names, sorted(names)
    assert "visible-value" in text and "from-the-task" in text
    for leaked in ("PODIUM_ADMIN", "SECRET_", "NOT_ALLOWED", "hidden-value", ADMIN_PASSWORD):
        assert leaked not in text, leaked
    assert "python sees" in text and "'PODIUM_ADMIN_PASSWORD'" not in text
    # typed into the script, not read through secret(), the first thing since start: masked
    assert RAW_SECRET not in text and "typed by the author from-the-task ******" in text
