"""Flow `checks`, `sla` and multi-flow Flow triggers (`preconditions`) on the production
path: each role its own process on Kafka (a private Tansu broker) and PostgreSQL, two
executors. The windows of a trigger are kept by the executor that owns the listening
flow, whichever executors ran the upstream flows, and survive the executors and the
scheduler being stopped and started; an SLA's deadline survives its executor being
killed."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from engine.bus.base import Bus
from engine.store.base import Store
from tests.e2e.production.cluster import Cluster, state_of
from tests.e2e.production.test_roles import deploy

pytestmark = pytest.mark.e2e

NS = "prod.guards"


def upstream(flow_id: str) -> str:
    return (
        f"id: {flow_id}\nnamespace: {NS}\ntasks:\n"
        "  - {id: only, type: io.kestra.plugin.core.debug.Return, format: done}\n"
    )


LISTENER = f"""
id: listener
namespace: {NS}
tasks:
  - {{id: seen, type: io.kestra.plugin.core.debug.Return, format: "{{{{ trigger.flowId }}}}"}}
triggers:
  - id: both
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: both
      flows:
        - {{namespace: {NS}, flowId: flow-a, states: [SUCCESS]}}
        - {{namespace: {NS}, flowId: flow-b, states: [SUCCESS]}}
"""

CHECKED = f"""
id: checked
namespace: {NS}
inputs:
  - {{id: mode, type: STRING}}
checks:
  - {{condition: "{{{{ inputs.mode != 'block' }}}}", message: blocked here}}
  - {{condition: "{{{{ inputs.mode != 'fail' }}}}", message: failed here, behavior: FAIL_EXECUTION}}
tasks:
  - {{id: only, type: io.kestra.plugin.core.debug.Return, format: "{{{{ inputs.mode }}}}"}}
"""

SLOW = f"""
id: slow
namespace: {NS}
sla:
  - {{id: max, type: MAX_DURATION, behavior: FAIL, duration: PT3S, labels: {{sla: miss}}}}
tasks:
  - {{id: sleep, type: io.kestra.plugin.core.flow.Sleep, duration: PT2M}}
"""

SCOPE = f"{NS}/listener/both/windows"


def labels_of(execution: dict[str, Any]) -> dict[str, str]:
    return {label["key"]: label["value"] for label in execution["labels"]}


def executions(cluster: Cluster, flow_id: str) -> list[dict[str, Any]]:
    found = cluster.api("GET", f"/api/v1/executions/search?namespace={NS}&flowId={flow_id}")
    return found["results"]  # type: ignore[no-any-return]


async def counted(store: Store, upstream_id: str) -> None:
    """Until the listener's owner counted `upstream_id` in the trigger's windows."""
    deadline = time.monotonic() + 60
    while upstream_id not in ((await store.get_trigger_state(SCOPE)) or {}).get("seen", []):
        assert time.monotonic() < deadline, f"{upstream_id} never counted"
        await asyncio.sleep(0.1)


def start_roles(cluster: Cluster, *names: str) -> None:
    for name in names:
        cluster.start(name, name.rstrip("-0123456789"), wait=False)
    for name in names:
        cluster.wait_up(cluster.roles[name])


async def test_checks_sla_and_preconditions_on_kafka_and_postgres(
    cluster: Cluster, tmp_path: Path, observer: tuple[Bus, Store]
) -> None:
    _, store = observer
    flows = {"a": upstream("flow-a"), "b": upstream("flow-b"), "listener": LISTENER}
    deploy(cluster, tmp_path, {**flows, "checked": CHECKED, "slow": SLOW})
    # in waves: each role must answer within the cluster's start timeout on a busy machine
    start_roles(cluster, "projector", "webserver")
    start_roles(cluster, "executor-0", "executor-1")
    start_roles(cluster, "scheduler")

    # checks: BLOCK_EXECUTION answers 422 and creates nothing, FAIL_EXECUTION a FAILED one
    with pytest.raises(urllib.error.HTTPError) as refused:
        cluster.execute(NS, "checked", {"mode": "block"})
    assert refused.value.code == 422
    assert json.loads(refused.value.read())["message"].endswith("Failed checks: blocked here")
    [failed, passed] = cluster.wait_all(
        [
            cluster.execute(NS, "checked", {"mode": "fail"}),
            cluster.execute(NS, "checked", {"mode": "x"}),
        ]
    )
    assert state_of(failed) == "FAILED" and failed["taskRunList"] == []
    assert state_of(passed) == "SUCCESS"
    assert len(executions(cluster, "checked")) == 2

    # preconditions: flow-a counted, then the executors and the scheduler are replaced ...
    [a] = cluster.wait_all([cluster.execute(NS, "flow-a")])
    await counted(store, a["id"])
    assert executions(cluster, "listener") == []
    for name in ("executor-0", "executor-1", "scheduler"):
        cluster.kill(name, 15)
    start_roles(cluster, "executor-2", "scheduler-2")
    # ... and flow-b, on whichever executor, completes the window: one firing
    [b] = cluster.wait_all([cluster.execute(NS, "flow-b")])
    await counted(store, b["id"])
    deadline = time.monotonic() + 60
    while not (fired := executions(cluster, "listener")):
        assert time.monotonic() < deadline, "the listener never fired"
        await asyncio.sleep(0.2)
    [listener] = cluster.wait_all([fired[0]["id"]])
    assert state_of(listener) == "SUCCESS"
    assert listener["trigger"]["variables"]["executionId"] == b["id"]
    [b2] = cluster.wait_all([cluster.execute(NS, "flow-b")])  # the window was emptied
    await counted(store, b2["id"])
    assert len(executions(cluster, "listener")) == 1

    # sla: the executor running the execution is killed; the next one fails it at once,
    # its deadline (3 s after creation) long past
    slow = cluster.execute(NS, "slow")
    deadline = time.monotonic() + 30
    while state_of(cluster.execution(slow)) != "RUNNING":
        assert time.monotonic() < deadline, "slow never ran"
        await asyncio.sleep(0.1)
    cluster.kill("executor-2")
    await asyncio.sleep(3.5)  # the deadline passes while no executor runs
    start_roles(cluster, "executor-3")
    [ended] = cluster.wait_all([slow])
    assert state_of(ended) == "FAILED" and labels_of(ended)["sla"] == "miss"
    assert [state_of(run) for run in ended["taskRunList"]] == ["KILLED"]
