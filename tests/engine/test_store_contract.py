"""The store contract, over SQLite and PostgreSQL: the projection is idempotent,
sequence-guarded and never regresses a terminal state; flows keep revisions; triggers
claim each item once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from engine.store.base import ExecutionQuery, LogQuery, Store
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
    """How many of `events` changed a row."""
    return (await store.apply([EventDocument.of(e) for e in events])).changed


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


async def test_changes_of_one_task_run_in_one_batch_end_as_applied_one_by_one(
    store: Store,
) -> None:
    """A store may write only a task run's latest row of a batch (both do): the row and
    the history end as if every change had been applied in turn."""
    await apply(store, [execution(1, State.RUNNING)])
    started_and_ended: list[Wire] = [
        task_run(2, State.RUNNING),
        task_run(3, State.SUCCESS, {"v": 1}),
    ]
    assert await apply(store, started_and_ended) >= 1
    assert await apply(store, started_and_ended) == 0  # redelivered
    [run] = await store.task_runs("e1")
    assert (run.state, run.seq, run.outputs) == (State.SUCCESS, 3, {"v": 1})
    # an older change after a newer one in the batch changes nothing
    await apply(store, [task_run(7, State.FAILED), task_run(6, State.RUNNING)])
    [run] = await store.task_runs("e1")
    assert (run.state, run.seq) == (State.SUCCESS, 3)
    history = await store.state_history("e1")
    assert [(c.seq, c.state) for c in history if c.task_run_id] == [
        (2, State.RUNNING),
        (3, State.SUCCESS),
        (6, State.RUNNING),
        (7, State.FAILED),
    ]
    # a parent that starts and ends around its child in one batch is still listed first
    parent = task_run(9, State.SUCCESS).model_copy(update={"task_run_id": "p", "task_id": "p"})
    child = task_run(11, State.SUCCESS).model_copy(update={"task_run_id": "c", "task_id": "c"})
    await apply(
        store,
        [
            parent.model_copy(update={"seq": 8, "state": State.RUNNING}),
            child.model_copy(update={"seq": 10, "state": State.RUNNING}),
            child,
            parent.model_copy(update={"seq": 12}),
        ],
    )
    assert [r.task_id for r in await store.task_runs("e1")] == ["t", "p", "c"]


async def test_a_restart_and_the_run_after_it_in_one_batch_leave_both_running(
    store: Store,
) -> None:
    """RESTARTED is what lets a change over an ended execution or task run: the change
    after it in the same batch applies too, as if the two had come one by one."""
    await apply(store, [execution(1, State.FAILED), task_run(2, State.FAILED)])
    restarted: list[Wire] = [
        execution(3, State.RESTARTED),
        task_run(4, State.RESTARTED),
        execution(5, State.RUNNING),
        task_run(6, State.RUNNING),
    ]
    await apply(store, restarted)
    [run] = await store.task_runs("e1")
    assert (run.state, run.seq) == (State.RUNNING, 6)
    header = await store.get_execution("e1")
    assert header is not None
    assert header.state == State.RUNNING
    # redelivered, or a RESTARTED older than the row: nothing moves an ended row
    await apply(store, [execution(7, State.SUCCESS), task_run(8, State.SUCCESS)])
    await apply(store, restarted)
    [run] = await store.task_runs("e1")
    assert (run.state, run.seq) == (State.SUCCESS, 8)


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


async def test_a_log_line_with_a_nul_character_does_not_stop_the_projection(
    store: Store,
) -> None:
    line = LogLine(at=T0, level="INFO", message="before\x00after", task_id="t")
    logs = LogsEmitted(execution_id="e1", namespace="n", flow_id="f", seq=2, at=T0, lines=(line,))
    await apply(store, [execution(1, State.RUNNING), logs])
    [stored] = await store.logs("e1")  # PostgreSQL text holds no NUL: it is replaced there
    assert stored.message.replace("\x00", "\ufffd") == "before\ufffdafter"


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


async def test_a_claim_and_its_journal_are_stored_together_or_not_at_all(store: Store) -> None:
    await store.set_trigger_state("n/f/s", {"watch": [1]})
    seen: list[tuple[dict[str, Any] | None, list[str]]] = []

    def journal(state: dict[str, Any] | None, won: list[str]) -> dict[str, Any] | None:
        seen.append((state, won))
        if not won:
            return None  # the state stays as it is
        return {**(state or {}), "pending": [*(state or {}).get("pending", []), *won]}

    assert await store.claim("n/f/s", ["a", "b"], journal=journal) == ["a", "b"]
    assert await store.claim("n/f/s", ["b", "c"], journal=journal) == ["c"]
    assert await store.claim("n/f/s", ["a"], journal=journal) == []
    assert seen[1] == ({"watch": [1], "pending": ["a", "b"]}, ["c"])
    assert await store.get_trigger_state("n/f/s") == {"watch": [1], "pending": ["a", "b", "c"]}
    assert await store.claim("n/new/s", ["x"], journal=journal) == ["x"]  # no state before
    assert await store.get_trigger_state("n/new/s") == {"pending": ["x"]}

    def failing(state: dict[str, Any] | None, won: list[str]) -> dict[str, Any] | None:
        raise RuntimeError("the journal could not be made")

    with pytest.raises(RuntimeError):
        await store.claim("n/f/s", ["d", "e"], journal=failing)
    assert await store.claim("n/f/s", ["d"]) == ["d"]  # nothing was claimed …
    assert await store.get_trigger_state("n/f/s") == {"watch": [1], "pending": ["a", "b", "c"]}


async def test_journaled_claims_of_one_scope_take_turns(store: Store) -> None:
    """Two processes claiming in one scope at once: each journal sees the other's, the
    scope's first one included (no state row to lock yet)."""
    other = await reopen(store)

    def journal(state: dict[str, Any] | None, won: list[str]) -> dict[str, Any] | None:
        return {"pending": [*(state or {}).get("pending", []), *won]} if won else None

    try:
        for n in range(20):
            scope = f"n/f/{n}"
            await asyncio.gather(
                store.claim(scope, [f"a{n}"], journal=journal),
                other.claim(scope, [f"b{n}"], journal=journal),
            )
            state = await store.get_trigger_state(scope) or {}
            assert sorted(state["pending"]) == [f"a{n}", f"b{n}"]
    finally:
        await other.__aexit__(None, None, None)


