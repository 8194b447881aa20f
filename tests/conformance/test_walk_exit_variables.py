"""Kestra conformance of the tasks that change the execution from inside: execution.Exit,
SetVariables, UnsetVariables, templating.TemplatedTask, and flow.Template refused.

Each test runs its flow through the HTTP API and asserts what Kestra's own test asserts
(named in the docstring; the flows follow Kestra's core/src/test/resources/flows/valids).
"""

from __future__ import annotations

import json

import pytest

from tests.conformance.walk_support import Api, module_api, run, runs_of

pytestmark = pytest.mark.asyncio(loop_scope="module")
api = module_api  # the module's one Podium

NS = "conformance.exit"


def exit_flow(flow_id: str, state: str) -> str:
    return f"""
id: {flow_id}
namespace: {NS}
inputs:
  - {{id: state, type: SELECT, values: [CONTINUE, END], defaults: END}}
tasks:
  - id: if
    type: io.kestra.plugin.core.flow.If
    condition: "{{{{ inputs.state == 'CONTINUE' }}}}"
    then:
      - {{id: hello, type: io.kestra.plugin.core.log.Log, message: "I'm continuing"}}
    else:
      - {{id: exit, type: io.kestra.plugin.core.execution.Exit, state: {state}}}
  - {{id: end, type: io.kestra.plugin.core.log.Log, message: "I'm ending"}}
finally:
  - {{id: cleanup, type: io.kestra.plugin.core.log.Log, message: never}}
afterExecution:
  - {{id: after, type: io.kestra.plugin.core.debug.Return, format: "{{{{ execution.state }}}}"}}
"""


async def test_exit_ends_the_execution_in_its_state(api: Api) -> None:
    """ExitTest.shouldExitTheExecution (flow exit.yaml): WARNING, two task runs (the If
    and the Exit, both WARNING); `end` never starts. Nor does `finally`; afterExecution
    runs and sees the end state."""
    execution = await run(api, exit_flow("exit", "WARNING"))
    assert execution["state"]["current"] == "WARNING"
    main = [r for r in execution["taskRunList"] if r["taskId"] != "after"]
    assert [(r["taskId"], r["state"]["current"]) for r in main] == [
        ("if", "WARNING"),
        ("exit", "WARNING"),
    ]
    (after,) = runs_of(execution, "after")
    assert after["outputs"] == {"value": "WARNING"}

    going_on = await run(api, exit_flow("exit", "WARNING"), state="CONTINUE")
    assert going_on["state"]["current"] == "SUCCESS"
    assert {r["taskId"] for r in going_on["taskRunList"]} >= {"hello", "end", "cleanup"}


async def test_exit_killed_kills_the_execution(api: Api) -> None:
    """ExitTest.shouldExitAndKillTheExecution (flow exit-killed.yaml): KILLED, the If and
    the Exit KILLED, nothing after them."""
    execution = await run(api, exit_flow("exit-killed", "KILLED"))
    assert execution["state"]["current"] == "KILLED"
    main = [r for r in execution["taskRunList"] if r["taskId"] != "after"]
    assert [(r["taskId"], r["state"]["current"]) for r in main] == [
        ("if", "KILLED"),
        ("exit", "KILLED"),
    ]


EXIT_IN_PARALLEL = f"""
id: exit-parallel
namespace: {NS}
inputs:
  - {{id: state, type: STRING}}
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: slow
        type: io.kestra.plugin.core.flow.Sequential
        tasks:
          - {{id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT1S}}
          - {{id: after_nap, type: io.kestra.plugin.core.log.Log, message: never}}
      - {{id: stop, type: io.kestra.plugin.core.execution.Exit, state: "{{{{ inputs.state }}}}"}}
  - {{id: end, type: io.kestra.plugin.core.log.Log, message: never}}
"""


