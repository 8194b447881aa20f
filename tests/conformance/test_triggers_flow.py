"""Flow-trigger conformance with Kestra 1.x (FlowTriggerCaseTest, docs "Flow trigger")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.web.conftest import Api
from tests.web.conftest import api as api  # the fixture: a whole Podium on HTTP

pytestmark = pytest.mark.e2e

UPSTREAM = """
id: upstream
namespace: conformance
labels: {team: data}
tasks:
  - {id: work, type: io.kestra.plugin.core.debug.Return, format: done}
outputs:
  - {id: answer, type: STRING, value: "{{ outputs.work.value }}"}
"""

DOWNSTREAM = """
id: downstream
namespace: conformance
inputs:
  - {id: state, type: STRING}
  - {id: answer, type: STRING, required: false}
  - {id: team, type: STRING}
tasks:
  - {id: seen, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.state }} {{ inputs.answer }} {{ inputs.team }}"}
triggers:
  - id: on_upstream
    type: io.kestra.plugin.core.trigger.Flow
    states: [RUNNING, SUCCESS]
    inputs:
      state: "{{ trigger.state }}"
      answer: "{{ trigger.outputs.answer ?? '' }}"
      team: "{{ trigger.labels.team }}"
    preconditions:
      flows:
        - {namespace: conformance, flowId: upstream}
"""


async def ended(api: Api, flow_id: str, count: int) -> list[dict[str, Any]]:
    path = f"/api/v1/executions/search?namespace=conformance&flowId={flow_id}"
    found: list[dict[str, Any]] = []
    for _ in range(500):
        found = (await api.json("GET", path))["results"]
        terminal = {"SUCCESS", "FAILED", "WARNING", "KILLED", "CANCELLED"}
        if len(found) >= count and all(e["state"]["current"] in terminal for e in found):
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"{flow_id}: {len(found)} executions")


async def test_flow_trigger_fires_on_each_listed_state_with_rendered_inputs(api: Api) -> None:
    """FlowTriggerCaseTest (flows/valids/trigger-flow-listener*.yaml) and the Flow trigger
    docs: `states: [RUNNING, SUCCESS]` fires once per listed state; declared inputs are
    rendered from the triggering execution (`trigger.state`, `.outputs`, `.labels`)."""
    await api.deploy(DOWNSTREAM)
    await api.deploy(UPSTREAM)
    await asyncio.sleep(0.1)  # the trigger service picks the flows up
    upstream = await api.run("conformance", "upstream")
    assert upstream["state"]["current"] == "SUCCESS"
    runs = await ended(api, "downstream", 2)
    assert len(runs) == 2
    seen = set()
    for run in runs:
        execution = await api.json("GET", f"/api/v1/executions/{run['id']}")
        seen.add(execution["taskRunList"][0]["outputs"]["value"])
    assert seen == {"RUNNING  data", "SUCCESS done data"}


NEEDS_INPUT = """
id: needs_input
namespace: conformance
inputs:
  - {id: required_value, type: STRING}
tasks:
  - {id: never, type: io.kestra.plugin.core.log.Log, message: "{{ inputs.required_value }}"}
triggers:
  - id: on_upstream
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      flows:
        - {namespace: conformance, flowId: upstream, states: [SUCCESS]}
"""


async def test_a_trigger_with_a_required_input_missing_makes_a_failed_execution(
    api: Api,
) -> None:
    """Kestra's trigger-started executions: invalid inputs do not silently drop the
    firing; the execution exists, FAILED, saying which input is missing."""
    await api.deploy(NEEDS_INPUT)
    await api.deploy(UPSTREAM)
    await asyncio.sleep(0.1)  # the trigger service picks the flows up
    await api.run("conformance", "upstream")
    [failed] = await ended(api, "needs_input", 1)
    assert failed["state"]["current"] == "FAILED"
    execution = await api.json("GET", f"/api/v1/executions/{failed['id']}")
    assert execution["taskRunList"] == []
    assert "required_value" in execution["error"] and "missing" in execution["error"]
