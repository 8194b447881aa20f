"""Flow import and export through the real API: Kestra's multipart form, all or nothing,
errors located by file and line; export zips that import back unchanged; curl as the
course's README writes it."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, course_flow
from tests.web.conftest import Api

ROOT = Path(__file__).resolve().parents[2]


def flow(flow_id: str, namespace: str = "company.team", message: str = "hi") -> str:
    return (
        f"id: {flow_id}\nnamespace: {namespace}\ntasks:\n"
        f"  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: {message}\n"
    )


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


async def upload(api: Api, filename: str, data: bytes, status: int = 200) -> object:
    form = aiohttp.FormData()
    form.add_field("fileUpload", data, filename=filename)
    return await api.json("POST", "/api/v1/flows/import", status=status, data=form)


async def stored(api: Api) -> set[tuple[str, str]]:
    return {(f["namespace"], f["id"]) for f in await api.json("GET", "/api/v1/flows")}


async def test_a_zip_of_five_flows_with_one_invalid_imports_nothing(api: Api) -> None:
    files = {f"flows/f{i}.yaml": flow(f"f{i}") for i in range(5)}
    files["flows/f3.yaml"] = flow("f3").replace(
        "io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.log.Logg"
    )
    answer = await upload(api, "flows.zip", zipped(files), status=422)
    assert isinstance(answer, dict)
    assert "flows/f3.yaml (line 5, column" in answer["message"]
    [problem] = answer["problems"]
    assert problem["file"] == "flows/f3.yaml"
    assert (problem["line"], problem["column"]) == (5, 5)  # the `type:` key
    assert "did you mean" in problem["message"]
    assert await stored(api) == set()

    files["flows/f3.yaml"] = flow("f3")
    assert await upload(api, "flows.zip", zipped(files)) == []
    assert await stored(api) == {("company.team", f"f{i}") for i in range(5)}


async def test_a_multi_document_yaml_is_located_by_line_in_the_whole_file(api: Api) -> None:
    good = flow("first")
    bad = "id: second\nnamespace: company.team\ntasks: []\nnope: 1\n"
    text = f"{good}---\n{bad}"
    answer = await upload(api, "several.yml", text.encode(), status=422)
    assert isinstance(answer, dict)
    lines = {p["line"] for p in answer["problems"]}
    assert good.count("\n") + 1 + 4 in lines  # `nope` on the fourth line of the second one
    assert {p["document"] for p in answer["problems"]} == {1}
    assert await stored(api) == set()

    text = f"{good}---\n{flow('second')}---\n{flow('third', 'other')}"
    assert await upload(api, "several.yml", text.encode()) == []
    assert await stored(api) == {
        ("company.team", "first"),
        ("company.team", "second"),
        ("other", "third"),
    }


async def test_the_same_flow_twice_in_one_upload_is_refused(api: Api) -> None:
    answer = await upload(api, "two.zip", zipped({"a.yaml": flow("x"), "b.yml": flow("x")}), 422)
    assert isinstance(answer, dict) and "defined twice: also in a.yaml" in answer["message"]
    assert await stored(api) == set()


async def test_importing_again_makes_no_new_revision_and_updates_what_changed(api: Api) -> None:
    await upload(api, "a.yaml", flow("a").encode())
    await upload(api, "a.yaml", flow("a").encode())
    got = await api.json("GET", "/api/v1/flows/company.team/a")
    assert got["revision"] == 1
    await upload(api, "a.yaml", flow("a", message="changed").encode())
    got = await api.json("GET", "/api/v1/flows/company.team/a")
    assert got["revision"] == 2


async def test_export_then_import_round_trip(api: Api) -> None:
    sources = {
        ("company.team", "one"): flow("one"),
        ("company.team.sub", "two"): flow("two", "company.team.sub"),
        ("elsewhere", "three"): "# a comment kept as written\n" + flow("three", "elsewhere"),
    }
    for source in sources.values():
        await api.deploy(source)

    async with api.http.get(api.url("/api/v1/flows/export/by-query?namespace=company.team")) as got:
        assert got.status == 200
        assert got.headers["Content-Disposition"] == 'attachment; filename="flows.zip"'
        by_query = await got.read()
    with zipfile.ZipFile(io.BytesIO(by_query)) as archive:
        assert sorted(archive.namelist()) == ["company.team-one.yml", "company.team.sub-two.yml"]

    ids = [{"namespace": ns, "id": i} for ns, i in sources]
    async with api.http.post(api.url("/api/v1/flows/export/by-ids"), json=ids) as got:
        assert got.status == 200
        by_ids = await got.read()
    with zipfile.ZipFile(io.BytesIO(by_ids)) as archive:
        exported = {name: archive.read(name).decode() for name in archive.namelist()}
    assert exported["elsewhere.three.yaml"] == sources[("elsewhere", "three")]

    for namespace, flow_id in sources:
        await api.json("DELETE", f"/api/v1/flows/{namespace}/{flow_id}", status=204)
    assert await stored(api) == set()
    assert await upload(api, "flows.zip", by_ids) == []
    for (namespace, flow_id), source in sources.items():
        got = await api.json("GET", f"/api/v1/flows/{namespace}/{flow_id}?source=true")
        assert got["source"] == source

    # Kestra 1.x's filter form, and a filter it does not know refused rather than ignored
    async with api.http.get(
        api.url("/api/v1/main/flows/export/by-query?filters[namespace][PREFIX]=elsewhere")
    ) as got:
        with zipfile.ZipFile(io.BytesIO(await got.read())) as archive:
            assert archive.namelist() == ["elsewhere-three.yml"]
    await api.json("GET", "/api/v1/flows/export/by-query?filters[labels][EQUALS]=a:b", status=400)
    await api.json(
        "POST", "/api/v1/flows/export/by-ids", status=404, json=[{"namespace": "x", "id": "y"}]
    )


async def test_uploads_that_are_not_flows_are_refused_with_a_reason(api: Api) -> None:
    answer = await upload(api, "notes.txt", b"hello", status=400)
    assert isinstance(answer, dict) and "'.txt'" in answer["message"]
    answer = await upload(api, "mixed.zip", zipped({"a.yaml": flow("a"), "b.md": "#"}), 400)
    assert isinstance(answer, dict) and "'b.md'" in answer["message"]
    await api.json("POST", "/api/v1/flows/import", status=415, data=flow("a"))
    form = aiohttp.FormData()
    form.add_field("file", flow("a").encode(), filename="a.yaml")
    await api.json("POST", "/api/v1/flows/import", status=400, data=form)
    # what macOS's archiver adds is skipped, and directories too
    mac = {
        "x/": "",
        "__MACOSX/x/._a.yaml": "\x00\x05",
        "x/.hidden.yaml": "?",
        "x/a.yaml": flow("a"),
    }
    assert await upload(api, "mac.zip", zipped(mac)) == []


def _curl(cwd: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def _readme_line(needle: str, port: int) -> str:
    """The README's command line holding `needle`, on the test server's port."""
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if needle in line and "curl" in line)
    return line.replace("localhost:8080", f"localhost:{port}")


def _shell(line: str) -> str:
    done = subprocess.run(
        ["bash", "-c", line], cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PASSWORD": ADMIN_PASSWORD},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


@pytest.mark.smoke
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_readme_first_screen_commands_as_written(api: Api) -> None:
    """README.md's import, create and execute lines, run by bash from the repository's
    folder with $PASSWORD set, on the test server's port instead of 8080."""
    port = api.podium.port
    imported = await asyncio.to_thread(_shell, _readme_line("/api/v1/flows/import", port))
    assert json.loads(imported) == []
    created = await asyncio.to_thread(_shell, _readme_line("examples/python_script.yaml", port))
    assert json.loads(created)["id"] == "python_script"
    assert {("examples", "hello_world"), ("examples", "python_script")} <= await stored(api)
    ran = await asyncio.to_thread(
        _shell, _readme_line("executions/examples/hello_world?wait", port)
    )
    execution = json.loads(ran)
    assert execution["state"]["current"] == "SUCCESS"
    logs = await asyncio.to_thread(
        _shell,
        _readme_line("/api/v1/logs/EXECUTION_ID", port).replace("EXECUTION_ID", execution["id"]),
    )
    assert "Hello, Ada!" in logs


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_course_import_command_as_written(api: Api, tmp_path: Path) -> None:
    """The course's README: `curl -X POST -u … /api/v1/flows/import
    -F fileUpload=@flows/01_hello_world.yaml`, with Podium's port and credentials."""
    (tmp_path / "flows").mkdir()
    shutil.copy(course_flow("01_hello_world.yaml"), tmp_path / "flows")
    url = f"http://localhost:{api.podium.port}/api/v1/flows/import"
    status, body = await asyncio.to_thread(
        _curl, tmp_path, "-X", "POST", "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", url,
        "-F", "fileUpload=@flows/01_hello_world.yaml",
    )  # fmt: skip
    assert (status, json.loads(body)) == (200, [])
    assert ("zoomcamp", "01_hello_world") in await stored(api)
