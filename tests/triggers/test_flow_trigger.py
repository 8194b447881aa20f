"""io.kestra.plugin.core.trigger.Flow: run a flow when another ends."""

from __future__ import annotations

import asyncio

from tests.conftest import Harness

UPSTREAM = """
id: upstream
namespace: tests
inputs:
  - {id: fail, type: BOOL, defaults: false}
tasks:
  - {id: work, type: io.kestra.plugin.core.execution.Fail, condition: "{{ inputs.fail }}"}
outputs:
  - {id: answer, type: INT, value: "42"}
"""

DOWNSTREAM = """
id: downstream
namespace: tests
inputs:
  - {id: upstream_state, type: STRING}
tasks:
  - id: report
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.namespace }}/{{ trigger.flowId }} {{ trigger.executionId }} {{ trigger.state }} {{ trigger.outputs.answer ?? '-' }}"
triggers:
  - id: after_upstream
    type: io.kestra.plugin.core.trigger.Flow
    inputs: {upstream_state: "{{ trigger.state }}"}
    conditions:
      - {type: io.kestra.plugin.core.condition.ExecutionFlow, namespace: tests, flowId: upstream}
      - {type: io.kestra.plugin.core.condition.ExecutionStatus, in: [SUCCESS, FAILED]}
"""

ON_FAILURE = """
id: alerts
namespace: tests
tasks:
  - {id: alert, type: io.kestra.plugin.core.log.Log, message: "failed: {{ trigger.executionId }}"}
triggers:
  - id: on_failure
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      flows:
        - {namespace: tests, flowId: upstream, states: [FAILED]}
"""


async def downstream_runs(harness: Harness, flow_id: str, count: int) -> list:
    for _ in range(400):
        await harness.podium.projector.caught_up()
        found = await harness.podium.store.list_executions(flow_id=flow_id)
        if len(found) >= count and all(e.state.is_terminal for e in found):
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"{flow_id}: {len(found)} executions")


async def test_a_flow_runs_when_another_ends_with_its_variables(harness: Harness) -> None:
    await harness.deploy(DOWNSTREAM)
    await harness.deploy(ON_FAILURE)
    await asyncio.sleep(0.05)  # the trigger service picks the flows up
    ok = await harness.run(UPSTREAM)
    [after] = await downstream_runs(harness, "downstream", 1)
    outcome = await harness.outcome(after.execution_id)
    assert outcome.messages("report") == [f"tests/upstream {ok.execution.execution_id} SUCCESS 42"]
    assert outcome.execution.inputs == {"upstream_state": "SUCCESS"}
    failed = await harness.run(UPSTREAM, {"fail": True})
    runs = await downstream_runs(harness, "downstream", 2)
    assert len(runs) == 2
    [alert] = await downstream_runs(harness, "alerts", 1)
    assert (await harness.outcome(alert.execution_id)).messages("alert") == [
        f"failed: {failed.execution.execution_id}"
    ]


async def test_an_unmatched_execution_fires_nothing(harness: Harness) -> None:
    await harness.deploy(DOWNSTREAM)
    await asyncio.sleep(0.05)
    other = UPSTREAM.replace("id: upstream", "id: other")
    await harness.run(other)
    await asyncio.sleep(0.3)
    await harness.podium.projector.caught_up()
    assert await harness.podium.store.list_executions(flow_id="downstream") == []
