"""A Podium serving HTTP with a secret in its environment, and a client for it."""

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

SECRET_VALUE = "attack-s3cr3t-Kp9"
ENVIRON = {
    "SECRET_TOKEN": base64.b64encode(SECRET_VALUE.encode()).decode(),
    "PODIUM_ADMIN_USER": ADMIN_USER,
    "PODIUM_ADMIN_PASSWORD": ADMIN_PASSWORD,
}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@dataclass
class Server:
    podium: Podium
    base: str
    http: aiohttp.ClientSession  # authenticated as the admin

    async def deploy(self, source: str) -> None:
        async with self.http.post(
            self.base + "/api/v1/flows", data=source, headers={"Content-Type": "application/x-yaml"}
        ) as answer:
            assert answer.status == 200, await answer.text()

    async def get(self, path: str) -> Any:
        async with self.http.get(self.base + path) as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()

    async def run(self, namespace: str, flow_id: str) -> dict[str, Any]:
        url = f"{self.base}/api/v1/executions/{namespace}/{flow_id}?wait=true"
        async with self.http.post(url, data=aiohttp.FormData()) as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with (
        running_podium(tmp_path / "data", serve_http=True, environ=ENVIRON) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Server(podium, f"http://127.0.0.1:{podium.port}", http)
