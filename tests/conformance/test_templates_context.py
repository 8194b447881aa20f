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
