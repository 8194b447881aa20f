"""The PostgreSQL projection's staging tables (engine/store/postgres_projection.py): a
batch that fails leaves nothing behind for the next one, a connection the server ended
is replaced, staging tables included, after an error the projector retries, and times
staged as text are the instants Python reads in them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest

from engine.errors import TransientError
from engine.events import EventDocument, LogLine, MetricEmitted
from engine.states import State
from engine.store.postgres import PostgresStore
from tests.engine.test_store_contract import T0, execution, log_event, task_run
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


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-04T15:22:53.883696Z",  # as Podium writes them: staged as they are
        "2026-12-04T15:22:53Z",
        "2026-12-04T17:22:53.5+02:00",  # any other form: normalised in Python
        "2026-12-04T15:22:53.123456789Z",  # past microseconds: Python truncates
        "2026-12-04T15:22:53.883696",  # no offset: this process's local time
    ],
)
async def test_a_time_is_stored_as_python_reads_it(store: PostgresStore, text: str) -> None:
    expected = datetime.fromisoformat(text).astimezone(UTC)
    docs = [
        execution(1, State.SUCCESS).model_dump(mode="json") | {"at": text, "created_at": text},
        execution(1, State.SUCCESS).model_dump(mode="json") | {"ended_at": text},
        log_event("e1", (LogLine(at=T0, level="INFO", message="m"),)).model_dump(mode="json"),
        MetricEmitted(
            execution_id="e1", namespace="n", flow_id="f", seq=1, at=T0, task_run_id=None,
            task_id=None, name="m", metric_kind="counter", value=1.0,
        ).model_dump(mode="json") | {"at": text},
    ]  # fmt: skip
    docs[1]["execution_id"] = "e2"
    docs[2]["lines"][0]["at"] = text
    await store.apply([EventDocument.parse(orjson.dumps(doc)) for doc in docs])
    async with store.pool.acquire() as connection:
        stored = await connection.fetchrow(
            "SELECT (SELECT created_at FROM executions WHERE id = 'e1'),"
            " (SELECT ended_at FROM executions WHERE id = 'e2'),"
            " (SELECT at FROM state_changes WHERE execution_id = 'e1'),"
            " (SELECT at FROM logs), (SELECT at FROM metrics)"
        )
    assert list(stored) == [expected] * 5