async def test_exit_in_a_parallel_branch(api: Api) -> None:
    """Exit.java: "if this execution has running tasks, for example in a parallel branch,
    the tasks will not be terminated except if `state` is set to KILLED": FAILED lets the
    Sleep finish (nothing after it starts); KILLED kills it."""
    failed = await run(api, EXIT_IN_PARALLEL, state="FAILED")
    assert failed["state"]["current"] == "FAILED"
    states = {r["taskId"]: r["state"]["current"] for r in failed["taskRunList"]}
    assert states == {"both": "FAILED", "slow": "SUCCESS", "nap": "SUCCESS", "stop": "FAILED"}

    killed = await run(api, EXIT_IN_PARALLEL, state="KILLED")
    assert killed["state"]["current"] == "KILLED"
    states = {r["taskId"]: r["state"]["current"] for r in killed["taskRunList"]}
    assert states == {"both": "KILLED", "slow": "KILLED", "nap": "KILLED", "stop": "KILLED"}


async def test_exit_refuses_an_unknown_state(api: Api) -> None:
    flow = f"""
id: exit-bad
namespace: {NS}
tasks:
  - {{id: stop, type: io.kestra.plugin.core.execution.Exit, state: "{{{{ 'LATER' }}}}"}}
  - {{id: end, type: io.kestra.plugin.core.log.Log, message: never}}
"""
    execution = await run(api, flow)
    assert execution["state"]["current"] == "FAILED"
    (stop,) = runs_of(execution, "stop")
    assert "must be one of SUCCESS, WARNING, KILLED, FAILED" in stop["error"]
    assert not runs_of(execution, "end")


SET_VARIABLES = f"""
id: set-variables
namespace: {NS}
variables:
  name: World
  nested: {{a: 1, b: {{c: 2}}}}
tasks:
  - id: set-vars
    type: io.kestra.plugin.core.execution.SetVariables
    variables:
      message: Hello
      name: Loïc
      nested: {{b: {{d: "{{{{ vars.name }}}}"}}}}
  - id: output
    type: io.kestra.plugin.core.output.OutputValues
    values:
      message: "{{{{ vars.message }}}} {{{{ vars.name }}}}"
      nested: "{{{{ vars.nested }}}}"
  - id: unset
    type: io.kestra.plugin.core.execution.UnsetVariables
    variables: [message, nested.b.c, not_there]
  - id: after
    type: io.kestra.plugin.core.output.OutputValues
    values:
      message: "{{{{ vars.message ??? 'default' }}}}"
      nested: "{{{{ vars.nested }}}}"
"""


async def test_set_and_unset_variables(api: Api) -> None:
    """SetVariablesTest.shouldUpdateExecution (flow set-variables.yaml): "Hello Loïc";
    maps merge deeply (MapUtils.deepMerge), rendered against the `vars` before the task.
    UnsetVariablesTest.shouldUpdateExecution (unset-variables.yaml): `vars.message ???
    'default'` after the unset; a dotted name removes inside a map, a name not there is
    no error (UnsetVariables.java). The execution's `variables` say what they became."""
    execution = await run(api, SET_VARIABLES)
    assert execution["state"]["current"] == "SUCCESS", execution
    (output,) = runs_of(execution, "output")
    assert output["outputs"]["values"]["message"] == "Hello Loïc"
    # a map renders as JSON, as Pebble prints it
    assert json.loads(output["outputs"]["values"]["nested"]) == {
        "a": 1,
        "b": {"c": 2, "d": "World"},
    }
    (after,) = runs_of(execution, "after")
    assert after["outputs"]["values"]["message"] == "default"
    assert json.loads(after["outputs"]["values"]["nested"]) == {"a": 1, "b": {"d": "World"}}
    assert execution["variables"] == {"name": "Loïc", "nested": {"a": 1, "b": {"d": "World"}}}


async def test_set_variables_without_overwrite_fails_on_a_taken_name(api: Api) -> None:
    """SetVariablesTest.shouldFailWhenExistingVariable (set-variables-duplicate.yaml):
    FAILED, one task run; the flow's variables count as taken."""
    flow = SET_VARIABLES.replace("id: set-variables\n", "id: set-variables-duplicate\n").replace(
        '      nested: {b: {d: "{{ vars.name }}"}}\n', "    overwrite: false\n"
    )
    execution = await run(api, flow)
    assert execution["state"]["current"] == "FAILED"
    (only,) = execution["taskRunList"]
    assert only["state"]["current"] == "FAILED"
    assert "the following variables already exist: name" in only["error"]


