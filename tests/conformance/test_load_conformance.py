"""Conformance with Kestra 1.x for loading, templates and inputs, through the real API.

Each test names the Kestra test or doc its assertion comes from (kestra-io/kestra,
core/src/test/java/io/kestra/core/runners/*, core/src/test/resources/flows/valids/).
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.cli import validate_files
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import YAML, Api, basic

pytestmark = pytest.mark.e2e

SECRET = "hunter2pass"
FLOWS: dict[str, str] = {}


def flow(name: str, text: str) -> str:
    FLOWS[name] = text
    return text


SECRETS = flow(
    "secrets",
    """
id: secrets
namespace: conformance
inputs:
  - {id: password, type: SECRET}
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message:
      - "plain {{ secret('my_secret') }}"
      - "upper {{ secret('my_secret') | upper }}"
      - "slice {{ secret('my_secret')[0:6] }}"
      - "b64 {{ secret('my_secret') | upper | base64encode }}"
      - "input {{ inputs.password }}"
""",
)

DATES = flow(
    "dates",
    """
id: dates
namespace: conformance
tasks:
  - {id: start, type: io.kestra.plugin.core.debug.Return, format: "{{ execution.startDate }}"}
  - {id: run, type: io.kestra.plugin.core.debug.Return, format: "{{ taskrun.startDate }}"}
""",
)

INPUTS = flow(
    "inputs",
    """
id: inputs
namespace: conformance
inputs:
  - {id: colour, type: ENUM, values: [red, blue], defaults: red}
  - {id: nested.value, type: STRING, defaults: deep}
tasks:
  - {id: out, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.colour }} {{ inputs.nested.value }}"}
""",
)

LEGACY = flow(
    "legacy",
    """
id: legacy
namespace: conformance
taskDefaults:
  - type: io.kestra.plugin.core.log.Log
    values: {level: WARN}
tasks:
  - id: seq
    type: io.kestra.core.tasks.flows.EachSequential
    value: [a, b]
    tasks:
      - {id: echo, type: io.kestra.core.tasks.debugs.Echo, format: "seq {{ taskrun.value }}"}
  - id: par
    type: io.kestra.plugin.core.flow.EachParallel
    value: '["x", "y"]'
    tasks:
      - {id: hello, type: io.kestra.plugin.core.log.Log, message: "par {{ taskrun.value }}"}
  - id: sw
    type: io.kestra.plugin.core.flow.Switch
    value: a
    defaults: null
    cases:
      a:
        - {id: in_a, type: io.kestra.plugin.core.log.Log, message: case a}
""",
)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    environ = {"SECRET_MY_SECRET": base64.b64encode(SECRET.encode()).decode()}
    async with (
        running_podium(tmp_path / "data", serve_http=True, environ=environ) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Api(podium, f"http://127.0.0.1:{podium.port}", http)


async def logs(api: Api, execution_id: str) -> list[str]:
    lines = await api.json("GET", f"/api/v1/logs/{execution_id}")
    return [line["message"] for line in lines]


def outputs(execution: dict[str, Any]) -> dict[str, Any]:
    return {run["taskId"]: run.get("outputs") or {} for run in execution["taskRunList"]}


async def test_secrets_are_found_upper_cased_and_masked_in_every_form(api: Api) -> None:
    """Kestra doc "Secrets" (secret('my_secret') reads SECRET_MY_SECRET) and
    SecretFunctionTest: a secret and a SECRET input never show in logs."""
    await api.deploy(SECRETS)
    execution = await api.run("conformance", "secrets", password="s3cr3t-input")
    assert execution["state"]["current"] == "SUCCESS"
    shown = await logs(api, execution["id"])
    assert shown[:5] == [
        "plain ******",
        "upper ******",
        "slice ******",
        "b64 ******",
        "input ******",
    ]
    shown_execution = await api.json("GET", f"/api/v1/executions/{execution['id']}")
    assert shown_execution["inputs"] == {"password": "******"}


async def test_dates_render_with_milliseconds_and_z(api: Api) -> None:
    """Kestra doc "Expressions": execution.startDate prints as an ISO instant
    (2024-01-31T10:00:00.123Z), as in flows/valids/return.yaml's date outputs."""
    await api.deploy(DATES)
    execution = await api.run("conformance", "dates")
    assert execution["state"]["current"] == "SUCCESS"
    instant = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    for task in ("start", "run"):
        assert instant.match(outputs(execution)[task]["value"]), outputs(execution)[task]


async def test_inputs_enum_dotted_ids_and_undeclared_values(api: Api) -> None:
    """InputsTest (flows/valids/inputs.yaml): ENUM is the old name of SELECT, an input id
    may hold dots (inputs.nested.value), and an undeclared input is ignored, not refused."""
    await api.deploy(INPUTS)
    execution = await api.run("conformance", "inputs", colour="blue", unknown="x")
    assert execution["state"]["current"] == "SUCCESS"
    assert outputs(execution)["out"]["value"] == "blue deep"
    assert "unknown" not in execution["inputs"]
    lines = await api.json("GET", f"/api/v1/logs/{execution['id']}")
    assert ("WARN", "inputs not declared by the flow were ignored: unknown") in {
        (line["level"], line["message"]) for line in lines
    }


