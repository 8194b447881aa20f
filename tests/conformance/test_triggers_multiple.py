"""Flow triggers that wait for several upstream executions, as Kestra 1.x runs them
(MultipleConditionTriggerCaseTest, flows/valids/trigger-multiplecondition-*.yaml and
flow-trigger-preconditions-*.yaml, the Flow trigger's docs): one firing per full window,
windows that expire, daily windows, `resetOnSuccess: false`, and windows that survive a
restart. Through the HTTP API of an embedded Podium with a fake clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from tests.conformance.fake_time_api import START, ClockedApi, clocked_api

pytestmark = pytest.mark.e2e

NS = "io.kestra.tests.trigger"


def upstream(flow_id: str, *, fail: bool = False, labels: str = "") -> str:
    task = (
        "{id: fail, type: io.kestra.plugin.core.execution.Fail}"
        if fail
        else "{id: only, type: io.kestra.plugin.core.debug.Return, format: '{{ execution.id }}'}"
    )
    return f"id: {flow_id}\nnamespace: {NS}\n{labels}tasks:\n  - {task}\n"


# trigger-multiplecondition-listener.yaml
LISTENER = f"""
id: trigger-multiplecondition-listener
namespace: {NS}
tasks:
  - id: only-listener
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.flowId }}}} {{{{ trigger.executionId }}}}"
triggers:
  - id: multiple-listen-flow
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - id: multiple
        type: io.kestra.plugin.core.condition.MultipleCondition
        window: P1D
        windowAdvance: P0D
        conditions:
          success:
            type: io.kestra.plugin.core.condition.ExecutionStatus
            in: [SUCCESS]
          flow-a:
            type: io.kestra.plugin.core.condition.ExecutionFlow
            namespace: {NS}
            flowId: trigger-multiplecondition-flow-a
          flow-b:
            type: io.kestra.plugin.core.condition.ExecutionFlow
            namespace: {NS}
            flowId: trigger-multiplecondition-flow-b
"""

# flow-trigger-preconditions-flow-listen.yaml, with a one-hour window
PRECONDITIONS = f"""
id: flow-trigger-preconditions-flow-listen
namespace: {NS}.preconditions
triggers:
  - id: flow
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: flow
      timeWindow: {{type: DURATION_WINDOW, window: PT1H}}
      flows:
        - namespace: {NS}.preconditions
          flowId: flow-trigger-preconditions-flow-a
          states: [SUCCESS, WARNING, FAILED]
        - namespace: {NS}.preconditions
          flowId: flow-trigger-preconditions-flow-b
          states: [SUCCESS]
      where:
        - id: flow1
          filters:
            - field: NAMESPACE
              type: STARTS_WITH
              value: {NS}
            - field: FLOW_ID
              type: EQUAL_TO
              value: flow-trigger-preconditions-flow-a
            - field: EXPRESSION
              type: IS_TRUE
              value: "{{{{labels.some == 'label'}}}}"
        - id: flow2
          filters:
            - field: NAMESPACE
              type: ENDS_WITH
              value: trigger.preconditions
            - field: FLOW_ID
              type: EQUAL_TO
              value: flow-trigger-preconditions-flow-b
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: "It works"
"""

DEADLINE = f"""
id: before-nine
namespace: {NS}
triggers:
  - id: by_nine
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: bronze
      resetOnSuccess: false
      timeWindow: {{type: DAILY_TIME_DEADLINE, deadline: "09:00:00"}}
      flows:
        - {{namespace: {NS}, flowId: trigger-multiplecondition-flow-a, states: [SUCCESS]}}
        - {{namespace: {NS}, flowId: trigger-multiplecondition-flow-b, states: [SUCCESS]}}
tasks:
  - {{id: only, type: io.kestra.plugin.core.log.Log, message: fresh}}
"""


async def counted(api: ClockedApi, scope: str, upstream_id: str) -> None:
    """Until the listening flow's owner counted `upstream_id` in its windows (or decided
    it counts for nothing): what proves that an execution that did not fire was seen."""
    for _ in range(2000):
        state = await api.podium.store.get_trigger_state(scope) or {}
        if upstream_id in state.get("seen", []):
            await api.podium.projector.caught_up()
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{upstream_id} never counted in {scope}")


async def fired(api: ClockedApi, namespace: str, flow_id: str, count: int) -> list[dict[str, Any]]:
    """The listening flow's executions once there are `count` ended ones."""
    for _ in range(2000):
        found = await api.executions(namespace, flow_id)
        if len(found) >= count and all(e["state"]["current"] == "SUCCESS" for e in found):
            assert len(found) == count, found
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"{flow_id}: {len(found)} executions, wanted {count}")


LISTENER_SCOPE = f"{NS}/trigger-multiplecondition-listener/multiple-listen-flow/windows"
PRE_NS = f"{NS}.preconditions"
PRE_SCOPE = f"{PRE_NS}/flow-trigger-preconditions-flow-listen/flow/windows"


