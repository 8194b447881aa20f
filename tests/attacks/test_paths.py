"""Path traversal: storage URIs, download paths, inputFiles and outputFiles never reach
outside their root (`..`, absolute, backslashes, percent-encoding, NUL, symlinks)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import StorageError
from engine.storage import LocalStorage
from tests.attacks.conftest import Server
from tests.conftest import Harness

TRAVERSALS = [
    "kestra:///../../../etc/passwd",
    "kestra:////etc/passwd",
    "kestra:///a/../../outside.txt",
    "kestra:///..%2f..%2foutside.txt",
    "kestra:///%2e%2e/%2e%2e/outside.txt",
    "kestra:///..\\..\\outside.txt",
    "kestra:///a%00/../../outside.txt",
    "kestra:///a\x00b",
    "kestra:///%252e%252e/outside.txt",
    "kestra:///./outside.txt",
    "kestra://",
    "file:///etc/passwd",
    "/etc/passwd",
    "kestra:///link/outside.txt",  # `link` is a symlink to the folder above the root
]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    (tmp_path / "outside.txt").write_text("not yours")
    store = LocalStorage(tmp_path / "root")
    (store.root / "link").symlink_to(tmp_path)
    return store


@pytest.mark.parametrize("uri", TRAVERSALS)
def test_storage_uris_cannot_leave_the_root(storage: LocalStorage, uri: str) -> None:
    try:
        path = storage.path_of(uri)
    except StorageError:
        return
    assert path.is_relative_to(storage.root), f"{uri!r} -> {path}"
    with pytest.raises(StorageError):
        storage.read(uri)  # and whatever it names inside the root does not exist


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="./\\%25fe0Ca\x00:~ ", max_size=40))
def test_storage_uris_fuzzed(tmp_path_factory: pytest.TempPathFactory, tail: str) -> None:
    store = LocalStorage(tmp_path_factory.getbasetemp() / "fuzzed-root")
    try:
        path = store.path_of("kestra:///" + tail)
    except StorageError:
        return
    assert path.resolve().is_relative_to(store.root), f"{tail!r} -> {path}"


SCRIPT = """
id: {id}
namespace: attacks
tasks:
  - id: s
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    inputFiles: {inputs}
    outputFiles: {outputs}
    commands: [{command}]
"""


@pytest.mark.parametrize(
    "name",
    ["../escape.txt", "../../escape.txt", "/tmp/podium-escape.txt", "a/../../escape.txt",
     "..\\escape.txt", "%2e%2e/escape.txt", "a\x00b"],
)  # fmt: skip
async def test_input_files_stay_in_the_working_directory(
    harness: Harness, tmp_path: Path, name: str
) -> None:
    import json

    source = SCRIPT.format(
        id="infiles", inputs=json.dumps({name: "pwned"}), outputs="[]", command="ls -R"
    )
    outcome = await harness.run(source)
    # the task's working directory is deleted after the run: any file left was outside it
    written = list(tmp_path.rglob("*escape*"))
    assert written == [], written
    assert not Path("/tmp/podium-escape.txt").exists()
    if outcome.state == "SUCCESS":  # accepted only as a plain file name inside the folder
        assert "\\" in name or "%" in name, outcome.messages()
    else:
        assert "working directory" in (outcome.run("s").error or "") or "input file" in (
            outcome.run("s").error or ""
        ), outcome.run("s").error


@pytest.mark.parametrize("pattern", ["../*", "../../**", "/etc/passwd", "**/../*", "leak.txt"])
async def test_output_files_are_only_regular_files_of_the_working_directory(
    harness: Harness, pattern: str
) -> None:
    import json

    source = SCRIPT.format(
        id="outfiles", inputs="{}", outputs=json.dumps([pattern]),
        command="ln -s /etc/passwd leak.txt",
    )  # fmt: skip
    outcome = await harness.run(source)
    run = outcome.run("s")
    uploaded = run.outputs.get("outputFiles") or {}
    assert uploaded == {}, uploaded  # nothing outside, and not the symlink
    if outcome.state != "SUCCESS":
        assert "output file" in (run.error or ""), run.error


FILE_FLOW = """
id: files
namespace: attacks
tasks:
  - id: s
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    outputFiles: [out.txt]
    commands: [echo mine > out.txt]
"""


async def test_downloads_cannot_leave_the_execution_folder(server: Server, tmp_path: Path) -> None:
    await server.deploy(FILE_FLOW)
    first = await server.run("attacks", "files")
    second = await server.run("attacks", "files")
    uri = first["taskRunList"][0]["outputs"]["outputFiles"]["out.txt"]
    other = second["taskRunList"][0]["outputs"]["outputFiles"]["out.txt"]
    root = server.podium.storage.root if hasattr(server.podium, "storage") else None
    (tmp_path / "outside.txt").write_text("not yours")
    url = f"{server.base}/api/v1/executions/{first['id']}/file?path="
    async with server.http.get(url + quote(uri)) as answer:
        assert answer.status == 200 and (await answer.read()) == b"mine\n"
    attempts = [*TRAVERSALS, other, uri + "/../../../../../../../outside.txt"]
    for attempt in attempts:
        async with server.http.get(url + quote(attempt, safe="")) as answer:
            body = await answer.read()
            assert answer.status in (400, 404), f"{attempt!r}: {answer.status} {body[:100]!r}"
            assert b"not yours" not in body and b"root:" not in body
    # raw, unquoted paths straight in the URL, as a client that does not encode sends them
    for raw in ("kestra:///../../../etc/passwd", "kestra:///%2e%2e/%2e%2e/etc/passwd"):
        async with server.http.get(url + raw) as answer:
            assert answer.status in (400, 404)
    assert root is None or os.path.isdir(root)


async def test_a_too_long_file_name_is_a_400(server: Server) -> None:
    await server.deploy(FILE_FLOW)
    ended = await server.run("attacks", "files")
    uri = ended["taskRunList"][0]["outputs"]["outputFiles"]["out.txt"]
    folder = uri.rsplit("/", 1)[0]
    for route in ("file", "file/preview"):
        url = f"{server.base}/api/v1/executions/{ended['id']}/{route}?path="
        for long in (folder + "/" + "a" * 5000, folder + "/" + "/".join(["b" * 200] * 30)):
            async with server.http.get(url + quote(long, safe="")) as answer:
                assert answer.status == 400, (route, answer.status, await answer.text())