async def test_deprecated_forms_load_with_warnings_and_run(api: Api) -> None:
    """EachSequentialTest / EachParallelTest and flows/valids/each-*.yaml: the old loops
    still run one task run per value; taskDefaults apply as pluginDefaults."""
    checked = await api.json("POST", "/api/v1/flows/validate", data=LEGACY, headers=YAML)
    assert checked[0]["constraints"] == ""
    assert checked[0]["deprecationPaths"] == [
        "taskDefaults", "tasks[0].type", "tasks[0].tasks[0].type", "tasks[1].type",
        "tasks[2].defaults",
    ]  # fmt: skip
    await api.deploy(LEGACY)
    execution = await api.run("conformance", "legacy")
    assert execution["state"]["current"] == "SUCCESS"
    runs = [run["taskId"] for run in execution["taskRunList"]]
    assert runs.count("echo") == 2 and runs.count("hello") == 2 and "in_a" in runs
    shown = sorted(await logs(api, execution["id"]))
    assert {"seq a", "seq b", "par x", "par y", "case a"} <= set(shown)
    levels = {line["level"] for line in await api.json("GET", f"/api/v1/logs/{execution['id']}")}
    assert "WARN" in levels  # set by taskDefaults


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        (
            "listeners:\n  - tasks: []\n",
            "listeners",
            "Flow trigger",
        ),
    ],
)
async def test_removed_flow_properties_are_refused(
    api: Api, extra: str, path: str, words: str
) -> None:
    """Kestra 1.x refuses `listeners` (removed in 0.x, replaced by Flow triggers)."""
    source = (
        "id: refused\nnamespace: conformance\n"
        + extra
        + "tasks:\n  - {id: a, type: io.kestra.plugin.core.log.Log, message: a}\n"
    )
    answer = await api.json("POST", "/api/v1/flows/validate", data=source, headers=YAML)
    problem = answer[0]["problems"][0]
    assert problem["path"] == path and words in problem["message"] and problem["line"] == 3


async def test_worker_group_and_recursive_subflow_are_refused(api: Api) -> None:
    """FlowValidationTest (recursive subflow) and Kestra's docs on workerGroup (EE only)."""
    source = """id: loop
namespace: conformance
tasks:
  - id: again
    type: io.kestra.plugin.core.flow.Subflow
    namespace: conformance
    flowId: loop
  - id: grouped
    type: io.kestra.plugin.core.log.Log
    message: a
    workerGroup: {key: gpu}
"""
    answer = await api.json("POST", "/api/v1/flows/validate", data=source, headers=YAML)
    found = {(p["path"], p["line"]) for p in answer[0]["problems"]}
    assert ("tasks[0].flowId", 7) in found
    assert ("tasks[1].workerGroup", 11) in found


TOGGLE = """id: toggles
namespace: conformance
tasks:
  - id: toggle
    type: io.kestra.plugin.core.trigger.Toggle
    trigger: x
  - id: legacy
    type: io.kestra.core.tasks.trigger.Toggle
    namespace: other
    flowId: flow
    trigger: y
    enabled: true
"""


async def test_trigger_toggle_loads_under_both_its_names(api: Api) -> None:
    """Kestra's trigger.Toggle (and its 0.x name) load; the trigger it names is looked up
    when it runs, as in Kestra."""
    answer = await api.json("POST", "/api/v1/flows/validate", data=TOGGLE, headers=YAML)
    assert answer[0]["problems"] == []


SCHEDULE_BACKFILL = """id: old_backfill
namespace: conformance
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: a}
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "@daily"
    backfill: {start: "2024-01-01T00:00:00Z"}
"""


async def test_schedule_backfill_property_loads_with_a_deprecation_warning(api: Api) -> None:
    """Kestra 1.x keeps Schedule `backfill` (deprecated) and no longer reads it: it loads,
    and the warning says where backfills are started now."""
    [checked] = await api.json(
        "POST", "/api/v1/flows/validate", data=SCHEDULE_BACKFILL, headers=YAML
    )
    assert checked["problems"] == [] and checked["deprecationPaths"] == ["triggers[0].backfill"]
    assert any("/backfill" in warning["message"] for warning in checked["warnings"])


def test_every_flow_of_the_suite_validates(tmp_path: Path) -> None:
    """`podium flow validate` passes on every flow of this suite (all test_load_*,
    test_triggers_* and test_templates_* modules)."""
    from tests.conformance import (
        test_load_deprecated_localfiles,
        test_load_deprecated_pause_on_resume,
        test_load_deprecated_subflow_outputs,
        test_load_properties,
        test_templates_context,
        test_triggers_flow,
        test_triggers_webhook,
    )

    suite = {
        **FLOWS,
        "pause_tasks": test_load_properties.PAUSE_TASKS,
        "local_files": test_load_deprecated_localfiles.LOCAL_FILES,
        "legacy_child": test_load_deprecated_subflow_outputs.CHILD,
        "legacy_parent": test_load_deprecated_subflow_outputs.PARENT,
        "pause_on_resume": test_load_deprecated_pause_on_resume.ON_RESUME,
        "assets": test_load_properties.ASSETS,
        "by_suffix": test_load_properties.SUFFIX,
        "download": test_load_properties.download_flow("https://example.com/data.csv"),
        "context": test_templates_context.CONTEXT,
        "loops": test_templates_context.LOOPS,
        "upstream": test_triggers_flow.UPSTREAM,
        "downstream": test_triggers_flow.DOWNSTREAM,
        "needs_input": test_triggers_flow.NEEDS_INPUT,
        "hooked": test_triggers_webhook.HOOKED,
    }
    files = []
    for name, text in suite.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        files.append(path)
    assert validate_files(files) == 0
