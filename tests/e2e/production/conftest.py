"""A private Tansu broker and a fresh PostgreSQL database for each production test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.bus.base import Bus
from engine.store import open_store
from engine.store.base import Store
from tests.e2e.production.cluster import Cluster
from tests.support.kafka import make_bus, running_broker
from tests.support.postgres import SERVER, fresh_database, fresh_database_async


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A broker of the test's own: topic names are fixed (podium.requests, …), so tests
    must not share one. PODIUM_TEST_BUS is not used here for the same reason."""
    with running_broker() as broker:
        yield broker.url


@pytest.fixture
def cluster(tmp_path: Path, broker_url: str) -> Iterator[Cluster]:
    with fresh_database("podium_prod") as database:
        running = Cluster(tmp_path, broker_url, f"{SERVER}/{database}")
        try:
            yield running
        finally:
            running.stop_all()


@pytest.fixture
async def observer(cluster: Cluster) -> AsyncIterator[tuple[Bus, Store]]:
    """The test's own view of the cluster's bus and store (for the invariant checker)."""
    async with (
        make_bus(cluster.bus_url.split("?")[0]) as bus,
        open_store(cluster.store_url) as store,
    ):
        yield bus, store


@pytest.fixture
async def empty_store() -> AsyncIterator[Store]:
    async with (
        fresh_database_async("podium_replay") as database,
        open_store(f"{SERVER}/{database}") as store,
    ):
        yield store
