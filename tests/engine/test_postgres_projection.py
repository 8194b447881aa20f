"""The PostgreSQL projection's staging tables (engine/store/postgres_projection.py): a
batch that fails leaves nothing behind for the next one, and a connection the server
ended is replaced, staging tables included, after an error the projector retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from engine.errors import TransientError
from engine.events import EventDocument
from engine.states import State
from engine.store.postgres import PostgresStore
from tests.engine.test_store_contract import T0, execution, task_run
from tests.support.postgres import SERVER, admin, fresh_database_async


@pytest.fixture
async def store() -> AsyncIterator[PostgresStore]:
    # one connection, so every batch runs on the same session and its staging tables
    async with (
        fresh_database_async("podium_projection") as name,
        PostgresStore(f"{SERVER}/{name}", min_size=1, max_size=1) as opened,
    ):
        yield opened


def out_of_range_task_run() -> EventDocument:
    """A task run whose seq does not fit a bigint: COPY fails while encoding it."""
    doc = task_run(2, State.RUNNING).model_dump(mode="json")
    doc.update(task_run_id="r2", seq=2**63)
    return EventDocument.parse(orjson.dumps(doc))


async def test_a_batch_that_failed_leaves_nothing_for_the_next(store: PostgresStore) -> None:
    failing = [
        EventDocument.of(execution(1, State.RUNNING)),
        EventDocument.of(task_run(2, State.RUNNING)),
        out_of_range_task_run(),
    ]
    with pytest.raises(OverflowError):
        await store.apply(failing)
    assert await store.get_execution("e1") is None

    other = execution(1, State.RUNNING).model_copy(update={"execution_id": "e2"})
    assert (await store.apply([EventDocument.of(other)])).changed == 1
    assert await store.get_execution("e1") is None  # staged by the failed batch: gone
    assert await store.task_runs("e1") == []
    found = await store.get_execution("e2")
    assert found is not None and found.created_at == T0


async def test_a_dropped_connection_comes_back_with_its_staging_tables(
    store: PostgresStore,
) -> None:
    assert (await store.apply([EventDocument.of(execution(1, State.RUNNING))])).changed == 1
    database = store.url.rsplit("/", 1)[-1]
    await admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )
    batch = [
        EventDocument.of(execution(2, State.SUCCESS)),
        EventDocument.of(task_run(3, State.SUCCESS)),
    ]
    for _ in range(5):  # as the projector retries: the pool notices only now
        try:
            await store.apply(batch)
            break
        except TransientError:
            await asyncio.sleep(0.05)
    found = await store.get_execution("e1")
    assert found is not None and found.state is State.SUCCESS
    [run] = await store.task_runs("e1")
    assert run.state is State.SUCCESS
    async with store.pool.acquire() as connection:
        staged = await connection.fetchval(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'podium_stage_%' "
            "AND relpersistence = 't' AND pg_table_is_visible(oid)"
        )
    assert staged == 5
