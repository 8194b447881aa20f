"""Kestra's deprecated Subflow `outputs`, through the real API: it loads with a deprecation
warning and each template is rendered against the subflow's execution, exposed as the
Subflow task's `outputs` (kestra-io/docs migration-guide/subflow-outputs.md; kestra-io/kestra
core/src/test/java/io/kestra/plugin/core/flow/SubflowTest.java)."""

from __future__ import annotations

import pytest

from tests.conformance.walk_support import module_api as module_api
from tests.conformance.walk_support import run, runs_of
from tests.web.conftest import YAML, Api

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

CHILD = """
id: legacy_child
namespace: conformance
inputs:
  - {id: name, type: STRING, defaults: world}
tasks:
  - {id: mytask, type: io.kestra.plugin.core.debug.Return, format: "hello {{ inputs.name }}"}
"""

PARENT = """
id: legacy_parent
namespace: conformance
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: conformance
    flowId: legacy_child
    inputs: {name: kestra}
    outputs:
      final: "{{ outputs.mytask.value }}"
      flow: "{{ flow.id }}"
  - {id: log, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.call.outputs.final }}"}
"""

DECLARED_CHILD = """
id: declared_child
namespace: conformance
tasks:
  - {id: mytask, type: io.kestra.plugin.core.debug.Return, format: declared}
outputs:
  - {id: result, type: STRING, value: "{{ outputs.mytask.value }}"}
"""

DECLARED_PARENT = """
id: declared_parent
namespace: conformance
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: conformance
    flowId: declared_child
    outputs:
      final: "{{ outputs.mytask.value }} (legacy)"
"""


async def test_subflow_outputs_render_against_the_subflow(module_api: Api) -> None:
    """The migration guide's example: `outputs.subflow.outputs.final` is the child's task
    output; `flow.id` in the template is the child's."""
    checked = await module_api.json("POST", "/api/v1/flows/validate", data=PARENT, headers=YAML)
    assert checked[0]["constraints"] == ""
    assert checked[0]["deprecationPaths"] == ["tasks[0].outputs"]
    await module_api.deploy(CHILD)
    execution = await run(module_api, PARENT)
    assert execution["state"]["current"] == "SUCCESS"
    (call,) = runs_of(execution, "call")
    assert call["outputs"]["outputs"] == {"final": "hello kestra", "flow": "legacy_child"}
    assert runs_of(execution, "log")[0]["outputs"]["value"] == "hello kestra"


async def test_declared_flow_outputs_win_over_the_deprecated_ones(module_api: Api) -> None:
    """Kestra uses the subflow's declared `outputs` when it has some."""
    await module_api.deploy(DECLARED_CHILD)
    execution = await run(module_api, DECLARED_PARENT)
    assert execution["state"]["current"] == "SUCCESS"
    assert runs_of(execution, "call")[0]["outputs"]["outputs"] == {"result": "declared"}
