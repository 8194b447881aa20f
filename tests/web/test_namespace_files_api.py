"""Namespace files end to end through the real server: Kestra's REST paths and shapes,
a Python script task that loads them with `namespaceFiles`, `read()`, and the
namespace tasks."""

from __future__ import annotations

import io
import zipfile

import aiohttp
import pytest

from tests.web.conftest import Api

pytestmark = pytest.mark.e2e

FILES = "/api/v1/namespaces/team.data/files"


async def upload(
    api: Api, path: str, data: bytes, *, filename: str = "f", status: int = 200
) -> None:
    form = aiohttp.FormData()
    form.add_field("fileContent", data, filename=filename)
    async with api.http.post(api.url(FILES), params={"path": path}, data=form) as got:
        assert got.status == status, await got.text()


async def download(api: Api, path: str, **params: str) -> bytes:
    async with api.http.get(api.url(FILES), params={"path": path, **params}) as got:
        assert got.status == 200, await got.text()
        return await got.read()


async def test_the_rest_paths(api: Api) -> None:
    await upload(api, "/scripts/etl.py", b"print('v1')\n")
    await upload(api, "scripts/etl.py", b"print('v2')\n")
    await upload(api, "/queries/q.sql", b"select 1")
    assert await download(api, "/scripts/etl.py") == b"print('v2')\n"
    assert await download(api, "/scripts/etl.py", revision="1") == b"print('v1')\n"
    assert await api.json("GET", FILES + "/revisions", params={"path": "/scripts/etl.py"}) == [
        {"revision": 1},
        {"revision": 2},
    ]
    root = await api.json("GET", FILES + "/directory")
    assert [(e["fileName"], e["type"]) for e in root] == [
        ("queries", "Directory"),
        ("scripts", "Directory"),
    ]
    listing = await api.json("GET", FILES + "/directory", params={"path": "/scripts"})
    assert listing[0]["fileName"] == "etl.py" and listing[0]["size"] == 12
    assert set(listing[0]) == {
        "fileName",
        "lastModifiedTime",
        "creationTime",
        "type",
        "size",
        "metadata",
    }
    stats = await api.json("GET", FILES + "/stats", params={"path": "/queries/q.sql"})
    assert (stats["type"], stats["size"]) == ("File", 8)
    assert (await api.json("GET", FILES + "/stats"))["fileName"] == "_files"
    assert await api.json("GET", FILES + "/search", params={"q": "ETL"}) == ["/scripts/etl.py"]

    await api.json("PUT", FILES, params={"from": "/queries", "to": "/sql"})
    assert await download(api, "/sql/q.sql") == b"select 1"
    await api.json("GET", FILES + "/stats", 404, params={"path": "/queries/q.sql"})
    await api.json("POST", FILES + "/directory", params={"path": "/empty"})
    names = [e["fileName"] for e in await api.json("GET", FILES + "/directory")]
    assert names == ["empty", "scripts", "sql"]

    async with api.http.get(api.url(FILES + "/export")) as got:
        assert got.status == 200
        assert "team.data_files.zip" in got.headers["Content-Disposition"]
        archive = zipfile.ZipFile(io.BytesIO(await got.read()))
    assert sorted(archive.namelist()) == ["scripts/etl.py", "sql/q.sql"]

    await api.json("DELETE", FILES, params={"path": "/sql"})
    await api.json("DELETE", FILES, 404, params={"path": "/sql"})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as made:
        made.writestr("a/one.txt", "1")
        made.writestr("two.txt", "2")
    await upload(api, "/", buffer.getvalue(), filename="bundle.zip")
    assert await download(api, "/a/one.txt") == b"1"
    assert await download(api, "/two.txt") == b"2"
    # the tenant form of the path reaches the same files
    async with api.http.get(
        api.url("/api/v1/main/namespaces/team.data/files"), params={"path": "/two.txt"}
    ) as got:
        assert await got.read() == b"2"


FLOW = """
id: uses_files
namespace: team.data
variables:
  greeting: "{{ read('config/greeting.txt') }}"
tasks:
  - id: python
    type: io.kestra.plugin.scripts.python.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    namespaceFiles:
      enabled: true
      include: [scripts/**, config/*]
      exclude: ["**.md"]
    commands:
      - python scripts/main.py
      - test ! -e scripts/README.md
  - id: read_it
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('/config/greeting.txt') | trim }} / {{ render(vars.greeting) | trim }}"
  - id: upload
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: team.data
    files:
      /out/result.txt: "{{ outputs.python.outputFiles['result.txt'] }}"
  - id: download
    type: io.kestra.plugin.core.namespace.DownloadFiles
    namespace: team.data
    files: ["/out/**"]
  - id: read_download
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(outputs.download.files['/out/result.txt']) }}"
  - id: delete
    type: io.kestra.plugin.core.namespace.DeleteFiles
    namespace: team.data
    files: ["**.md"]
"""


async def test_a_flow_uses_namespace_files(api: Api) -> None:
    await upload(
        api,
        "/scripts/main.py",
        b"from helper import VALUE\nopen('result.txt', 'w').write(VALUE)\nprint('::' + '{\"outputs\": {\"value\": \"' + VALUE + '\"}}::')\n",
    )
    await upload(api, "/scripts/helper.py", b"VALUE = 'from a namespace file'\n")
    await upload(api, "/scripts/README.md", b"not copied")
    await upload(api, "/config/greeting.txt", b"hello\n")
    flow = FLOW.replace(
        "      - python scripts/main.py", "      - cd scripts && python main.py && mv result.txt .."
    )
    flow = flow.replace("    commands:", "    outputFiles: [result.txt]\n    commands:")
    await api.deploy(flow)
    execution = await api.run("team.data", "uses_files")
    assert execution["state"]["current"] == "SUCCESS", execution
    runs = {r["taskId"]: r for r in execution["taskRunList"]}
    assert runs["python"]["outputs"]["vars"]["value"] == "from a namespace file"
    assert runs["read_it"]["outputs"]["value"] == "hello / hello"
    assert runs["read_download"]["outputs"]["value"] == "from a namespace file"
    assert await download(api, "/out/result.txt") == b"from a namespace file"
    await api.json("GET", FILES + "/stats", 404, params={"path": "/scripts/README.md"})


async def test_read_is_confined_to_its_execution(api: Api) -> None:
    await api.deploy(
        """
id: writer
namespace: team.data
tasks:
  - id: write
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    outputFiles: [secret.txt]
    commands: [echo top-secret > secret.txt]
"""
    )
    first = await api.run("team.data", "writer")
    uri = next(r for r in first["taskRunList"] if r["taskId"] == "write")["outputs"]["outputFiles"][
        "secret.txt"
    ]
    await api.deploy(
        f"""
id: reader
namespace: team.data
tasks:
  - id: steal
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ read('{uri}') }}}}"
"""
    )
    second = await api.run("team.data", "reader")
    assert second["state"]["current"] == "FAILED"
    logs = await api.json("GET", f"/api/v1/logs/{second['id']}")
    assert any("does not belong to this execution" in line["message"] for line in logs)
    assert not any("top-secret" in line["message"] for line in logs)
