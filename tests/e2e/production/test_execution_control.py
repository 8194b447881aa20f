"""Exit and SetVariables on the production path (each role its own process, Kafka and
PostgreSQL), also when the executor dies mid-flow: the executor that takes over finds
the `vars` a SetVariables set, and an Exit that already ended the execution, in what
was recorded (the execution's events), and goes on as the first would have."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.bus.base import Bus
from engine.store.base import Store
from tests.e2e.production.cluster import Cluster, state_of
from tests.e2e.production.test_roles import assert_invariants, deploy, start_roles

pytestmark = pytest.mark.e2e

VARIABLES = """
id: variables
namespace: prod.control
variables: {name: World}
tasks:
  - id: set
    type: io.kestra.plugin.core.execution.SetVariables
    variables: {message: Hello, name: "{{ vars.name }}!"}
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT3S}
  - id: unset
    type: io.kestra.plugin.core.execution.UnsetVariables
    variables: [message]
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ vars.message ?? 'gone' }} {{ vars.name }}"
"""

EXIT = """
id: exit
namespace: prod.control
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT3S}
      - {id: stop, type: io.kestra.plugin.core.execution.Exit, state: WARNING}
  - {id: end, type: io.kestra.plugin.core.log.Log, message: never}
"""

KILLED = """
id: killed
namespace: prod.control
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT60S}
      - {id: stop, type: io.kestra.plugin.core.execution.Exit, state: KILLED}
"""


def task_states(execution: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {r["taskId"]: state_of(r) for r in execution["taskRunList"]}


async def test_exit_and_variables_survive_an_executor_killed_mid_flow(
    cluster: Cluster, tmp_path: Path, observer: tuple[Bus, Store], empty_store: Store
) -> None:
    deploy(cluster, tmp_path, {"variables": VARIABLES, "exit": EXIT, "killed": KILLED})
    start_roles(cluster, executors=1)
    killed = await asyncio.to_thread(cluster.execute, "prod.control", "killed")
    ids = [
        await asyncio.to_thread(cluster.execute, "prod.control", "variables"),
        await asyncio.to_thread(cluster.execute, "prod.control", "exit"),
    ]
    # both well into their flow: the SetVariables ended, the Exit too, the naps running
    deadline = time.monotonic() + 60
    while min(cluster.finished_task_runs(i) for i in ids) < 1:
        assert time.monotonic() < deadline, "the executions never got going"
        await asyncio.sleep(0.1)
    cluster.kill("executor-0")
    cluster.start("executor-1", "executor")

    variables, exited = await asyncio.to_thread(cluster.wait_all, ids, 120)
    assert "resuming execution" in cluster.roles["executor-1"].log_tail(1_000_000)
    assert state_of(variables) == "SUCCESS", variables
    read = next(r for r in variables["taskRunList"] if r["taskId"] == "read")
    assert read["outputs"] == {"value": "gone World!"}
    assert variables["variables"] == {"name": "World!"}

    assert state_of(exited) == "WARNING", exited
    assert task_states(exited) == {"both": "WARNING", "nap": "SUCCESS", "stop": "WARNING"}

    (stopped,) = await asyncio.to_thread(cluster.wait_all, [killed], 60)
    assert state_of(stopped) == "KILLED"
    assert task_states(stopped) == {"both": "KILLED", "nap": "KILLED", "stop": "KILLED"}
    await assert_invariants(observer, empty_store)
