"""Namespace files under attack: paths that try to leave the namespace, uploads and zips
that try to exhaust the server, names that try to escape a working directory."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from engine.settings import NamespaceFilesSection
from tests.attacks.conftest import basic
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium

pytestmark = pytest.mark.e2e

MAX_FILE = 64 << 10
MAX_NAMESPACE = 256 << 10


class Client:
    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.files = base + "/api/v1/namespaces/victim/files"
        self.http = http

    async def upload(self, path: str, data: bytes, filename: str = "f") -> tuple[int, str]:
        form = aiohttp.FormData()
        form.add_field("fileContent", data, filename=filename)
        async with self.http.post(self.files, params={"path": path}, data=form) as got:
            return got.status, await got.text()

    async def status(self, method: str, suffix: str = "", **params: str) -> int:
        async with self.http.request(method, self.files + suffix, params=params) as got:
            return got.status


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    limits = NamespaceFilesSection(max_file_bytes=MAX_FILE, max_namespace_bytes=MAX_NAMESPACE)
    async with (
        running_podium(tmp_path / "data", serve_http=True, namespace_files=limits) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Client(f"http://127.0.0.1:{podium.port}", http)


TRAVERSALS = [
    "../outside.txt",
    "/../../etc/passwd",
    "a/../../b",
    "a/./b",
    "a//b",
    "a\\..\\b",
    "a\x00.txt",
    "a\n.txt",
    "_flows/evil.yml",
    "x" * 300,
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_paths_that_leave_the_namespace_are_refused(client: Client, path: str) -> None:
    status, text = await client.upload(path, b"x")
    assert status == 400, text
    assert await client.status("GET", path=path) == 400
    assert await client.status("DELETE", path=path) == 400
    assert await client.status("PUT", **{"from": "ok.txt", "to": path}) in (400, 404)


async def test_the_storage_folder_is_not_reachable(client: Client, tmp_path: Path) -> None:
    # namespace files are rows in the store: no path of them maps onto the disk
    assert await client.status("GET", path="/../../podium.db") == 400
    assert await client.status("GET", path="/podium.db") == 404


async def test_huge_uploads_are_refused_before_they_are_stored(client: Client) -> None:
    status, text = await client.upload("/big.bin", b"x" * (MAX_FILE + 1))
    assert status == 413, text
    for i in range(4):
        status, text = await client.upload(f"/part{i}.bin", b"y" * MAX_FILE)
        assert status == 200, text
    status, text = await client.upload("/one-more.bin", b"z" * 10)
    assert status == 413 and "limit" in text
    assert await client.status("GET", path="/one-more.bin") == 404
    body = b"w" * (MAX_NAMESPACE + 1)  # past what any upload may carry: not even read
    status, _ = await client.upload("/huge.zip", body, filename="huge.zip")
    assert status == 413


async def test_zip_bombs_and_tricks_are_refused(client: Client) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as made:
        made.writestr("zeros.bin", b"\0" * (MAX_FILE * 50))  # a few hundred bytes packed
    assert len(bomb.getvalue()) < MAX_FILE
    status, text = await client.upload("/", bomb.getvalue(), filename="bomb.zip")
    assert status == 413, text

    for name in ("../escape.txt", "/abs.txt", "a/../../b.txt", "_flows/f.yml"):
        trick = io.BytesIO()
        with zipfile.ZipFile(trick, "w") as made:
            made.writestr(zipfile.ZipInfo(name), b"x")
        status, text = await client.upload("/", trick.getvalue(), filename="trick.zip")
        assert status == 400, (name, text)

    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as made:
        for i in range(10_001):
            made.writestr(f"f{i}", b"")
    status, _ = await client.upload("/", many.getvalue(), filename="many.zip")
    assert status == 413

    status, _ = await client.upload("/", b"not a zip", filename="broken.zip")
    assert status == 400


async def test_nothing_is_served_without_credentials(client: Client) -> None:
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(client.files, params={"path": "/a"}) as got:
            assert got.status == 401
        form = aiohttp.FormData()
        form.add_field("fileContent", b"x", filename="x")
        async with anonymous.post(client.files, params={"path": "/a"}, data=form) as got:
            assert got.status == 401


SYMLINK_FLOW = """
id: symlink
namespace: victim
tasks:
  - id: shared
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: plant
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner: {type: io.kestra.plugin.core.runner.Process}
        commands: ["ln -s OUTSIDE scripts"]
      - id: load
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner: {type: io.kestra.plugin.core.runner.Process}
        namespaceFiles: {enabled: true}
        commands: ["true"]
"""


async def test_namespace_files_never_land_through_a_symlink(client: Client, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    status, text = await client.upload("/scripts/run.sh", b"echo pwned")
    assert status == 200, text
    base = client.files.split("/api/v1/")[0]
    source = SYMLINK_FLOW.replace("OUTSIDE", str(outside))
    headers = {"Content-Type": "application/x-yaml"}
    async with client.http.post(base + "/api/v1/flows", data=source, headers=headers) as got:
        assert got.status == 200, await got.text()
    async with client.http.post(
        base + "/api/v1/executions/victim/symlink?wait=true", data=aiohttp.FormData()
    ) as got:
        execution = await got.json()
    assert execution["state"]["current"] == "FAILED"
    assert list(outside.iterdir()) == []
