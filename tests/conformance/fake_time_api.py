"""A whole embedded Podium on HTTP whose clock only moves when a test says so, and that a
test can stop and start again on the same data (restart survival)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from engine.clock import FakeClock
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import Api, basic

START = datetime.fromisoformat("2026-03-04T10:00:05+00:00")


class ClockedApi(Api):
    clock: FakeClock

    async def start(self, namespace: str, flow_id: str, status: int = 200, **inputs: str) -> Any:
        """Ask for an execution without waiting for it (the answer, or the refusal)."""
        form = aiohttp.FormData()
        for key, value in inputs.items():
            form.add_field(key, value)
        return await self.json(
            "POST", f"/api/v1/executions/{namespace}/{flow_id}", status=status, data=form
        )

    async def executions(self, namespace: str, flow_id: str) -> list[dict[str, Any]]:
        await self.podium.projector.caught_up()
        found = await self.json(
            "GET", f"/api/v1/executions/search?namespace={namespace}&flowId={flow_id}&size=100"
        )
        return found["results"]  # type: ignore[no-any-return]

    async def until(self, execution_id: str, *states: str, timeout: float = 20.0) -> dict[str, Any]:
        """The execution once it is in one of `states` (any terminal one by default)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.podium.projector.caught_up()
            stored = await self.podium.store.get_execution(execution_id)
            if stored is not None and (
                stored.state.value in states or (not states and stored.state.is_terminal)
            ):
                return await self.json("GET", f"/api/v1/executions/{execution_id}")  # type: ignore[no-any-return]
            assert loop.time() < deadline, f"{execution_id} still {stored and stored.state}"
            await asyncio.sleep(0.01)

    async def logs(self, execution_id: str) -> list[tuple[str, str]]:
        lines = await self.json("GET", f"/api/v1/logs/{execution_id}")
        return [(line["level"], line["message"]) for line in lines]


@contextlib.asynccontextmanager
async def clocked_api(data: Path, clock: FakeClock) -> AsyncIterator[ClockedApi]:
    # a stop leaves running executions to the next start at once (restart tests)
    drain = {"drain_seconds": 0}
    async with (
        running_podium(data, clock=clock, serve_http=True, executor=drain) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        api = ClockedApi(podium, f"http://127.0.0.1:{podium.port}", http)
        api.clock = clock
        yield api
