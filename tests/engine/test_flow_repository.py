"""FlowRepository's look-up of a flow's latest revision: cached briefly, and shared by
the requests that ask for it at the same time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import default_registries
from engine.flows import FlowRepository
from engine.store import open_store
from engine.store.base import Store

REGISTRIES = default_registries()


def flow(message: str) -> str:
    return f"""
id: hello
namespace: company.team
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: {message}
"""


class CountingStore:
    """The store, counting `get_flow` calls and holding each until `release` is set."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.looked_up = 0
        self.release = asyncio.Event()
        self.release.set()

    async def get_flow(self, *args: Any) -> Any:
        self.looked_up += 1
        await self.release.wait()
        return await self._store.get_flow(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    async with open_store(f"sqlite:///{tmp_path / 'podium.db'}") as store:
        yield CountingStore(store)


async def test_requests_arriving_together_share_one_look_up(store: CountingStore) -> None:
    await store.save_flow("company.team", "hello", flow("one"))
    flows = FlowRepository(store, REGISTRIES)  # type: ignore[arg-type]
    store.release.clear()
    waiting = [asyncio.create_task(flows.get("company.team", "hello")) for _ in range(50)]
    await asyncio.sleep(0.01)
    store.release.set()
    found = await asyncio.gather(*waiting)
    assert store.looked_up == 1
    assert {f.revision for f in found if f is not None} == {1} and None not in found


async def test_a_caller_cancelled_leaves_the_look_up_to_the_others(store: CountingStore) -> None:
    await store.save_flow("company.team", "hello", flow("one"))
    flows = FlowRepository(store, REGISTRIES)  # type: ignore[arg-type]
    store.release.clear()
    first = asyncio.create_task(flows.get("company.team", "hello"))
    second = asyncio.create_task(flows.get("company.team", "hello"))
    await asyncio.sleep(0.01)
    first.cancel()
    store.release.set()
    found = await second
    assert found is not None and found.revision == 1
    assert store.looked_up == 1


async def test_a_save_during_a_look_up_is_seen_by_the_next_request(store: CountingStore) -> None:
    await store.save_flow("company.team", "hello", flow("one"))
    flows = FlowRepository(store, REGISTRIES)  # type: ignore[arg-type]
    store.release.clear()
    stale = asyncio.create_task(flows.get("company.team", "hello"))
    await asyncio.sleep(0.01)
    saved = await flows.save(flow("two"))
    store.release.set()
    await stale  # it may have read revision 1: it must not be remembered as the latest
    latest = await flows.get("company.team", "hello")
    assert latest is not None and latest.revision == saved.revision == 2