# -- the reads the REST API needs ------------------------------------------------


def run_of(
    execution_id: str, seq: int, state: State, *, attempt: int = 1, at: datetime = T0
) -> TaskRunChanged:
    return TaskRunChanged(
        execution_id=execution_id,
        namespace="n",
        flow_id="f",
        seq=seq,
        at=at,
        task_run_id=f"{execution_id}-r",
        task_id="t",
        state=state,
        attempt=attempt,
        created_at=T0,
    )


def header(
    execution_id: str,
    *,
    namespace: str = "n",
    flow_id: str = "f",
    state: State = State.SUCCESS,
    created: datetime = T0,
    labels: dict[str, str] | None = None,
    seq: int = 1,
) -> ExecutionChanged:
    return ExecutionChanged(
        execution_id=execution_id,
        namespace=namespace,
        flow_id=flow_id,
        seq=seq,
        at=created,
        revision=1,
        state=state,
        created_at=created,
        ended_at=created + timedelta(seconds=5) if state.is_terminal else None,
        labels=labels or {},
    )


async def test_execution_search_filters_sorts_pages_and_counts(store: Store) -> None:
    await apply(
        store,
        [
            header("a1", namespace="co", created=T0, labels={"team": "x"}),
            header("a2", namespace="co.team", created=T0 + timedelta(hours=1), state=State.FAILED),
            header("a3", namespace="cox", created=T0 + timedelta(hours=2), labels={"team": "y"}),
            header("a4", namespace="co", flow_id="g", created=T0 + timedelta(hours=3)),
        ],
    )

    async def ids(**query: object) -> tuple[list[str], int]:
        found, total = await store.search_executions(ExecutionQuery(**query))  # type: ignore[arg-type]
        return [e.execution_id for e in found], total

    assert await ids() == (["a4", "a3", "a2", "a1"], 4)
    assert await ids(namespace="co") == (["a4", "a2", "a1"], 3)  # children, not `cox`
    assert await ids(namespace="co", flow_id="f") == (["a2", "a1"], 2)
    assert await ids(states=(State.FAILED,)) == (["a2"], 1)
    assert await ids(labels={"team": "x"}) == (["a1"], 1)
    assert await ids(labels={"team": "x", "other": "1"}) == ([], 0)
    assert await ids(start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=3)) == (
        ["a3", "a2"],
        2,
    )
    assert await ids(q="TEAM") == (["a3", "a2", "a1"], 3)  # namespace or labels, any case
    assert await ids(q="%") == ([], 0)  # wildcards are literal
    assert await ids(sort="startDate", is_descending=False, limit=2, offset=1) == (
        ["a2", "a3"],
        4,
    )
    assert (await ids(sort="state", is_descending=False))[0][0] == "a2"
    with pytest.raises(ValueError, match="cannot sort"):
        ExecutionQuery(sort="data; DROP TABLE executions")


