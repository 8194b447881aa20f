"""Retention on the production path: the scheduler role, a process of its own on Kafka
and PostgreSQL with `retention.executions: P7D`, deletes what ended more than a week ago
(rows and files) and nothing else; the deletions travel as `ExecutionsPurged` events that
the projector, in its own process, applies.

The old executions are written as tests/engine/test_retention.py writes its month: their
events (with their old dates) published on the events topic the projector consumes; the
recent ones are real runs through the API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.bus.base import Bus, Topics
from engine.events import Wire, encode
from engine.states import State
from engine.storage import LocalStorage
from engine.store.base import Store
from tests.e2e.production.cluster import Cluster, state_of
from tests.e2e.production.test_roles import deploy, start_roles
from tests.engine.test_retention import execution, history, write_files
from tests.support.invariants import check_invariants, read_events

pytestmark = pytest.mark.e2e

HELLO = """
id: hello
namespace: prod.retention
tasks:
  - {id: say, type: io.kestra.plugin.core.log.Log, message: "recent {{ execution.id }}"}
"""


def numbered(events: list[Wire]) -> list[Wire]:
    """One execution's events with a seq each, as its one writer numbers them (the
    invariant checker counts two events with one seq as two writers)."""
    return [e.model_copy(update={"seq": n}) for n, e in enumerate(events, start=1)]


async def wait_for(
    condition: str, check: Callable[[], Awaitable[bool]], timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"never: {condition}"
        await asyncio.sleep(0.2)


async def test_the_scheduler_deletes_what_ended_before_the_retention_period(
    cluster: Cluster, tmp_path: Path, observer: tuple[Bus, Store], empty_store: Store
) -> None:
    bus, store = observer
    deploy(cluster, tmp_path, {"hello": HELLO})
    start_roles(cluster, executors=1)

    now = datetime.now(UTC)
    old = [execution(f"old{i}", now - timedelta(days=8 + 5 * i)) for i in range(5)]
    old.append(execution("old-other", now - timedelta(days=30), flow_id="other"))
    running = execution("old-running", now - timedelta(days=40), state=State.RUNNING)
    week = execution("six-days", now - timedelta(days=6))  # inside the week: it stays
    published = [numbered(history(h)) for h in (*old, running, week)]
    await bus.publish_many(
        Topics().events, [(e.key, encode(e)) for events in published for e in events]
    )
    old_ids = [h.execution_id for h in old]
    kept_ids = [running.execution_id, week.execution_id]
    storage = LocalStorage(cluster.workdir / "data" / "storage")
    files = write_files(storage, ["old0", "old3", *kept_ids])
    recent_ids = [await asyncio.to_thread(cluster.execute, "prod.retention", "hello")]
    recent_ids.append(await asyncio.to_thread(cluster.execute, "prod.retention", "hello"))
    recent = await asyncio.to_thread(cluster.wait_all, recent_ids, 60)
    assert [state_of(e) for e in recent] == ["SUCCESS", "SUCCESS"]

    every = [*old_ids, *kept_ids, *recent_ids]

    async def all_projected() -> bool:
        return len(await store.existing_executions(every)) == len(every)

    await wait_for("the old executions were projected", all_projected)
    assert all([await store.logs(i) for i in every])
    logs_before = {i: len(await store.logs(i)) for i in [*kept_ids, *recent_ids]}

    scheduler = cluster.start(
        "scheduler",
        "scheduler",
        env={
            "PODIUM_RETENTION__EXECUTIONS": "P7D",
            "PODIUM_RETENTION__INTERVAL": "1",
            "PODIUM_RETENTION__BATCH_SIZE": "2",  # several deletion events
        },
    )

    async def old_ones_gone() -> bool:
        rounds = scheduler.health()["scheduler"]["retention"]["rounds"]
        return rounds >= 1 and not await store.existing_executions(old_ids)

    await wait_for("the old executions were deleted", old_ones_gone)

    # the old ones are gone with their logs, task runs, metrics and files ...
    assert await store.purge_counts(old_ids) == (0, 0, 0)
    assert await asyncio.to_thread(cluster.execution, "old0") is None
    assert not files["old0"].exists() and not files["old3"].exists()
    # ... what ended within the week, and what never ended, however old, stay whole
    assert (await store.existing_executions(every)).keys() == {*kept_ids, *recent_ids}
    assert {i: len(await store.logs(i)) for i in logs_before} == logs_before
    assert all(files[i].exists() for i in kept_ids)
    for found in await asyncio.gather(
        *(asyncio.to_thread(cluster.execution, i) for i in recent_ids)
    ):
        assert found is not None and state_of(found) == "SUCCESS"

    # the scheduler deleted nothing itself: it published the deletions, the projector
    # applied them (a replay of the events gives the same store)
    purged = [d for d in await read_events(bus) if d["kind"] == "ExecutionsPurged"]
    assert len(purged) >= 3
    assert sorted(i for d in purged for i in d["execution_ids"]) == sorted(old_ids)
    health = scheduler.health()
    assert health["scheduler"]["retention"]["error"] is None, health
    assert cluster.roles["projector"].health()["projector"]["error"] is None
    # (old-running stays RUNNING: that is the point of it)
    assert await check_invariants(bus, store, empty_store, allow_running=True) == []
