"""A running Podium serving HTTP, and an authenticated aiohttp client for its API."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.server import Podium
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium

YAML = {"Content-Type": "application/x-yaml"}

HELLO = """
id: hello
namespace: tests.web
description: says hello
labels: {team: web}
inputs:
  - {id: name, type: STRING, defaults: world}
tasks:
  - {id: greet, type: io.kestra.plugin.core.log.Log, message: "hello {{ inputs.name }}"}
  - {id: answer, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.name }}"}
"""


@dataclass
class Api:
    podium: Podium
    base: str
    http: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return self.base + path

    async def json(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        async with self.http.request(method, self.url(path), **kwargs) as response:
            text = await response.text()
            assert response.status == status, f"{method} {path}: {response.status} {text}"
            return await response.json() if text else None

    async def deploy(self, source: str) -> dict[str, Any]:
        async with self.http.post(self.url("/api/v1/flows"), data=source, headers=YAML) as got:
            if got.status == 409:
                ns, flow_id = _ids(source)
                return await self.json(
                    "PUT", f"/api/v1/flows/{ns}/{flow_id}", data=source, headers=YAML
                )  # type: ignore[no-any-return]
            assert got.status == 200, await got.text()
            return await got.json()  # type: ignore[no-any-return]

    async def run(self, namespace: str, flow_id: str, **inputs: str) -> dict[str, Any]:
        form = aiohttp.FormData()
        for key, value in inputs.items():
            form.add_field(key, value)
        return await self.json(  # type: ignore[no-any-return]
            "POST", f"/api/v1/executions/{namespace}/{flow_id}?wait=true", data=form
        )


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _ids(source: str) -> tuple[str, str]:
    import yaml

    doc = yaml.safe_load(source)
    return doc["namespace"], doc["id"]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with (
        running_podium(tmp_path / "data", serve_http=True) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Api(podium, f"http://127.0.0.1:{podium.port}", http)
