"""Each role its own process, on a real Kafka-protocol broker and PostgreSQL, with the
faults production meets: an executor killed with -9 mid-flow, a rebalance under load,
PostgreSQL restarted mid-run. After each, the invariants of tests/support/invariants.py
must hold: every execution ended, no finished task ran again, and the projection equals
a replay of the events."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.bus.base import Bus, Topics
from engine.store.base import Store
from tests.e2e.production.cluster import Cluster, state_of
from tests.support.invariants import check_invariants
from tests.support.pg_instance import PostgresInstance

pytestmark = pytest.mark.e2e

TWENTY = "\n".join(
    ["id: twenty", "namespace: prod", "tasks:"]
    + [
        f"  - {{id: t{i:02}, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.25S}}"
        for i in range(20)
    ]
    + ["  - {id: done, type: io.kestra.plugin.core.debug.Return, format: finished}"]
)

EACH = """
id: each
namespace: prod
tasks:
  - id: loop
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    concurrencyLimit: 2
    tasks:
      - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.4S}
      - {id: say, type: io.kestra.plugin.core.log.Log, message: "value {{ taskrun.value }}"}
"""

SMALL = """
id: small{n}
namespace: prod
tasks:
  - {{id: a, type: io.kestra.plugin.core.log.Log, message: "{{{{ execution.id }}}}"}}
  - {{id: b, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.2S}}
  - {{id: c, type: io.kestra.plugin.core.debug.Return, format: "{{{{ inputs.n }}}}"}}
inputs:
  - {{id: n, type: INT, defaults: 0}}
