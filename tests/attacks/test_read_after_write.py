"""A read right after a create answers the execution, even while the projection lags
(the UI reads it as soon as Execute returns): as requested, state CREATED, until the
store has it."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.attacks.conftest import Server

FLOW = """
id: quick
namespace: attacks
labels: {team: a}
inputs:
  - {id: who, type: STRING, defaults: nobody}
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: "{{ inputs.who }}"}
"""


async def test_get_right_after_post_answers_the_requested_execution(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await server.deploy(FLOW)
    store = server.podium.store
    held = asyncio.Event()
    real_apply = store.apply

    async def lagging(events: Any) -> Any:  # the projector, behind
        await held.wait()
        return await real_apply(events)

    monkeypatch.setattr(store, "apply", lagging)
    url = f"{server.base}/api/v1/executions/attacks/quick"
    async with server.http.post(url, data=aiohttp.FormData({"who": "me"})) as answer:
        assert answer.status == 200
        created = await answer.json()
    try:
        read = await server.get(f"/api/v1/executions/{created['id']}")
        assert read["state"]["current"] == "CREATED"
        assert read["id"] == created["id"] and read["inputs"] == {"who": "me"}
        async with server.http.get(f"{server.base}/api/v1/executions/nope-{created['id']}") as a:
            assert a.status == 404  # only ids this server accepted
    finally:
        held.set()
    for _ in range(200):  # once projected, the stored execution is what answers
        read = await server.get(f"/api/v1/executions/{created['id']}")
        if read["state"]["current"] == "SUCCESS":
            break
        await asyncio.sleep(0.05)
    assert read["state"]["current"] == "SUCCESS" and read["taskRunList"]
