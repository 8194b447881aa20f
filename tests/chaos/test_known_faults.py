"""Faults chaos runs found, kept as regression tests. A fault found and not fixed yet
goes here as a strict xfail that shows it (un-marked the day it is fixed)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from engine.bus.base import Bus
from engine.store.base import Store
from tests.e2e.production.cluster import Cluster, state_of
from tests.support.invariants import check_invariants
from tests.support.kafka import running_broker
from tests.support.pg_instance import PostgresInstance

pytestmark = pytest.mark.e2e


def test_the_scheduler_survives_a_postgresql_restart(tmp_path: Path) -> None:
    with running_broker() as broker, PostgresInstance() as postgres:
        cluster = Cluster(tmp_path, broker.url, postgres.url)
        try:
            cluster.cli("db", "migrate")
            scheduler = cluster.start("scheduler", "scheduler")
            postgres.restart(down_seconds=3.0)
            time.sleep(3.0)  # a few refresh periods (0.5 s in the cluster's settings)
            assert scheduler.is_running, scheduler.log_tail(800)
        finally:
            cluster.stop_all()


ZOMBIE = """
id: zombie
namespace: prod
tasks:
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT4S}
  - {id: after, type: io.kestra.plugin.core.log.Log, message: done}
"""


async def test_what_a_paused_executor_publishes_for_executions_it_lost_does_not_count(
    cluster: Cluster,
    tmp_path: Path,
    observer: tuple[Bus, Store],
    empty_store: Store,
) -> None:
    from tests.e2e.production.test_roles import deploy, owner_of, start_roles

    deploy(cluster, tmp_path, {"zombie": ZOMBIE})
    start_roles(cluster, executors=2)
    execution_id = await asyncio.to_thread(cluster.execute, "prod", "zombie")
    victim = await owner_of(cluster, observer[0], "prod/zombie")
    deadline = time.monotonic() + 30
    while True:  # the nap has started
        found = await asyncio.to_thread(cluster.execution, execution_id) or {}
        if any(state_of(r) == "RUNNING" for r in found.get("taskRunList", [])):
            break
        assert time.monotonic() < deadline, "the nap never started"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    process = cluster.roles[victim].process
    process.send_signal(signal.SIGSTOP)
    await asyncio.sleep(7.0)  # past the 3 s session timeout; the other executor resumes it
    process.send_signal(signal.SIGCONT)
    (ended,) = await asyncio.to_thread(cluster.wait_all, [execution_id], 60)
    assert state_of(ended) == "SUCCESS"
    await asyncio.sleep(3.0)  # whatever the woken executor still publishes
    bus, store = observer
    assert await check_invariants(bus, store, empty_store) == []
    # it noticed, and published nothing after the claims (had it, the fence would drop it)
    assert "the event loop stood still" in cluster.roles[victim].log.read_text(errors="replace")
