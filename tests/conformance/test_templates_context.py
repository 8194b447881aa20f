"""Template context conformance with Kestra 1.x: `globals`, the `is json` test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import Api, basic

pytestmark = pytest.mark.e2e

CONTEXT = """
id: context
namespace: conformance
tasks:
  - {id: team, type: io.kestra.plugin.core.debug.Return, format: "{{ globals.team }} {{ globals.limits.rows }}"}
  - {id: json, type: io.kestra.plugin.core.debug.Return, format: "{{ '{\\"a\\": 1}' is json }} {{ 'nope' is json }}"}
"""


LOOPS = """
id: loops
namespace: conformance
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.WaitFor
    condition: "{{ outputs.count.value | number >= 3 }}"
    checkFrequency: {interval: PT0S, maxIterations: 5}
    tasks:
      - {id: count, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.wait.iterationCount }}"}
  - id: dir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - {id: inside, type: io.kestra.plugin.core.debug.Return, format: "{{ workerTaskrun.taskId }} {{ workerTaskrun.attemptsCount == taskrun.attemptsCount }}"}
"""


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    globals_ = {"team": "data", "limits": {"rows": 10}}
    async with (
        running_podium(tmp_path / "data", serve_http=True, globals=globals_) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Api(podium, f"http://127.0.0.1:{podium.port}", http)


def outputs(execution: dict[str, Any]) -> dict[str, Any]:
    return {run["taskId"]: run["outputs"]["value"] for run in execution["taskRunList"]}


async def test_globals_and_is_json(api: Api) -> None:
    """Kestra docs "Variables" (`kestra.variables.globals` read as `{{ globals.x }}`) and
    Pebble's `json` test from Kestra's JsonTest."""
    await api.deploy(CONTEXT)
    execution = await api.run("conformance", "context")
    assert execution["state"]["current"] == "SUCCESS"
    assert outputs(execution) == {"team": "data 10", "json": "true false"}


async def test_waitfor_iteration_count_and_worker_taskrun(api: Api) -> None:
    """Kestra's WaitForCaseTest (flows/valids/waitfor*.yaml: outputs.<waitfor>.iterationCount
    inside its own tasks) and WorkingDirectoryTest (`workerTaskrun` inside it)."""
    await api.deploy(LOOPS)
    execution = await api.json("POST", "/api/v1/executions/conformance/loops?wait=true")
    assert execution["state"]["current"] == "SUCCESS"
    counts = [r["outputs"]["value"] for r in execution["taskRunList"] if r["taskId"] == "count"]
    assert counts == ["1", "2", "3"]
    inside = [r for r in execution["taskRunList"] if r["taskId"] == "inside"]
    assert inside[0]["outputs"]["value"] == "dir true"