async def test_labels_follow_the_newest_header(store: Store) -> None:
    await apply(store, [header("e", labels={"k": "1"}, state=State.RUNNING)])
    await apply(store, [header("e", labels={"k": "2"}, state=State.RUNNING, seq=2)])
    found, _ = await store.search_executions(ExecutionQuery(labels={"k": "2"}))
    assert [e.execution_id for e in found] == ["e"]
    assert (await store.search_executions(ExecutionQuery(labels={"k": "1"})))[1] == 0


async def test_latest_executions_per_flow(store: Store) -> None:
    await apply(
        store,
        [
            header("old", created=T0),
            header("new", created=T0 + timedelta(minutes=1)),
            header("other", flow_id="g", created=T0),
        ],
    )
    found = await store.latest_executions([("n", "f"), ("n", "g"), ("n", "none")])
    assert {k: e.execution_id for k, e in found.items()} == {("n", "f"): "new", ("n", "g"): "other"}


async def test_state_history_keeps_every_state_and_attempt_once(store: Store) -> None:
    t = [T0 + timedelta(seconds=i) for i in range(6)]
    batch: list[Wire] = [
        header("e", state=State.CREATED, seq=1),
        header("e", state=State.RUNNING, seq=2, created=T0),
        run_of("e", 3, State.RUNNING, at=t[1]),
        run_of("e", 4, State.FAILED, at=t[2]),
        run_of("e", 5, State.RUNNING, attempt=2, at=t[3]),
        run_of("e", 6, State.SUCCESS, attempt=2, at=t[4]),
    ]
    await apply(store, batch)
    await apply(store, batch)  # redelivered: no duplicates
    history = await store.state_history("e")
    assert [(c.task_run_id, c.attempt, c.state) for c in history] == [
        (None, 1, State.CREATED),
        (None, 1, State.RUNNING),
        ("e-r", 1, State.RUNNING),
        ("e-r", 1, State.FAILED),
        ("e-r", 2, State.RUNNING),
        ("e-r", 2, State.SUCCESS),
    ]
    assert history[3].at == t[2]
    assert await store.state_history("unknown") == []


def log_event(
    execution_id: str, lines: tuple[LogLine, ...], *, namespace: str = "n"
) -> LogsEmitted:
    return LogsEmitted(
        execution_id=execution_id, namespace=namespace, flow_id="f", seq=1, at=T0, lines=lines
    )


async def test_log_search_filters_pages_and_counts(store: Store) -> None:
    lines = tuple(
        LogLine(
            at=T0 + timedelta(seconds=i),
            level=("DEBUG", "INFO", "ERROR")[i % 3],
            message=f"line {i} 100%" if i == 4 else f"line {i}",
            task_id="a" if i < 3 else "b",
            task_run_id="ra" if i < 3 else "rb",
            attempt=1 if i < 5 else 2,
        )
        for i in range(6)
    )
    await apply(store, [log_event("e1", lines), log_event("e2", lines[:1], namespace="m")])

    async def messages(**query: object) -> tuple[list[str], int]:
        found, total = await store.search_logs(LogQuery(**query))  # type: ignore[arg-type]
        return [e.line.message for e in found], total

    assert (await messages(execution_id="e1"))[1] == 6
    assert await messages(execution_id="e1", min_level="error") == (["line 2", "line 5"], 2)
    assert await messages(execution_id="e1", task_id="a", min_level="INFO") == (
        ["line 1", "line 2"],
        2,
    )
    assert await messages(execution_id="e1", task_run_id="rb", attempt=2) == (["line 5"], 1)
    assert await messages(execution_id="e1", q="100%") == (["line 4 100%"], 1)
    assert await messages(execution_id="e1", q="_") == ([], 0)
    assert await messages(execution_id="e1", limit=2, offset=2) == (["line 2", "line 3"], 6)
    # a time window (start included, end excluded) and newest first, for the Logs page
    window = {"start": T0 + timedelta(seconds=1), "end": T0 + timedelta(seconds=4)}
    assert await messages(execution_id="e1", **window) == (["line 1", "line 2", "line 3"], 3)
    assert await messages(execution_id="e1", is_descending=True, limit=2, **window) == (
        ["line 3", "line 2"],
        3,
    )
    [entry], total = await store.search_logs(LogQuery(namespace="m"))
    assert (entry.execution_id, entry.namespace, entry.flow_id, total) == ("e2", "m", "f", 1)


