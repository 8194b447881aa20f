"""kill -9 of the executor in the middle of a task body: the restarted executor runs the
task again (at least once, as documented) and that run is a new attempt, shown as such by
the API (what the UI's Gantt chart draws) and the logs, with the same PODIUM_ATTEMPT_KEY
so the script can tell it is a repeat."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.bus.base import Bus
from engine.store.base import Store
from tests.e2e.production.cluster import Cluster, state_of
from tests.support.invariants import check_invariants

pytestmark = pytest.mark.e2e

CRASH_ONCE = """
id: crash_once
namespace: prod
tasks:
  - {{id: before, type: io.kestra.plugin.core.log.Log, message: starting}}
  - id: body
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    commands:
      - echo "key $PODIUM_ATTEMPT_KEY" >> {keys}
      - echo "running with key $PODIUM_ATTEMPT_KEY"
      - sleep 1
      # the first time only: kill the executor in the middle of this task's body
      - if [ ! -e {marker} ]; then touch {marker}; kill -9 "$PPID"; sleep 30; fi
      - echo finished
  - {{id: after, type: io.kestra.plugin.core.log.Log, message: done}}
"""


async def test_a_task_run_again_after_a_crash_is_a_new_attempt(
    cluster: Cluster, tmp_path: Path, observer: tuple[Bus, Store], empty_store: Store
) -> None:
    from tests.e2e.production.test_roles import deploy

    keys, marker = tmp_path / "keys.txt", tmp_path / "crashed"
    deploy(cluster, tmp_path, {"crash_once": CRASH_ONCE.format(keys=keys, marker=marker)})
    for name, kind in (("projector", "projector"), ("webserver", "webserver"),
                       ("executor-0", "executor")):  # fmt: skip
        cluster.start(name, kind, wait=False)
    for started in list(cluster.roles.values()):
        await asyncio.to_thread(cluster.wait_up, started)
    execution_id = await asyncio.to_thread(cluster.execute, "prod", "crash_once")
    deadline = time.monotonic() + 60
    while cluster.roles["executor-0"].is_running:  # the task kills it
        assert time.monotonic() < deadline, "the executor was never killed"
        await asyncio.sleep(0.2)
    cluster.start("executor-1", "executor", wait=False)
    (ended,) = await asyncio.to_thread(cluster.wait_all, [execution_id], 90)
    assert state_of(ended) == "SUCCESS", ended

    body = next(r for r in ended["taskRunList"] if r["taskId"] == "body")
    assert [a["attempt"] for a in body["attempts"]] == [1, 2], body["attempts"]
    assert body["attempts"][1]["state"]["current"] == "SUCCESS"
    assert body["attempts"][0]["state"]["current"] != "SUCCESS"  # interrupted
    first = next(r for r in ended["taskRunList"] if r["taskId"] == "before")
    assert len(first["attempts"]) == 1  # it had finished: it did not run again

    logs = await asyncio.to_thread(cluster.api, "GET", f"/api/v1/logs/{execution_id}")
    interrupted = [line for line in logs if "attempt 1 was interrupted" in line["message"]]
    assert interrupted and interrupted[0]["attempt"] == 2 and interrupted[0]["taskId"] == "body"
    assert any(line["attempt"] == 2 and "finished" in line["message"] for line in logs), [
        (line["attempt"], line["message"]) for line in logs
    ]
    # the same idempotency key both times
    written = keys.read_text().split()
    assert len(written) == 4 and written[1] == written[3], written

    bus, store = observer
    assert await check_invariants(bus, store, empty_store) == []