async def test_unset_through_a_missing_map_fails_unless_ignored(api: Api) -> None:
    flow = f"""
id: unset-missing
namespace: {NS}
variables: {{keep: 1}}
tasks:
  - id: ignored
    type: io.kestra.plugin.core.execution.UnsetVariables
    variables: [a.b]
    ignoreMissing: true
  - id: refused
    type: io.kestra.plugin.core.execution.UnsetVariables
    variables: ["{{{{ 'a.b' }}}}"]
"""
    execution = await run(api, flow)
    assert execution["state"]["current"] == "FAILED"
    assert runs_of(execution, "ignored")[0]["state"]["current"] == "SUCCESS"
    assert "'a' is not a map of the variables" in runs_of(execution, "refused")[0]["error"]


TEMPLATED = f"""
id: templated
namespace: {NS}
inputs:
  - {{id: type, type: STRING, defaults: io.kestra.plugin.core.debug.Return}}
pluginDefaults:
  - type: io.kestra.plugin.core.log.Log
    values: {{message: "from the defaults"}}
tasks:
  - id: alive
    type: io.kestra.plugin.core.templating.TemplatedTask
    spec: |
      type: {{{{ inputs.type }}}}
      format: It's alive!
  - id: defaulted
    type: io.kestra.plugin.core.templating.TemplatedTask
    spec: "type: io.kestra.plugin.core.log.Log"
"""


async def test_templated_task_runs_the_rendered_task(api: Api) -> None:
    """TemplatedTaskTest.templatedType: the spec's type comes from a template, the
    Return's output is the TemplatedTask's; shouldApplyDefaultWhenSpecOmitsProperty…:
    the flow's pluginDefaults reach the rendered task."""
    execution = await run(api, TEMPLATED)
    assert execution["state"]["current"] == "SUCCESS", execution
    assert runs_of(execution, "alive")[0]["outputs"] == {"value": "It's alive!"}
    logs = await api.json("GET", f"/api/v1/logs/{execution['id']}")
    assert "from the defaults" in [
        line["message"] for line in logs if line["taskId"] == "defaulted"
    ]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        # TemplatedTaskTest.templatedFlowable
        ("type: io.kestra.plugin.core.flow.Pause\ndelay: PT10S", "must be a runnable task"),
        # TemplatedTaskTest.templatedTemplated
        (
            "type: io.kestra.plugin.core.templating.TemplatedTask\nspec: whatever",
            "cannot be of type 'io.kestra.plugin.core.templating.TemplatedTask'",
        ),
        # shouldFailValidationWhenSpecOmitsRequiredProperty…
        ("type: io.kestra.plugin.core.debug.Return\nformt: x", "unknown property 'formt'"),
        ("type: io.kestra.plugin.core.log.Log\nmessage: hi\ntimeout: PT1S", "sets timeout"),
        ("- not a map", "a YAML map with a 'type'"),
    ],
)
async def test_templated_task_refuses_what_it_cannot_run(api: Api, spec: str, error: str) -> None:
    flow = f"""
id: templated-bad
namespace: {NS}
inputs:
  - {{id: spec, type: STRING}}
tasks:
  - {{id: bad, type: io.kestra.plugin.core.templating.TemplatedTask, spec: "{{{{ inputs.spec }}}}"}}
"""
    execution = await run(api, flow, spec=spec)
    assert execution["state"]["current"] == "FAILED"
    assert error in runs_of(execution, "bad")[0]["error"]


async def test_flow_template_is_refused_at_load(api: Api) -> None:
    """flow.Template is deprecated and disabled in Kestra (Template.java): refused when
    the flow is saved, with Subflow as the way out."""
    flow = f"""
id: with-template
namespace: {NS}
tasks:
  - id: reuse
    type: io.kestra.plugin.core.flow.Template
    namespace: {NS}
    templateId: shared
"""
    async with api.http.post(
        api.url("/api/v1/flows"), data=flow, headers={"Content-Type": "application/x-yaml"}
    ) as got:
        text = await got.text()
        assert got.status == 422, text
    assert "io.kestra.plugin.core.flow.Subflow" in text and "tasks[0].type" in text
