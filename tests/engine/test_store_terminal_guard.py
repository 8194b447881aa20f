"""The one way out of a terminal state is RESTARTED; an ended execution may still get
new labels (the same state, a newer seq). Over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.events import EventDocument, ExecutionChanged, TaskRunChanged
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
        fresh_database_async("podium_guard") as name,
        PostgresStore(f"{SERVER}/{name}") as opened,
    ):
        yield opened


def header(seq: int, state: State, **labels: str) -> EventDocument:
    return EventDocument.of(
        ExecutionChanged(
            execution_id="e", namespace="n", flow_id="f", seq=seq, at=T0, revision=1,
            state=state, labels=labels, created_at=T0,
        )
    )  # fmt: skip


def run(seq: int, state: State, attempt: int = 1) -> EventDocument:
    return EventDocument.of(
        TaskRunChanged(
            execution_id="e", namespace="n", flow_id="f", seq=seq, at=T0, task_run_id="r",
            task_id="t", state=state, attempt=attempt, created_at=T0,
        )
    )  # fmt: skip


async def test_restarted_leaves_a_terminal_state_and_nothing_else_does(store: Store) -> None:
    await store.apply([header(1, State.RUNNING), run(2, State.RUNNING), run(3, State.FAILED)])
    await store.apply([header(4, State.FAILED)])
    await store.apply([header(5, State.RUNNING), run(5, State.RUNNING)])  # not a restart
    found = await store.get_execution("e")
    assert found is not None and found.state is State.FAILED
    assert [r.state for r in await store.task_runs("e")] == [State.FAILED]

    await store.apply([run(6, State.RESTARTED, attempt=2), header(7, State.RESTARTED)])
    await store.apply([header(8, State.RUNNING), run(9, State.RUNNING, attempt=2)])
    await store.apply([run(10, State.SUCCESS, attempt=2), header(11, State.SUCCESS)])
    await store.apply([header(3, State.FAILED)])  # an old event, redelivered
    found = await store.get_execution("e")
    assert found is not None and found.state is State.SUCCESS
    [task_run] = await store.task_runs("e")
    assert (task_run.state, task_run.attempt) == (State.SUCCESS, 2)


async def test_an_ended_execution_takes_new_labels_but_keeps_its_state(store: Store) -> None:
    await store.apply([header(1, State.RUNNING), header(2, State.SUCCESS, team="a")])
    await store.apply([header(3, State.SUCCESS, team="a", owner="me")])
    await store.apply([header(4, State.FAILED, team="b")])  # another state: refused
    found = await store.get_execution("e")
    assert found is not None and found.state is State.SUCCESS
    assert found.labels == {"team": "a", "owner": "me"}
