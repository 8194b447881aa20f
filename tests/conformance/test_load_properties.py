"""Kestra 1.x properties real flows use, through the real API: Pause `tasks` (deprecated),
`assets`, http.Download `saveAs`, `comparison` on ExecutionNamespace, FILE defaults."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from tasks.http.network import ALLOWED_NETWORKS_ENV
from tests.tasks.http.receiver import serve
from tests.web.conftest import YAML, Api
from tests.web.conftest import api as api  # the fixture: a whole Podium on HTTP

pytestmark = pytest.mark.e2e

PAUSE_TASKS = """
id: pause_tasks
namespace: conformance
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    pauseDuration: PT0S
    tasks:
      - {id: after, type: io.kestra.plugin.core.log.Log, message: resumed}
  - {id: last, type: io.kestra.plugin.core.log.Log, message: end}
"""

ASSETS = """
id: assets
namespace: conformance
assets:
  outputs:
    - {id: trips, type: io.kestra.plugin.ee.assets.Table}
tasks:
  - id: load
    type: io.kestra.plugin.core.log.Log
    message: loading
    assets:
      inputs:
        - {id: raw_trips, type: io.kestra.plugin.ee.assets.Table, metadata: {owner: data}}
      outputs:
        - {id: trips}
"""

SUFFIX = """
id: by_suffix
namespace: conformance
tasks:
  - {id: ok, type: io.kestra.plugin.core.log.Log, message: ok}
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: suffix-key
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionNamespace
        namespace: formance
        comparison: SUFFIX
  - id: other
    type: io.kestra.plugin.core.trigger.Webhook
    key: prefix-key
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionNamespace
        namespace: company
        comparison: PREFIX
"""


def download_flow(url: str) -> str:
    return f"""
id: download
namespace: conformance
tasks:
  - id: get
    type: io.kestra.plugin.core.http.Download
    uri: "{url}"
    saveAs: "{{{{ flow.id }}}}.csv"
"""


def runs(execution: dict[str, Any]) -> list[str]:
    return [run["taskId"] for run in execution["taskRunList"]]


async def test_pause_tasks_run_after_the_pause(api: Api) -> None:
    """Kestra 0.x flows/valids/pause*.yaml: a Pause's own `tasks` run once it resumes."""
    await api.deploy(PAUSE_TASKS)
    execution = await api.run("conformance", "pause_tasks")
    assert execution["state"]["current"] == "SUCCESS"
    assert runs(execution) == ["wait", "after", "last"]


async def test_assets_are_accepted_and_shown(api: Api) -> None:
    """Kestra 1.x docs "Assets": lineage declared on flows and tasks is kept and shown."""
    await api.deploy(ASSETS)
    shown = await api.json("GET", "/api/v1/flows/conformance/assets")
    assert shown["assets"]["outputs"] == [
        {"id": "trips", "type": "io.kestra.plugin.ee.assets.Table"}
    ]
    assert shown["tasks"][0]["assets"]["inputs"][0]["metadata"] == {"owner": "data"}
    execution = await api.run("conformance", "assets")
    assert execution["state"]["current"] == "SUCCESS"


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, "127.0.0.0/8,::1")  # the test's own server


@pytest.mark.usefixtures("loopback_allowed")
async def test_download_save_as_names_the_stored_file(api: Api) -> None:
    """Kestra 1.x http.Download `saveAs`: the stored file takes that name."""

    async def data(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"a,b\n1,2\n", content_type="text/csv")

    async with serve({"/data": data}) as server:
        await api.deploy(download_flow(server.url("/data")))
        execution = await api.run("conformance", "download")
    lines = await api.json("GET", f"/api/v1/logs/{execution['id']}")
    assert execution["state"]["current"] == "SUCCESS", [line["message"] for line in lines]
    uri = execution["taskRunList"][0]["outputs"]["uri"]
    assert uri.startswith("kestra:///conformance/download/") and uri.endswith("/download.csv")


@pytest.mark.usefixtures("loopback_allowed")
async def test_save_as_cannot_leave_the_execution_folder(api: Api) -> None:
    """An attacker-chosen `saveAs` with a path fails the task, nothing is written."""

    async def data(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x")

    async with serve({"/data": data}) as server:
        flow = download_flow(server.url("/data")).replace("{{ flow.id }}.csv", "../../evil")
        await api.deploy(flow)
        execution = await api.run("conformance", "download")
    assert execution["state"]["current"] == "FAILED"
    lines = await api.json("GET", f"/api/v1/logs/{execution['id']}")
    assert any("saveAs must be a file name" in line["message"] for line in lines)


async def test_execution_namespace_comparison(api: Api) -> None:
    """Kestra 1.x ExecutionNamespace `comparison: EQUALS|PREFIX|SUFFIX`."""
    await api.deploy(SUFFIX)
    base = "/api/v1/executions/webhook/conformance/by_suffix/"
    accepted = await api.json("POST", base + "suffix-key")
    assert accepted["id"]
    async with api.http.post(api.url(base + "prefix-key")) as rejected:
        assert rejected.status == 204


async def test_file_input_defaults_kestra_rejects_are_refused(api: Api) -> None:
    """Kestra's FileInputValidator: FILE defaults are file:// or nsfile:// URIs only."""
    source = """id: files
namespace: conformance
inputs:
  - id: data
    type: FILE
    defaults: "https://example.com/data.csv"
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: a}
"""
    answer = await api.json("POST", "/api/v1/flows/validate", data=source, headers=YAML)
    [problem] = answer[0]["problems"]
    assert problem["path"] == "inputs[0].defaults" and problem["line"] == 6
    assert "file URI" in problem["message"]
    fine = source.replace("https://example.com/data.csv", "nsfile:///data.csv")
    answer = await api.json("POST", "/api/v1/flows/validate", data=fine, headers=YAML)
    assert answer[0]["problems"] == []


def cached_flow(url: str) -> str:
    return f"""
id: cached
namespace: conformance
inputs:
  - {{id: name, type: STRING}}
tasks:
  - id: get
    type: io.kestra.plugin.core.http.Download
    uri: "{url}?name={{{{ inputs.name }}}}"
    taskCache: {{enabled: true, ttl: PT1H}}
"""


@pytest.mark.usefixtures("loopback_allowed")
async def test_task_cache_reuses_outputs_of_identical_runs(api: Api) -> None:
    """Kestra 1.x docs "Task cache": within `ttl`, a task whose rendered properties are
    the same is not run again; its earlier outputs are reused."""
    calls: list[str] = []

    async def data(request: web.Request) -> web.StreamResponse:
        calls.append(request.query["name"])
        return web.Response(body=f"call {len(calls)}".encode())

    async with serve({"/data": data}) as server:
        await api.deploy(cached_flow(server.url("/data")))
        first = await api.run("conformance", "cached", name="a")
        second = await api.run("conformance", "cached", name="a")
        other = await api.run("conformance", "cached", name="b")
    lines = await api.json("GET", f"/api/v1/logs/{first['id']}")
    assert first["state"]["current"] == "SUCCESS", [line["message"] for line in lines]
    assert [e["state"]["current"] for e in (first, second, other)] == ["SUCCESS"] * 3
    assert calls == ["a", "b"]

    def uri(execution: dict[str, Any]) -> str:
        return str(execution["taskRunList"][0]["outputs"]["uri"])

    assert uri(second) == uri(first) != uri(other)
    lines = await api.json("GET", f"/api/v1/logs/{second['id']}")
    assert any("task cache" in line["message"] for line in lines)
