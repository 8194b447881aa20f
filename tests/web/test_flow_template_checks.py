"""Through the real server: a flow with a broken template is refused when saved, each
problem placed; the new template functions run in a real execution."""

from __future__ import annotations

import aiohttp
import pytest

from tests.web.conftest import YAML, Api

pytestmark = pytest.mark.e2e

BAD_TEMPLATE = """\
id: templated
namespace: tests.web
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.scond.value | uper }}"
  - id: second
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.data }}"
"""

FILES = """\
id: files
namespace: tests.web
inputs:
  - {id: data, type: FILE}
tasks:
  - id: size
    type: io.kestra.plugin.core.debug.Return
    format: >-
      {{ fileSize(inputs.data) }} {{ fileExists(inputs.data) }} {{ isFileEmpty(inputs.data) }}
      {{ {'items': [{'id': 1}, {'id': 2}]} | jq('[.items[].id] | add') | first }}
      {{ 'x-1' | replace({'(\\\\d)': '<$1>'}, regexp=true) }}
  - id: other
    type: io.kestra.plugin.core.debug.Return
    format: "{{ fileSize('kestra:///tests/web/files/executions/someone-else/tasks/t/r/f') }}"
"""


async def test_saving_a_flow_with_a_bad_template_answers_each_problem_placed(api: Api) -> None:
    answer = await api.json("POST", "/api/v1/flows", 422, data=BAD_TEMPLATE, headers=YAML)
    problems = {(p["path"], p["line"], p["column"], p["message"]) for p in answer["problems"]}
    assert problems == {
        (
            "tasks[0].message",
            6,
            18,
            "'outputs.scond': no task has the id 'scond'; did you mean 'second'?",
        ),
        (
            "tasks[0].message",
            6,
            40,
            "unknown template filter 'uper'; did you mean 'upper' or 'number'?",
        ),
    }
    await api.json("GET", "/api/v1/flows/tests.web/templated", 404)  # nothing was saved
    results = await api.json("POST", "/api/v1/flows/validate", data=BAD_TEMPLATE, headers=YAML)
    assert len(results[0]["problems"]) == 2
    fixed = BAD_TEMPLATE.replace("outputs.scond.value | uper", "inputs | length")
    assert (await api.deploy(fixed))["id"] == "templated"


async def test_file_functions_and_jq_in_a_real_execution(api: Api) -> None:
    await api.deploy(FILES)
    form = aiohttp.FormData()
    form.add_field("data", b"hello", filename="data.txt")
    execution = await api.json("POST", "/api/v1/executions/tests.web/files?wait=true", data=form)
    runs = {run["taskId"]: run for run in execution["taskRunList"]}
    assert runs["size"]["outputs"]["value"] == "5 true false 3 x-<1>"
    assert runs["other"]["state"]["current"] == "FAILED"
    assert execution["state"]["current"] == "FAILED"


ERRORS = """\
id: alerting
namespace: tests.web
tasks:
  - id: shout
    type: io.kestra.plugin.core.log.Log
    level: ERROR
    message: "disk full"
  - id: fail
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: "giving up"
errors:
  - id: alert
    type: io.kestra.plugin.core.debug.Return
    format: "{{ errorLogs()[0].taskId }}: {{ errorLogs()[0].message }}"
"""


async def test_error_logs_in_an_errors_handler(api: Api) -> None:
    """Kestra's docs: `errorLogs()` in an `errors` task, e.g. to send an alert."""
    await api.deploy(ERRORS)
    execution = await api.json("POST", "/api/v1/executions/tests.web/alerting?wait=true")
    runs = {run["taskId"]: run for run in execution["taskRunList"]}
    assert runs["alert"]["outputs"]["value"] == "shout: disk full"
    assert execution["state"]["current"] == "FAILED"
