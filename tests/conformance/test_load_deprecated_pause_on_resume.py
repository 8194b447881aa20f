"""Pause `onResume` inputs, through the real API: declared on the Pause, given with the
resume (POST /api/v1/executions/{id}/resume), validated as a flow's inputs are, and read
as `outputs.<pause>.onResume.<id>` (kestra-io/kestra core/src/test/java/io/kestra/plugin/
core/flow/PauseTest.java, runOnResume; flows/valids/pause-on-resume.yaml)."""

from __future__ import annotations

import pytest

from tests.conformance.walk_support import module_api as module_api
from tests.conformance.walk_support import runs_of, wait_state
from tests.web.conftest import YAML, Api

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ON_RESUME = """
id: pause_on_resume
namespace: conformance
tasks:
  - id: approve
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - {id: approved, type: BOOL}
      - {id: reason, type: STRING, defaults: none given}
      - {id: count, type: INT, required: false}
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.approve.onResume.approved }} {{ outputs.approve.onResume.reason }}"
"""


async def test_on_resume_inputs_are_validated_and_read_after_the_pause(module_api: Api) -> None:
    """PauseTest.runOnResume: a resume with invalid inputs is refused and the execution
    stays PAUSED; a valid one gives the values (defaults applied) to the tasks after."""
    checked = await module_api.json("POST", "/api/v1/flows/validate", data=ON_RESUME, headers=YAML)
    assert checked[0]["constraints"] == ""
    await module_api.deploy(ON_RESUME)
    started = await module_api.json("POST", "/api/v1/executions/conformance/pause_on_resume")
    await wait_state(module_api, started["id"], "PAUSED")
    resume = module_api.url(f"/api/v1/executions/{started['id']}/resume")
    async with module_api.http.post(resume, json={"count": "many"}) as refused:
        assert refused.status == 422
        body = await refused.text()
        assert "approved" in body and "count" in body
    paused = await wait_state(module_api, started["id"], "PAUSED")
    assert runs_of(paused, "after") == []
    async with module_api.http.post(resume, data={"approved": "true", "count": "3"}) as ok:
        assert ok.status == 204
    ended = await wait_state(module_api, started["id"], "SUCCESS", "FAILED")
    assert ended["state"]["current"] == "SUCCESS"
    (pause,) = runs_of(ended, "approve")
    assert pause["outputs"]["onResume"] == {"approved": True, "reason": "none given", "count": 3}
    assert runs_of(ended, "after")[0]["outputs"]["value"] == "true none given"
