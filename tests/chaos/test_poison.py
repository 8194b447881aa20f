"""A task that kills the executor running it: the execution fails after a bounded number
of resumes, instead of taking down every executor for ever (engine/recovery.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.events import TaskRunChanged
from engine.recovery import PROGRESS_LABEL, RECOVERIES_LABEL, count
from engine.states import State
from tests.e2e.production.cluster import Cluster, state_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(run_id: str, state: State) -> TaskRunChanged:
    return TaskRunChanged(
        execution_id="e", namespace="n", flow_id="f", seq=1, at=T0, task_run_id=run_id,
        task_id=run_id, state=state, created_at=T0,
    )  # fmt: skip


def test_resumes_without_progress_are_counted_and_bounded() -> None:
    runs = [run("a", State.SUCCESS), run("b", State.RUNNING)]
    labels: dict[str, str] = {"team": "x"}
    for times in (1, 2, 3):
        recovery = count(labels, runs, limit=3)
        assert recovery.failure is None
        labels = recovery.labels
        assert labels == {"team": "x", RECOVERIES_LABEL: str(times), PROGRESS_LABEL: "1"}
    failed = count(labels, runs, limit=3)
    assert failed.failure is not None and "4 times in a row" in failed.failure


def test_progress_starts_the_count_over() -> None:
    labels = {RECOVERIES_LABEL: "3", PROGRESS_LABEL: "1"}
    runs = [run("a", State.SUCCESS), run("b", State.SUCCESS), run("c", State.RUNNING)]
    recovery = count(labels, runs, limit=3)
    assert recovery.failure is None and recovery.labels[RECOVERIES_LABEL] == "1"
    garbled = count({RECOVERIES_LABEL: "many"}, runs, limit=3)
    assert garbled.failure is None and garbled.labels[RECOVERIES_LABEL] == "1"


POISON = """
id: poison
namespace: prod
tasks:
  - {id: before, type: io.kestra.plugin.core.log.Log, message: starting}
  - id: crash
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    commands: ['sleep 1; kill -9 "$PPID"']  # $PPID: the executor that runs the script
"""
FINE = """
id: fine
namespace: prod
tasks:
  - {id: ok, type: io.kestra.plugin.core.debug.Return, format: fine}
"""


@pytest.mark.e2e
async def test_a_task_that_kills_its_executor_fails_after_bounded_resumes(
    cluster: Cluster, tmp_path: Path
) -> None:
    from tests.e2e.production.test_roles import deploy

    cluster.environ["PODIUM_EXECUTOR__MAX_RECOVERIES"] = "2"
    deploy(cluster, tmp_path, {"poison": POISON, "fine": FINE})
    cluster.start("projector", "projector", wait=False)
    cluster.start("webserver", "webserver", wait=False)
    executors = 0
    cluster.start(f"executor-{executors}", "executor", wait=False)
    for role in list(cluster.roles.values()):
        await asyncio.to_thread(cluster.wait_up, role)
    execution_id = await asyncio.to_thread(cluster.execute, "prod", "poison")
    deadline = time.monotonic() + 150
    while state_of(await asyncio.to_thread(cluster.execution, execution_id)) != "FAILED":
        assert time.monotonic() < deadline, "the poisoned execution never failed"
        assert executors <= 5, f"{executors} executors died"
        current = cluster.roles[f"executor-{executors}"]
        if not current.is_running:  # the task killed it: start the next one, as systemd would
            executors += 1
            cluster.start(f"executor-{executors}", "executor", wait=False)
        await asyncio.sleep(0.3)
    # the first run, then 2 resumes; the 3rd resume fails it instead (one more when the
    # first crash came before the `before` task's end was on the bus: that is progress)
    assert executors in (3, 4)
    found = await asyncio.to_thread(cluster.execution, execution_id)
    assert found is not None
    labels = (
        {label["key"]: label["value"] for label in found.get("labels", [])}
        if isinstance(found.get("labels"), list)
        else found.get("labels", {})
    )
    assert labels.get(RECOVERIES_LABEL) == "3"
    # the survivor keeps working
    await asyncio.to_thread(cluster.wait_up, cluster.roles[f"executor-{executors}"])
    fine = await asyncio.to_thread(cluster.execute, "prod", "fine")
    (ended,) = await asyncio.to_thread(cluster.wait_all, [fine], 60)
    assert state_of(ended) == "SUCCESS"
