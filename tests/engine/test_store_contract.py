"""The store contract, over SQLite and PostgreSQL: the projection is idempotent,
sequence-guarded and never regresses a terminal state; flows keep revisions; triggers
claim each item once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.events import (
    EventDocument,
    ExecutionChanged,
    LogLine,
    LogsEmitted,
    TaskRunChanged,
    Wire,
)
from engine.states import State
from engine.store.base import Store
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore
from tests.support.postgres import SERVER, fresh_database_async

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        async with SqliteStore(tmp_path / "s.db") as opened:
            yield opened
        return
    async with (
        fresh_database_async("podium_store") as name,
        PostgresStore(f"{SERVER}/{name}") as opened,
    ):
        yield opened


async def reopen(store: Store) -> Store:
    if isinstance(store, SqliteStore):
        return await SqliteStore(store.path).__aenter__()
    assert isinstance(store, PostgresStore)
    return await PostgresStore(store.url).__aenter__()


async def apply(store: Store, events: list[Wire]) -> int:
    return await store.apply([EventDocument.of(e) for e in events])


def execution(seq: int, state: State, **extra: object) -> ExecutionChanged:
    return ExecutionChanged(
        execution_id="e1",
        namespace="n",
        flow_id="f",
        seq=seq,
        at=T0,
        revision=1,
        state=state,
        created_at=T0,
        **extra,  # type: ignore[arg-type]
    )


def task_run(seq: int, state: State, outputs: dict | None = None) -> TaskRunChanged:
    return TaskRunChanged(
        execution_id="e1",
        namespace="n",
        flow_id="f",
        seq=seq,
        at=T0,
        task_run_id="r1",
        task_id="t",
        state=state,
        created_at=T0,
        outputs=outputs or {},
    )


async def test_events_apply_in_seq_order_whatever_order_they_arrive(store: Store) -> None:
    await apply(store, [task_run(3, State.SUCCESS, {"v": 1}), task_run(2, State.RUNNING)])
    await apply(store, [execution(4, State.SUCCESS), execution(1, State.RUNNING)])
    [run] = await store.task_runs("e1")
    assert run.state is State.SUCCESS and run.outputs == {"v": 1}
    found = await store.get_execution("e1")
    assert found is not None and found.state is State.SUCCESS


async def test_redelivered_events_change_nothing(store: Store) -> None:
    logs = LogsEmitted(
        execution_id="e1",
        namespace="n",
        flow_id="f",
        seq=5,
        at=T0,
        lines=(LogLine(at=T0, level="INFO", message="hello", task_id="t"),),
    )
    batch = [execution(1, State.RUNNING), task_run(2, State.SUCCESS), logs]
    assert await apply(store, batch) == 3
    assert await apply(store, batch) == 0
    assert [line.message for line in await store.logs("e1")] == ["hello"]


async def test_a_terminal_state_never_regresses(store: Store) -> None:
    await apply(store, [execution(5, State.KILLED)])
    await apply(store, [execution(6, State.RUNNING)])
    found = await store.get_execution("e1")
    assert found is not None and found.state is State.KILLED


async def test_unfinished_executions_come_back_with_their_task_runs(store: Store) -> None:
    await apply(store, [execution(1, State.RUNNING), task_run(7, State.SUCCESS, {"x": 2})])
    [unfinished] = await store.unfinished_executions()
    assert unfinished.last_seq == 7
    assert unfinished.task_runs[0].outputs == {"x": 2}


async def test_flow_revisions_grow_only_when_the_source_changes(store: Store) -> None:
    first = await store.save_flow("n", "f", "a")
    same = await store.save_flow("n", "f", "a")
    second = await store.save_flow("n", "f", "b")
    assert (first.revision, same.revision, second.revision) == (1, 1, 2)
    old = await store.get_flow("n", "f", 1)
    assert old is not None and old.source == "a"
    assert await store.delete_flow("n", "f")
    assert await store.get_flow("n", "f") is None
    assert await store.list_flows() == []
    again = await store.save_flow("n", "f", "b")
    assert again.revision == 4


async def test_logs_filter_by_level_and_task(store: Store) -> None:
    lines = tuple(
        LogLine(at=T0, level=level, message=f"{task}:{level}", task_id=task)
        for task in ("a", "b")
        for level in ("DEBUG", "INFO", "ERROR")
    )
    event = LogsEmitted(execution_id="e1", namespace="n", flow_id="f", seq=1, at=T0, lines=lines)
    await apply(store, [event])
    found = await store.logs("e1", min_level="INFO", task_ids=["b"])
    assert [line.message for line in found] == ["b:INFO", "b:ERROR"]


async def test_the_schema_survives_reopening(store: Store) -> None:
    await apply(store, [execution(1, State.RUNNING)])
    again = await reopen(store)
    try:
        assert (await again.get_execution("e1")) is not None
    finally:
        await again.__aexit__(None, None, None)


async def test_claims_are_won_once_and_trigger_state_round_trips(store: Store) -> None:
    assert await store.claim("n/f/s", ["a", "b"]) == ["a", "b"]
    assert await store.claim("n/f/s", ["b", "c"]) == ["c"]
    assert await store.claim("n/g/s", ["a"]) == ["a"]
    await store.release("n/f/s", ["a"])
    assert await store.claim("n/f/s", ["a"]) == ["a"]
    assert await store.get_trigger_state("n/f/s") is None
    await store.set_trigger_state("n/f/s", {"last": "2026-01-01T00:00:00+00:00"})
    await store.set_trigger_state("n/f/s", {"last": "2026-01-02T00:00:00+00:00"})
    assert await store.get_trigger_state("n/f/s") == {"last": "2026-01-02T00:00:00+00:00"}
