"""Kestra conformance of the walk: attempts, retries, ForEach values, system labels.

Each test runs one flow through the HTTP API and asserts what Kestra's own test asserts
(its name is in the docstring; the flows are written for Podium after Kestra's
core/src/test/resources/flows/valids).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.walk_support import (
    Api,
    executions_of,
    labels,
    module_api,
    poll,
    run,
    runs_of,
    wait_for,
    wait_state,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
api = module_api  # the module's one Podium

NS = "conformance.walk"

RETRY_SUCCESS = f"""
id: retry-success
namespace: {NS}
tasks:
  - id: failed
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{{{ taskrun.attemptsCount < 3 }}}}"
    retry: {{type: constant, interval: PT0.05S, maxAttempt: 4, maxDuration: PT15S,
             warningOnRetry: true}}
errors:
  - {{id: never-happen, type: io.kestra.plugin.core.log.Log, message: "Never {{{{ task.id }}}}"}}
"""


async def test_attempts_count_from_zero_and_retry_success(api: Api) -> None:
    """RetryCaseTest.retrySuccess (flow retry-success): the fourth attempt sees
    `taskrun.attemptsCount == 3` and succeeds; 4 attempts, one task run, WARNING."""
    execution = await run(api, RETRY_SUCCESS)
    assert execution["state"]["current"] == "WARNING"
    assert len(execution["taskRunList"]) == 1
    (failed,) = runs_of(execution, "failed")
    assert len(failed["attempts"]) == 4
    assert [a["state"]["current"] for a in failed["attempts"][:3]] == ["FAILED"] * 3


RESTART_LAST_FAILED = f"""
id: restart-last-failed
namespace: {NS}
tasks:
  - {{id: a, type: io.kestra.plugin.core.log.Log, message: "{{{{ task.id }}}}"}}
  - {{id: b, type: io.kestra.plugin.core.log.Log, message: "{{{{ task.id }}}}"}}
  - id: c
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{{{ taskrun.attemptsCount != 1 }}}}"
  - {{id: d, type: io.kestra.plugin.core.log.Log, message: "{{{{ task.id }}}}"}}
"""


async def test_restart_makes_a_second_attempt(api: Api) -> None:
    """RestartCaseTest.restartFailedThenSuccess (flow restart_last_failed): FAILED with 3
    task runs; a restart keeps the id, runs `c` again as its second attempt
    (attemptsCount 1) and ends SUCCESS with 4 task runs, labelled system.restarted."""
    first = await run(api, RESTART_LAST_FAILED)
    assert first["state"]["current"] == "FAILED"
    assert len(first["taskRunList"]) == 3
    assert runs_of(first, "c")[0]["state"]["current"] == "FAILED"
    await api.json("POST", f"/api/v1/executions/{first['id']}/restart")
    done = await wait_for(
        api,
        first["id"],
        lambda e: e["state"]["current"] == "SUCCESS" and len(e["taskRunList"]) == 4,
        what="SUCCESS after the restart",
    )
    assert done["parentId"] is None
    assert all(r["state"]["current"] == "SUCCESS" for r in done["taskRunList"])
    assert len(runs_of(done, "c")[0]["attempts"]) == 2
    assert labels(done)["system.restarted"] == "true"


def _new_execution_retry(flow_id: str, *, on_task: bool) -> str:
    policy = "{type: constant, maxAttempt: 3, interval: PT0.05S, behavior: CREATE_NEW_EXECUTION}"
    if on_task:
        return f"""
id: {flow_id}
namespace: {NS}
tasks:
  - id: fail
    type: io.kestra.plugin.core.execution.Fail
    retry: {policy}
"""
    return f"""
id: {flow_id}
namespace: {NS}
retry: {policy}
tasks:
  - {{id: fail, type: io.kestra.plugin.core.execution.Fail}}
"""


@pytest.mark.parametrize("on_task", [False, True], ids=["flow-retry", "task-retry"])
async def test_retry_as_new_execution_marks_the_earlier_ones_retried(
    api: Api, on_task: bool
) -> None:
    """RetryCaseTest.retryNewExecutionFlowAttempts and retryNewExecutionTaskAttempts
    (flows retry-new-execution-flow-attempts, retry-new-execution-task-attempts): three
    executions end RETRIED, RETRIED, FAILED, all under the first one's correlation id."""
    flow_id = "retry-new-task" if on_task else "retry-new-flow"
    first = await run(api, _new_execution_retry(flow_id, on_task=on_task))
    assert first["state"]["current"] == "RETRIED"
    assert len(runs_of(first, "fail")[0]["attempts"]) == 1  # not retried in place

    async def all_three() -> list[dict[str, Any]] | None:
        found = await executions_of(api, NS, flow_id)
        ended = [e for e in found if e["state"]["current"] in ("FAILED", "RETRIED")]
        return found if len(ended) == 3 else None

    found = await poll(all_three, what="three attempts")
    assert sorted(e["state"]["current"] for e in found) == ["FAILED", "RETRIED", "RETRIED"]
    assert {labels(e)["system.correlationId"] for e in found} == {first["id"]}


FOR_EACH_NULL = f"""
id: foreach-null
namespace: {NS}
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", null, "b"]
    tasks:
      - {{id: show, type: io.kestra.plugin.core.debug.Return, format: "{{{{ taskrun.value }}}}"}}
"""