"""


def deploy(cluster: Cluster, tmp_path: Path, sources: dict[str, str]) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    for name, source in sources.items():
        (folder / f"{name}.yaml").write_text(source)
    cluster.cli("db", "migrate")
    cluster.cli("flow", "deploy", str(folder))


def start_roles(cluster: Cluster, executors: int = 2) -> None:
    cluster.start("projector", "projector", wait=False)
    for n in range(executors):
        cluster.start(f"executor-{n}", "executor", wait=False)
    cluster.start("webserver", "webserver", wait=False)
    for role in list(cluster.roles.values()):
        cluster.wait_up(role)


async def owner_of(cluster: Cluster, bus: Bus, key: str) -> str:
    """The executor whose partitions include `key`'s (they settle after joins)."""
    partition = await bus.partition_of(Topics().requests, key)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        owners = [
            name
            for name, role in cluster.roles.items()
            if role.role == "executor"
            and role.is_running
            and partition in role.health().get("executor", {}).get("partitions", [])
        ]
        if len(owners) == 1:
            return owners[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no single owner of partition {partition}")


async def assert_invariants(observer: tuple[Bus, Store], empty_store: Store) -> None:
    bus, store = observer
    problems = await check_invariants(bus, store, empty_store)
    assert problems == []


@pytest.mark.parametrize("flow", ["twenty", "each"])
async def test_an_executor_killed_mid_flow_is_replaced_by_the_other(
    cluster: Cluster,
    tmp_path: Path,
    observer: tuple[Bus, Store],
    empty_store: Store,
    flow: str,
) -> None:
    deploy(cluster, tmp_path, {"twenty": TWENTY, "each": EACH})
    start_roles(cluster, executors=2)
    ids = [await asyncio.to_thread(cluster.execute, "prod", flow) for _ in range(3)]
    victim = await owner_of(cluster, observer[0], f"prod/{flow}")
    deadline = time.monotonic() + 60
    while min(cluster.finished_task_runs(i) for i in ids) < 5:  # well into the flow
        assert time.monotonic() < deadline, "the executions never got going"
        await asyncio.sleep(0.1)
    cluster.kill(victim)

    ended = await asyncio.to_thread(cluster.wait_all, ids, 120)
    assert [state_of(e) for e in ended] == ["SUCCESS"] * 3
    survivor = next(n for n, r in cluster.roles.items() if r.role == "executor" and r.is_running)
    assert "resuming execution" in cluster.roles[survivor].log_tail(1_000_000)
    await assert_invariants(observer, empty_store)


async def test_a_third_executor_joining_under_load_loses_nothing(
    cluster: Cluster, tmp_path: Path, observer: tuple[Bus, Store], empty_store: Store
) -> None:
    deploy(cluster, tmp_path, {f"small{n}": SMALL.format(n=n) for n in range(6)})
    start_roles(cluster, executors=2)
    ids = [
        await asyncio.to_thread(cluster.execute, "prod", f"small{n % 6}", {"n": n})
        for n in range(60)
    ]
    joining = await asyncio.to_thread(cluster.start, "executor-late", "executor", wait=False)
    ids += [
        await asyncio.to_thread(cluster.execute, "prod", f"small{n % 6}", {"n": n})
        for n in range(60, 90)
    ]
    await asyncio.to_thread(cluster.wait_up, joining)
    ended = await asyncio.to_thread(cluster.wait_all, ids, 120)
    assert {state_of(e) for e in ended} == {"SUCCESS"}
    outputs = sorted(
        int(run["outputs"]["value"])
        for e in ended
        for run in e["taskRunList"]
        if run["taskId"] == "c"
    )
    assert outputs == list(range(90))  # each execution's last task ran, once
    partitions = [
        set(r.health()["executor"]["partitions"])
        for r in cluster.roles.values()
        if r.role == "executor"
    ]
    assert sum(map(len, partitions)) == 3 and set().union(*partitions) == {0, 1, 2}
    await assert_invariants(observer, empty_store)


async def test_postgresql_restarted_mid_run(tmp_path: Path, broker_url: str) -> None:
    from engine.store import open_store
    from tests.support.kafka import make_bus

    with PostgresInstance() as postgres:
        cluster = Cluster(tmp_path, broker_url, postgres.url)
        try:
            deploy(cluster, tmp_path, {"twenty": TWENTY})
            start_roles(cluster, executors=1)
            ids = [await asyncio.to_thread(cluster.execute, "prod", "twenty") for _ in range(3)]
            await asyncio.sleep(1.5)
            await asyncio.to_thread(postgres.restart, down_seconds=2.0)
            ended = await asyncio.to_thread(cluster.wait_all, ids, 120)
            assert [state_of(e) for e in ended] == ["SUCCESS"] * 3
            assert all(r.is_running for r in cluster.roles.values())
            projector = cluster.roles["projector"]
            assert "store unavailable" in projector.log_tail(1_000_000)
            async with (
                make_bus(broker_url) as bus,
                open_store(postgres.url) as store,
            ):
                with_replay = postgres.url.rsplit("/", 1)[0] + "/replay"
                import asyncpg

                connection = await asyncpg.connect(postgres.url)
                await connection.execute("CREATE DATABASE replay")
                await connection.close()
                async with open_store(with_replay) as empty:
                    assert await check_invariants(bus, store, empty) == []
        finally:
            cluster.stop_all()


async def test_projector_rebuild_reproduces_the_projection(
    cluster: Cluster, tmp_path: Path, observer: tuple[Bus, Store]
) -> None:
    from tests.support.invariants import snapshot

    deploy(cluster, tmp_path, {"each": EACH, "small0": SMALL.format(n=0)})
    start_roles(cluster, executors=1)
    ids = [await asyncio.to_thread(cluster.execute, "prod", "small0", {"n": n}) for n in range(5)]
    ids.append(await asyncio.to_thread(cluster.execute, "prod", "each"))
    await asyncio.to_thread(cluster.wait_all, ids, 120)
    _, store = observer
    before = await snapshot(store)
    assert len(before) == 6

    output = await asyncio.to_thread(cluster.cli, "projector", "rebuild", "--yes")
    assert "rebuilt from" in output
    assert await snapshot(store) == before