async def test_flow_search_and_revisions(store: Store) -> None:
    await store.save_flow("co.team", "load", "a")
    await store.save_flow("co.team", "load", "b")
    await store.save_flow("co", "clean", "c")
    await store.save_flow("cox", "other_x", "d")
    await store.save_flow("co", "gone", "e")
    await store.delete_flow("co", "gone")
    found, total = await store.search_flows()
    assert ([(f.namespace, f.id) for f in found], total) == (
        [("co", "clean"), ("co.team", "load"), ("cox", "other_x")],
        3,
    )
    found, total = await store.search_flows(namespace="co")
    assert [f.id for f in found] == ["clean", "load"] and total == 2
    found, total = await store.search_flows(q="LOA")
    assert [(f.id, f.revision) for f in found] == [("load", 2)]
    found, total = await store.search_flows(limit=1, offset=1)
    assert [f.id for f in found] == ["load"] and total == 3
    assert (await store.search_flows(q="_x"))[1] == 1  # `_` is literal: only other_x
    revisions = await store.flow_revisions("co.team", "load")
    assert [(r.revision, r.source) for r in revisions] == [(1, "a"), (2, "b")]
    assert await store.flow_revisions("co", "nothing") == []


async def test_execution_stats_by_bucket_and_failing_flows(store: Store) -> None:
    await apply(
        store,
        [
            header("s1", created=T0 + timedelta(minutes=5)),
            header("s2", created=T0 + timedelta(minutes=50), state=State.FAILED),
            header("s3", created=T0 + timedelta(hours=1, minutes=1), state=State.FAILED),
            header("s4", created=T0 + timedelta(hours=1, minutes=2), state=State.RUNNING),
            header("s5", flow_id="g", created=T0 + timedelta(hours=1), state=State.CREATED),
            header("out", created=T0 + timedelta(days=2), state=State.FAILED),
        ],
    )
    stats = await store.execution_stats(T0, T0 + timedelta(days=1), "hour")
    assert [(b, dict(c)) for b, c in stats.buckets] == [
        (T0, {"SUCCESS": 1, "FAILED": 1}),
        (T0 + timedelta(hours=1), {"FAILED": 1, "RUNNING": 1, "CREATED": 1}),
    ]
    assert (stats.running, stats.queued) == (1, 1)
    [failing] = stats.failing_flows
    assert (failing.namespace, failing.flow_id, failing.failed) == ("n", "f", 2)
    assert failing.last_failure == T0 + timedelta(hours=1, minutes=1, seconds=5)
    assert await store.count_executions() == {"SUCCESS": 1, "FAILED": 3, "RUNNING": 1, "CREATED": 1}
    daily = await store.execution_stats(T0, T0 + timedelta(days=3), "day")
    assert [sum(c.values()) for _, c in daily.buckets] == [5, 1]


async def test_reset_projection_keeps_flows_and_triggers(store: Store) -> None:
    await store.save_flow("n", "f", "a")
    await store.set_trigger_state("n/f/s", {"x": 1})
    await store.claim("n/f/s", ["slot"])
    await apply(
        store,
        [
            header("e", state=State.RUNNING),
            run_of("e", 2, State.RUNNING),
            log_event("e", (LogLine(at=T0, level="INFO", message="m"),)),
        ],
    )
    await store.reset_projection()
    assert await store.get_execution("e") is None
    assert await store.task_runs("e") == []
    assert await store.state_history("e") == []
    assert (await store.search_logs(LogQuery()))[1] == 0
    assert await store.get_flow("n", "f") is not None
    assert await store.get_trigger_state("n/f/s") == {"x": 1}
    assert await store.claim("n/f/s", ["slot"]) == []
    # and the projection can be rebuilt from the same events
    await apply(store, [header("e", state=State.RUNNING)])
    assert await store.get_execution("e") is not None


