"""`podium nsfiles sync` and `podium flow deploy --namespace` as a user runs them: a real
subprocess, against a local data folder and against a running server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from engine.store.sqlite import SqliteStore
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import basic

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


async def podium(*args: str) -> subprocess.CompletedProcess[str]:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "engine.cli", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PODIUM_USER": f"{ADMIN_USER}:{ADMIN_PASSWORD}"},
        )

    return await asyncio.to_thread(run)


def project(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


async def test_sync_into_the_local_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    src = project(
        tmp_path / "src",
        {"models/a.sql": "select 1", "dbt_project.yml": "name: x", ".git/HEAD": "ref"},
    )
    (src / "link").symlink_to(tmp_path)
    done = await podium("nsfiles", "sync", str(src), "--namespace", "team", "--data", str(data))
    assert done.returncode == 0, done.stderr
    (src / "models/a.sql").unlink()
    (src / "models/b.sql").write_text("select 2")
    done = await podium(
        "nsfiles", "sync", str(src), "--namespace", "team", "--data", str(data), "--delete"
    )
    assert done.returncode == 0, done.stderr
    assert "1 deleted" in done.stdout
    async with SqliteStore(data / "podium.db") as store:
        paths = [r.path for r in await store.namespace_files("team")]
    assert paths == ["/dbt_project.yml", "/models/b.sql"]


FLOW = "id: {id}\nnamespace: {ns}\ntasks:\n  - {{id: t, type: io.kestra.plugin.core.log.Log, message: hi}}\n"


async def test_sync_and_deploy_against_a_server(tmp_path: Path) -> None:
    src = project(tmp_path / "src", {"scripts/run.py": "print(1)", "README.md": "docs"})
    flows = project(
        tmp_path / "flows",
        {
            "one.yml": FLOW.format(id="one", ns="team"),
            "two.yml": FLOW.format(id="two", ns="team.sub"),
        },
    )
    async with (
        running_podium(tmp_path / "data", serve_http=True) as server,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        url = f"http://127.0.0.1:{server.port}"
        await server.namespace_files.write("team", {"old.txt": b"gone soon"})
        done = await podium(
            "nsfiles", "sync", str(src), "--namespace", "team", "--server", url, "--delete"
        )
        assert done.returncode == 0, done.stderr
        async with http.get(url + "/api/v1/namespaces/team/files/search", params={"q": ""}) as got:
            assert sorted(await got.json()) == ["/README.md", "/scripts/run.py"]

        await server.flows.save(FLOW.format(id="stale", ns="team"))
        done = await podium(
            "flow", "deploy", str(flows), "--namespace", "team", "--server", url, "--delete"
        )
        assert done.returncode == 0, done.stderr
        assert {(r.namespace, r.id) for r in await server.flows.list()} == {
            ("team", "one"),
            ("team.sub", "two"),
        }

        (flows / "bad.yml").write_text(FLOW.format(id="bad", ns="elsewhere"))
        done = await podium("flow", "deploy", str(flows), "--namespace", "team", "--server", url)
        assert done.returncode == 1 and "not team" in done.stderr

        done = await podium(
            "nsfiles",
            "sync",
            str(src),
            "--namespace",
            "team",
            "--server",
            url,
            "--user",
            "admin:wrong",
        )
        assert done.returncode != 0 and "401" in done.stderr