async def test_multiple_condition_fires_once_per_full_window_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    clock = FakeClock(START)
    async with clocked_api(data, clock) as api:
        for flow_id in ("trigger-multiplecondition-flow-a", "trigger-multiplecondition-flow-b"):
            await api.deploy(upstream(flow_id))
        await api.deploy(upstream("trigger-multiplecondition-flow-c", fail=True))
        await api.deploy(LISTENER)
        a = await api.run(NS, "trigger-multiplecondition-flow-a")
        await counted(api, LISTENER_SCOPE, a["id"])
        assert await api.executions(NS, "trigger-multiplecondition-listener") == []
        c = await api.run(NS, "trigger-multiplecondition-flow-c")  # FAILED: counts for nothing
        assert c["state"]["current"] == "FAILED"
        b = await api.run(NS, "trigger-multiplecondition-flow-b")
        [listener] = await fired(api, NS, "trigger-multiplecondition-listener", 1)
        full = await api.json("GET", f"/api/v1/executions/{listener['id']}")
        assert full["trigger"]["variables"]["executionId"] == b["id"]
        assert full["trigger"]["variables"]["flowId"] == "trigger-multiplecondition-flow-b"
        assert full["taskRunList"][0]["outputs"]["value"] == (
            f"trigger-multiplecondition-flow-b {b['id']}"
        )
        # the window was emptied: b alone fires nothing, a then completes it again...
        b2 = await api.run(NS, "trigger-multiplecondition-flow-b")
        await counted(api, LISTENER_SCOPE, b2["id"])
        assert len(await api.executions(NS, "trigger-multiplecondition-listener")) == 1

    # ... after a restart: what the window held is kept in the store
    async with clocked_api(data, clock) as api:
        await api.run(NS, "trigger-multiplecondition-flow-a")
        await fired(api, NS, "trigger-multiplecondition-listener", 2)


async def test_preconditions_flows_and_where_within_a_time_window(tmp_path: Path) -> None:
    clock = FakeClock(START)
    async with clocked_api(tmp_path / "data", clock) as api:
        labelled = "labels: {some: label}\n"
        await api.deploy(
            upstream("flow-trigger-preconditions-flow-a", labels=labelled).replace(NS, PRE_NS)
        )
        await api.deploy(upstream("flow-trigger-preconditions-flow-b").replace(NS, PRE_NS))
        await api.deploy(PRECONDITIONS)
        listen = "flow-trigger-preconditions-flow-listen"
        # FlowTriggerCaseTest.flowTriggerPreconditions: a, a, b fire once
        for flow_id in ("flow-trigger-preconditions-flow-a", "flow-trigger-preconditions-flow-a"):
            ran = await api.run(PRE_NS, flow_id)
            await counted(api, PRE_SCOPE, ran["id"])
        assert await api.executions(PRE_NS, listen) == []
        await api.run(PRE_NS, "flow-trigger-preconditions-flow-b")
        await fired(api, PRE_NS, listen, 1)

        # the window lasts an hour (10:00 to 11:00): an `a` at 10:xx and a `b` at 11:xx
        # are in two windows and fire nothing
        a = await api.run(PRE_NS, "flow-trigger-preconditions-flow-a")
        await counted(api, PRE_SCOPE, a["id"])
        await clock.advance(timedelta(hours=1).total_seconds())
        b = await api.run(PRE_NS, "flow-trigger-preconditions-flow-b")
        await counted(api, PRE_SCOPE, b["id"])
        assert len(await api.executions(PRE_NS, listen)) == 1
        await api.run(PRE_NS, "flow-trigger-preconditions-flow-a")
        await fired(api, PRE_NS, listen, 2)


async def test_a_daily_deadline_and_reset_on_success_false(tmp_path: Path) -> None:
    clock = FakeClock(START - timedelta(hours=2))  # 08:00:05
    async with clocked_api(tmp_path / "data", clock) as api:
        for flow_id in ("trigger-multiplecondition-flow-a", "trigger-multiplecondition-flow-b"):
            await api.deploy(upstream(flow_id))
        await api.deploy(DEADLINE)
        await api.run(NS, "trigger-multiplecondition-flow-a")
        await api.run(NS, "trigger-multiplecondition-flow-b")
        await fired(api, NS, "before-nine", 1)
        # resetOnSuccess: false: the full window fires again for each execution that
        # meets one of its conditions
        await api.run(NS, "trigger-multiplecondition-flow-b")
        await fired(api, NS, "before-nine", 2)
        # after 09:00 nothing counts, until the next day's window
        await clock.advance(timedelta(hours=1).total_seconds())
        await api.run(NS, "trigger-multiplecondition-flow-a")
        late = await api.run(NS, "trigger-multiplecondition-flow-b")
        await api.until(late["id"])
        await api.podium.projector.caught_up()
        assert len(await api.executions(NS, "before-nine")) == 2
        await clock.advance(timedelta(hours=22).total_seconds())  # 07:00 the next day
        await api.run(NS, "trigger-multiplecondition-flow-a")
        await api.run(NS, "trigger-multiplecondition-flow-b")
        await fired(api, NS, "before-nine", 3)