async def test_the_search_migration_fills_what_older_rows_lack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written before the search columns and histories existed gets them filled
    from its rows when it is opened by this version."""
    import engine.store.postgres as postgres_module
    import engine.store.sqlite as sqlite_module

    run = run_of("old", 2, State.SUCCESS)
    head = header("old", labels={"team": "x"})
    lines = log_event("old", (LogLine(at=T0, level="INFO", message="m"),))
    rows = {
        "executions": (
            "old", "n", "f", "SUCCESS", 1, T0.isoformat(), None, EventDocument.of(head).raw,
        ),
        "task_runs": ("old-r", "old", 2, "SUCCESS", EventDocument.of(run).raw),
        "logs": (lines.event_id, 0, "old", None, "t", 1, T0.isoformat(), 2, "INFO", "m"),
    }  # fmt: skip

    async def check(store: Store) -> None:
        found, _ = await store.search_executions(ExecutionQuery(labels={"team": "x"}))
        assert [e.execution_id for e in found] == ["old"]
        history = await store.state_history("old")
        assert [(c.task_run_id, c.state) for c in history] == [
            (None, State.SUCCESS),
            ("old-r", State.SUCCESS),
        ]
        [entry], _ = await store.search_logs(LogQuery(namespace="n"))
        assert entry.flow_id == "f"

    monkeypatch.setattr(sqlite_module, "_MIGRATIONS", sqlite_module._MIGRATIONS[:2])
    async with SqliteStore(tmp_path / "old.db") as old:
        for table, row in rows.items():
            marks = ",".join("?" * len(row))
            await old._call(old.db.execute, f"INSERT INTO {table} VALUES ({marks})", row)
    monkeypatch.undo()
    async with SqliteStore(tmp_path / "old.db") as migrated:
        await check(migrated)

    monkeypatch.setattr(postgres_module, "_MIGRATIONS", postgres_module._MIGRATIONS[:1])
    async with fresh_database_async("podium_migrate") as name:
        url = f"{SERVER}/{name}"
        async with PostgresStore(url) as old, old.pool.acquire() as db:
            await db.execute(
                "INSERT INTO executions VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                *rows["executions"][:5], T0, None, rows["executions"][7],
            )  # fmt: skip
            await db.execute(
                "INSERT INTO task_runs (id, execution_id, seq, state, data) VALUES ($1, $2, $3, $4, $5)",
                *rows["task_runs"],
            )
            log = rows["logs"]
            await db.execute(
                "INSERT INTO logs (event_id, idx, execution_id, task_run_id, task_id, attempt, at, level, level_name, message) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                *log[:6], T0, *log[7:],
            )  # fmt: skip
        monkeypatch.undo()
        async with PostgresStore(url) as migrated:
            await check(migrated)


async def test_a_log_cursor_follows_lines_in_the_order_they_arrive(store: Store) -> None:
    later = T0 + timedelta(seconds=10)
    await apply(store, [log_event("e", (LogLine(at=later, level="INFO", message="second"),))])
    found, _ = await store.search_logs(LogQuery(execution_id="e", after=-1))
    [first] = found
    # a line stamped earlier arrives afterwards: the cursor still finds it, once
    await apply(store, [log_event("e", (LogLine(at=T0, level="INFO", message="first"),))])
    found, _ = await store.search_logs(LogQuery(execution_id="e", after=first.position))
    assert [e.line.message for e in found] == ["first"]
    assert found[0].position > first.position
    found, _ = await store.search_logs(LogQuery(execution_id="e", after=found[0].position))
    assert found == []
    found, _ = await store.search_logs(LogQuery(execution_id="e"))
    assert [e.line.message for e in found] == ["first", "second"]  # by time otherwise


# -- the one way out of a terminal state: RESTARTED; labels on an ended execution ------


def guard_header(seq: int, state: State, **labels: str) -> EventDocument:
    return EventDocument.of(
        ExecutionChanged(
            execution_id="e", namespace="n", flow_id="f", seq=seq, at=T0, revision=1,
            state=state, labels=labels, created_at=T0,
        )
    )  # fmt: skip


def guard_run(seq: int, state: State, attempt: int = 1) -> EventDocument:
    return EventDocument.of(
        TaskRunChanged(
            execution_id="e", namespace="n", flow_id="f", seq=seq, at=T0, task_run_id="r",
            task_id="t", state=state, attempt=attempt, created_at=T0,
        )
    )  # fmt: skip


async def test_restarted_leaves_a_terminal_state_and_nothing_else_does(store: Store) -> None:
    await store.apply(
        [guard_header(1, State.RUNNING), guard_run(2, State.RUNNING), guard_run(3, State.FAILED)]
    )
    await store.apply([guard_header(4, State.FAILED)])
    await store.apply(
        [guard_header(5, State.RUNNING), guard_run(5, State.RUNNING)]
    )  # not a restart
    found = await store.get_execution("e")
    assert found is not None and found.state is State.FAILED
    assert [r.state for r in await store.task_runs("e")] == [State.FAILED]

    await store.apply([guard_run(6, State.RESTARTED, attempt=2), guard_header(7, State.RESTARTED)])
    await store.apply([guard_header(8, State.RUNNING), guard_run(9, State.RUNNING, attempt=2)])
    await store.apply([guard_run(10, State.SUCCESS, attempt=2), guard_header(11, State.SUCCESS)])
    await store.apply([guard_header(3, State.FAILED)])  # an old event, redelivered
    found = await store.get_execution("e")
    assert found is not None and found.state is State.SUCCESS
    [task_run] = await store.task_runs("e")
    assert (task_run.state, task_run.attempt) == (State.SUCCESS, 2)


async def test_an_ended_execution_takes_new_labels_but_keeps_its_state(store: Store) -> None:
    await store.apply([guard_header(1, State.RUNNING), guard_header(2, State.SUCCESS, team="a")])
    await store.apply([guard_header(3, State.SUCCESS, team="a", owner="me")])
    await store.apply([guard_header(4, State.FAILED, team="b")])  # another state: refused
    found = await store.get_execution("e")
    assert found is not None and found.state is State.SUCCESS
    assert found.labels == {"team": "a", "owner": "me"}


# -- fencing (engine/fencing.py) -------------------------------------------------------

CLAIM = 1 << 32  # the first seq of epoch 1


def stale_log(seq: int, message: str) -> LogsEmitted:
    line = LogLine(at=T0, level="INFO", message=message, task_id="t")
    return LogsEmitted(execution_id="e1", namespace="n", flow_id="f", seq=seq, at=T0, lines=(line,))


async def test_a_claim_fences_off_the_previous_owner_in_later_batches(store: Store) -> None:
    await apply(store, [execution(1, State.RUNNING), task_run(2, State.RUNNING)])
    await apply(store, [execution(CLAIM, State.RUNNING)])
    # the old owner wakes up: its task run ends, it logs, it ends the execution
    await apply(
        store,
        [task_run(3, State.SUCCESS), stale_log(4, "stale"), execution(5, State.SUCCESS)],
    )
    await apply(store, [task_run(CLAIM + 1, State.RUNNING), stale_log(CLAIM + 2, "fresh")])
    [run] = await store.task_runs("e1")
    assert (run.state, run.seq) == (State.RUNNING, CLAIM + 1)
    assert [line.message for line in await store.logs("e1")] == ["fresh"]
    found = await store.get_execution("e1")
    assert found is not None and (found.state, found.seq) == (State.RUNNING, CLAIM)


async def test_within_a_batch_only_what_follows_the_claim_is_fenced(store: Store) -> None:
    await apply(
        store,
        [
            execution(1, State.RUNNING),
            stale_log(2, "before the claim"),
            execution(CLAIM, State.RUNNING),
            stale_log(3, "after the claim"),
            task_run(4, State.SUCCESS),
        ],
    )
    assert [line.message for line in await store.logs("e1")] == ["before the claim"]
    assert await store.task_runs("e1") == []
    # the fence holds across a reopen, and is emptied with the projection
    reopened = await reopen(store)
    try:
        await apply(reopened, [task_run(5, State.SUCCESS)])
        assert await reopened.task_runs("e1") == []
        await reopened.reset_projection()
        await apply(reopened, [task_run(5, State.SUCCESS)])
        assert [r.state for r in await reopened.task_runs("e1")] == [State.SUCCESS]
    finally:
        await reopened.close()
