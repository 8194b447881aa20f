"""`podium kv set|get|ls|rm` as a user runs it: a real subprocess, on a local data folder
and against a running server's API (--server)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.e2e.test_cli import podium
from tests.web.conftest import Api, basic

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with (
        running_podium(tmp_path / "data", serve_http=True) as server,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Api(server, f"http://127.0.0.1:{server.port}", http)


def test_kv_on_a_local_data_folder(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    done = podium("kv", "set", "company.team", "count", "42", "--data", data)
    assert done.returncode == 0, done.stderr
    assert "company.team/count = 42 (NUMBER)" in done.stdout
    done = podium(
        "kv", "set", "company.team", "day", "2026-03-01", "--type", "DATE",
        "--ttl", "P1D", "--description", "the day", "--data", data,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert podium("kv", "get", "company.team", "count", "--data", data).stdout == "42\n"
    shown = json.loads(podium("kv", "get", "company.team", "day", "--json", "--data", data).stdout)
    assert shown["type"] == "DATE" and shown["value"] == "2026-03-01"
    listed = podium("kv", "ls", "company.team", "--data", data).stdout.splitlines()
    assert listed[0].split() == ["KEY", "TYPE", "EXPIRES", "DESCRIPTION"]
    assert listed[1].split()[:3] == ["count", "NUMBER", "never"]
    assert listed[2].startswith("day") and "the day" in listed[2]
    assert podium("kv", "rm", "company.team", "count", "--data", data).stdout == "deleted\n"
    missing = podium("kv", "get", "company.team", "count", "--data", data)
    assert missing.returncode == 1 and "no key 'count'" in missing.stderr
    refused = podium("kv", "set", "company.team", "../x", "1", "--data", data)
    assert refused.returncode == 2 and "invalid KV key" in refused.stderr
    refused = podium("kv", "set", "company.team", "n", "x", "--type", "NUMBER", "--data", data)
    assert refused.returncode == 2 and "'x' is not a number" in refused.stderr


async def test_kv_against_a_running_server(api: Api) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return podium(
            "kv", *args, "--server", api.base, "--user", ADMIN_USER, "--password", ADMIN_PASSWORD
        )

    done = await asyncio.to_thread(cli, "set", "company", "when", "2026-01-02T03:04:05Z")
    assert done.returncode == 0, done.stderr
    done = await asyncio.to_thread(cli, "set", "company", "zip", "12", "--type", "STRING")
    assert done.returncode == 0, done.stderr
    when = await api.json("GET", "/api/v1/namespaces/company/kv/when")
    assert (when["type"], when["value"]) == ("DATETIME", "2026-01-02T03:04:05Z")
    zip_code = await api.json("GET", "/api/v1/namespaces/company/kv/zip")
    assert (zip_code["type"], zip_code["value"]) == ("STRING", "12")
    got = await asyncio.to_thread(cli, "get", "company", "zip")
    assert got.stdout == "12\n"
    listed = await asyncio.to_thread(cli, "ls", "company", "--json")
    assert [e["key"] for e in json.loads(listed.stdout)] == ["when", "zip"]
    assert (await asyncio.to_thread(cli, "rm", "company", "zip")).returncode == 0
    assert (await asyncio.to_thread(cli, "rm", "company", "zip")).returncode == 1

    wrong = await asyncio.to_thread(
        podium, "kv", "ls", "company", "--server", api.base, "--user", "x", "--password", "y"
    )
    assert wrong.returncode == 2 and "401" in wrong.stderr
    # the server holds its data folder: a local write is refused, not interleaved
    data = str(api.podium.settings.data)
    busy = await asyncio.to_thread(podium, "kv", "set", "company", "k", "1", "--data", data)
    assert busy.returncode == 2 and "in use by another Podium process" in busy.stderr
