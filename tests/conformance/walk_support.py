"""What the walk's conformance tests share: one Podium per test module, serving HTTP, and
small readers of Kestra's JSON shapes (an execution, its task runs, its labels)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import pytest_asyncio

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import Api, basic

__all__ = [
    "Api",
    "executions_of",
    "labels",
    "module_api",
    "poll",
    "run",
    "runs_of",
    "wait_for",
    "wait_state",
]

T = TypeVar("T")

# polls, not timings: an answer is awaited until the state is reached, within this bound
STATE_BOUND_SECONDS = 30


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    data: Path = tmp_path_factory.mktemp("conformance") / "data"
    async with (
        running_podium(data, serve_http=True) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Api(podium, f"http://127.0.0.1:{podium.port}", http)


async def run(api: Api, source: str, **inputs: str) -> dict[str, Any]:
    """Deploy a flow and run it to its end (`wait=true`), as the API answers it."""
    flow = await api.deploy(source)
    started = await api.run(flow["namespace"], flow["id"], **inputs)
    return await wait_state(api, started["id"], *TERMINAL)


TERMINAL = ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED")


async def wait_state(api: Api, execution_id: str, *states: str) -> dict[str, Any]:
    return await wait_for(
        api, execution_id, lambda e: e["state"]["current"] in states, what=f"in {states}"
    )


async def wait_for(api: Api, execution_id: str, check: Any, *, what: str = "") -> dict[str, Any]:
    async def read() -> dict[str, Any] | None:
        async with api.http.get(api.url(f"/api/v1/executions/{execution_id}")) as got:
            if got.status == 200:
                found: dict[str, Any] = await got.json()
                if check(found):
                    return found
        return None

    return await poll(read, what=f"execution {execution_id} {what}")


async def poll(read: Callable[[], Awaitable[T | None]], *, what: str) -> T:
    """What `read` answers once it is not None, looked at again and again within a bound."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STATE_BOUND_SECONDS
    while True:
        found = await read()
        if found is not None:
            return found
        assert loop.time() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


async def executions_of(api: Api, namespace: str, flow_id: str) -> list[dict[str, Any]]:
    found = await api.json(
        "GET", f"/api/v1/executions/search?namespace={namespace}&flowId={flow_id}&size=100"
    )
    return found["results"]  # type: ignore[no-any-return]


def runs_of(execution: dict[str, Any], task_id: str) -> list[dict[str, Any]]:
    return [r for r in execution["taskRunList"] if r["taskId"] == task_id]


def labels(execution: dict[str, Any]) -> dict[str, str]:
    return {label["key"]: label["value"] for label in execution["labels"]}