async def test_for_each_over_a_null_fails(api: Api) -> None:
    """ForEach values holding null: Kestra fails the ForEach (FlowableUtils cannot turn a
    null into a `taskrun.value`); no child runs."""
    execution = await run(api, FOR_EACH_NULL)
    assert execution["state"]["current"] == "FAILED"
    (each,) = runs_of(execution, "each")
    assert "null" in (each["error"] or "")
    assert runs_of(execution, "show") == []


FOR_EACH_VALUES = f"""
id: foreach-values
namespace: {NS}
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["x", "y"]
    tasks:
      - {{id: direct, type: io.kestra.plugin.core.debug.Return, format: "{{{{ taskrun.value }}}}"}}
      - id: group
        type: io.kestra.plugin.core.flow.Sequential
        tasks:
          - id: nested
            type: io.kestra.plugin.core.debug.Return
            format: "{{{{ taskrun.value ?? 'none' }}}}-{{{{ parent.taskrun.value }}}}"
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ outputs.direct.x.value }}}} {{{{ outputs.nested.y.value }}}}"
"""


async def test_taskrun_value_only_on_direct_children(api: Api) -> None:
    """ForEach (Kestra's FlowableUtils.resolveEachTasks gives the value to the direct
    children only): a nested run has no `taskrun.value` and reads its parent's; outputs
    stay keyed by the loop value."""
    execution = await run(api, FOR_EACH_VALUES)
    assert execution["state"]["current"] == "SUCCESS"
    assert sorted(r["value"] for r in runs_of(execution, "direct")) == ["x", "y"]
    assert sorted(r["value"] for r in runs_of(execution, "group")) == ["x", "y"]
    nested = runs_of(execution, "nested")
    assert [r["value"] for r in nested] == [None, None]
    assert sorted(r["outputs"]["value"] for r in nested) == ["none-x", "none-y"]
    assert runs_of(execution, "after")[0]["outputs"]["value"] == "x none-y"


PARENT = f"""
id: subflow-parent
namespace: {NS}
tasks:
  - {{id: subflow, type: io.kestra.plugin.core.flow.Subflow, namespace: {NS}, flowId: subflow-child}}
"""
CHILD = f"""
id: subflow-child
namespace: {NS}
tasks:
  - id: subflow
    type: io.kestra.plugin.core.flow.Subflow
    namespace: {NS}
    flowId: subflow-grand-child
"""
GRAND_CHILD = f"""
id: subflow-grand-child
namespace: {NS}
tasks:
  - id: firstLevel
    type: io.kestra.plugin.core.debug.Return
    format: "My grandparent is {{{{ labels.system.correlationId }}}}"
"""


async def test_correlation_id_is_the_roots(api: Api) -> None:
    """CorrelationIdTest.shouldHaveCorrelationId (flows subflow-parent, subflow-child,
    subflow-grand-child): child and grandchild carry the parent's id as
    system.correlationId, and templates read it as `labels.system.correlationId`."""
    await api.deploy(GRAND_CHILD)
    await api.deploy(CHILD)
    parent = await run(api, PARENT)
    assert parent["state"]["current"] == "SUCCESS"
    assert labels(parent)["system.correlationId"] == parent["id"]
    child_id = runs_of(parent, "subflow")[0]["outputs"]["executionId"]
    child = await wait_state(api, child_id, "SUCCESS")
    assert labels(child)["system.correlationId"] == parent["id"]
    grand_id = runs_of(child, "subflow")[0]["outputs"]["executionId"]
    grand = await wait_state(api, grand_id, "SUCCESS")
    assert labels(grand)["system.correlationId"] == parent["id"]
    said = runs_of(grand, "firstLevel")[0]["outputs"]["value"]
    assert said == f"My grandparent is {parent['id']}"


SYSTEM_LABEL = f"""
id: system-label
namespace: {NS}
labels:
  team: data
  system.correlationId: mine
tasks:
  - {{id: a, type: io.kestra.plugin.core.log.Log, message: hi}}
"""


async def test_a_flow_may_not_set_system_labels(api: Api) -> None:
    """Kestra refuses `system.*` labels in a flow (FlowValidation: system labels are the
    engine's); the refusal names the line, column and path."""
    async with api.http.post(
        api.url("/api/v1/flows"),
        data=SYSTEM_LABEL,
        headers={"Content-Type": "application/x-yaml"},
    ) as got:
        assert got.status == 422
        body = await got.json()
    (problem,) = body["problems"]
    assert problem["path"].startswith("labels")
    assert problem["line"] == 4 and problem["column"] is not None
    assert "system.correlationId" in problem["message"]


async def test_every_execution_carries_its_correlation_id(api: Api) -> None:
    """RuntimeLabelsTest (Kestra 1.x): an execution started by the API is labelled
    system.correlationId with its own id."""
    await api.deploy(f"""
id: plain
namespace: {NS}
tasks:
  - {{id: a, type: io.kestra.plugin.core.log.Log, message: hi}}
""")
    started = await api.json("POST", f"/api/v1/executions/{NS}/plain")
    done = await wait_state(api, started["id"], "SUCCESS")
    assert labels(done)["system.correlationId"] == done["id"]
