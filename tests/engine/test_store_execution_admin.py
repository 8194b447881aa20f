"""The store contract for what the executions' admin API needs, over SQLite and
PostgreSQL: a deleted execution leaves every read and its later events are fenced off;
change-status moves an ended execution to another terminal state by one marked event
only; task-run metrics are searched, named and filtered by flow; searches by the
execution that triggered another (Kestra's triggerExecutionId and childFilter)."""

from __future__ import annotations

from datetime import timedelta

from engine.events import (
    EventDocument,
    ExecutionDeleted,
    LogLine,
    LogsEmitted,
    MetricEmitted,
    Wire,
)
from engine.fencing import DELETED_SEQ
from engine.states import State
from engine.store.base import ExecutionQuery, LogQuery, Store
from engine.store.metrics import MetricQuery
from tests.engine.test_store_contract import T0, execution, reopen, store, task_run

__all__ = ["store"]  # the fixture, over both stores


async def apply(store: Store, events: list[Wire]) -> int:
    return (await store.apply([EventDocument.of(e) for e in events])).changed


def deleted(execution_id: str = "e1", **flags: bool) -> ExecutionDeleted:
    return ExecutionDeleted(
        execution_id=execution_id, namespace="n", flow_id="f", seq=DELETED_SEQ, at=T0, **flags
    )


def log(seq: int, message: str, execution_id: str = "e1") -> LogsEmitted:
    line = LogLine(at=T0, level="INFO", message=message, task_id="t")
    return LogsEmitted(
        execution_id=execution_id, namespace="n", flow_id="f", seq=seq, at=T0, lines=(line,)
    )


def metric(
    name: str, value: float, *, execution_id: str = "e1", task_id: str = "t", minutes: int = 0
) -> MetricEmitted:
    return MetricEmitted(
        execution_id=execution_id, namespace="n", flow_id="f", seq=1,
        at=T0 + timedelta(minutes=minutes), task_run_id=f"{execution_id}-{task_id}",
        task_id=task_id, name=name, metric_kind="counter", value=value, tags={"k": "v"},
    )  # fmt: skip


async def test_a_deleted_execution_leaves_every_read_and_stays_deleted(store: Store) -> None:
    await apply(
        store,
        [execution(1, State.RUNNING), task_run(2, State.RUNNING), log(3, "hello"),
         metric("rows", 3)],
    )  # fmt: skip
    # in the same batch: what came before the deletion is written, then deleted with it
    assert await apply(store, [task_run(4, State.SUCCESS), execution(5, State.SUCCESS), deleted()])
    assert await store.get_execution("e1") is None
    assert await store.task_runs("e1") == []
    assert await store.state_history("e1") == []
    assert await store.logs("e1") == []
    assert (await store.search_metrics(MetricQuery(execution_id="e1")))[1] == 0
    assert (await store.search_executions(ExecutionQuery()))[1] == 0
    # a walk that still ran publishes on: fenced off, in this store and after a reopen
    await apply(store, [execution(6, State.RUNNING), log(7, "late")])
    assert await store.get_execution("e1") is None
    reopened = await reopen(store)
    try:
        await apply(reopened, [task_run(8, State.FAILED), log(9, "later")])
        assert await reopened.task_runs("e1") == []
        assert (await reopened.search_logs(LogQuery(execution_id="e1")))[1] == 0
    finally:
        await reopened.__aexit__(None, None, None)


async def test_a_deletion_may_keep_the_logs_and_metrics(store: Store) -> None:
    await apply(store, [execution(1, State.SUCCESS), log(2, "kept"), metric("rows", 1)])
    await apply(store, [deleted(delete_logs=False, delete_metrics=False)])
    assert await store.get_execution("e1") is None
    assert [line.message for line in await store.logs("e1")] == ["kept"]


async def test_change_status_moves_a_terminal_state_by_the_marked_event_only(
    store: Store,
) -> None:
    await apply(store, [execution(1, State.RUNNING), execution(2, State.FAILED)])
    await apply(store, [execution(3, State.SUCCESS)])  # unmarked: refused
    found = await store.get_execution("e1")
    assert found is not None and found.state is State.FAILED
    await apply(store, [execution(4, State.SUCCESS, status_changed_seq=4)])
    found = await store.get_execution("e1")
    assert found is not None and found.state is State.SUCCESS
    # a copy of the marked header with a newer seq (labels, say) does not move it again
    await apply(store, [execution(5, State.KILLED, status_changed_seq=4)])
    found = await store.get_execution("e1")
    assert found is not None and found.state is State.SUCCESS


async def test_metrics_by_execution_task_and_flow(store: Store) -> None:
    other = execution(1, State.SUCCESS).model_copy(update={"execution_id": "e2", "flow_id": "g"})
    await apply(
        store,
        [execution(1, State.SUCCESS), other,
         metric("rows", 3), metric("rows", 4, task_id="u", minutes=1),
         metric("bytes", 10, minutes=2), metric("elsewhere", 1, execution_id="e2")],
    )  # fmt: skip
    found, total = await store.search_metrics(MetricQuery(execution_id="e1", limit=2))
    assert total == 3 and [(m.name, m.value) for m in found] == [("rows", 3), ("rows", 4)]
    assert found[0].namespace == "n" and found[0].flow_id == "f" and found[0].tags == {"k": "v"}
    assert found[0].task_run_id == "e1-t" and found[0].kind == "counter"
    found, total = await store.search_metrics(MetricQuery(execution_id="e1", task_id="u"))
    assert [m.value for m in found] == [4]
    assert await store.metric_names("n", "f") == ["bytes", "rows"]
    assert await store.metric_names("n", "f", "u") == ["rows"]
    assert await store.metric_task_ids("n", "f") == ["t", "u"]
    ranged = MetricQuery(
        namespace="n", flow_id="f", name="rows", start=T0 + timedelta(seconds=30),
        end=T0 + timedelta(hours=1),
    )  # fmt: skip
    assert [m.value for m in (await store.search_metrics(ranged))[0]] == [4]


async def test_search_by_the_execution_that_triggered_another(store: Store) -> None:
    child = execution(1, State.SUCCESS).model_copy(
        update={
            "execution_id": "child",
            "trigger": {"id": "sub", "type": "io.kestra.plugin.core.flow.Subflow",
                        "variables": {"executionId": "e1"}},
        }
    )  # fmt: skip
    await apply(store, [execution(1, State.SUCCESS), child])
    ids = lambda found: sorted(e.execution_id for e in found[0])  # noqa: E731
    assert ids(await store.search_executions(ExecutionQuery(trigger_execution_id="e1"))) == [
        "child"
    ]
    assert ids(await store.search_executions(ExecutionQuery(child_filter="CHILD"))) == ["child"]
    assert ids(await store.search_executions(ExecutionQuery(child_filter="MAIN"))) == ["e1"]
