"""Flow `sla` as Kestra 1.x enforces it (SLATestCase, flows/valids/sla-*.yaml, the docs'
"Workflow SLAs"): MAX_DURATION ends a run that lasts too long, EXECUTION_ASSERTION one
whose assertion is false, the SLA's labels are added; an executor restart re-arms the
timers from the store. Through the HTTP API of an embedded Podium with a fake clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.catalog import default_registries
from engine.clock import FakeClock
from engine.errors import FlowDefinitionError
from engine.flow import load_flow
from tests.conformance.fake_time_api import START, clocked_api

pytestmark = pytest.mark.e2e

MAX_DURATION = """
id: sla-max-duration
namespace: conformance
inputs:
  - {id: sleep, type: DURATION, defaults: PT1H}
sla:
  - id: maxDuration
    type: MAX_DURATION
    behavior: FAIL
    duration: PT10M
    labels: {sla: miss, reason: durationExceeded}
tasks:
  - {id: sleep, type: io.kestra.plugin.core.flow.Sleep, duration: "{{ inputs.sleep }}"}
  - {id: never, type: io.kestra.plugin.core.log.Log, message: never}
"""

CANCEL_AFTER = """
id: sla-cancel
namespace: conformance
sla:
  - {id: short, type: MAX_DURATION, behavior: CANCEL, duration: PT1M}
  - {id: note, type: MAX_DURATION, behavior: NONE, duration: PT30S, labels: {slow: "true"}}
tasks:
  - {id: sleep, type: io.kestra.plugin.core.flow.Sleep, duration: PT1H}
"""

# flows/valids/sla-execution-condition.yaml
CONDITION = """
id: sla-execution-condition
namespace: conformance
inputs:
  - id: string
    type: SELECT
    values: [PASS, CANCEL, LABEL]
    defaults: PASS
sla:
  - id: condition
    type: EXECUTION_ASSERTION
    behavior: CANCEL
    assert: "{{inputs.string != 'CANCEL'}}"
  - id: condition
    type: EXECUTION_ASSERTION
    behavior: NONE
    assert: "{{inputs.string != 'LABEL'}}"
    labels:
      sla: violated
tasks:
  - id: return
    type: io.kestra.plugin.core.debug.Return
    format: "true"
"""

# the docs' example: the assertion reads what the tasks produced
OUTPUT = """
id: sla-output
namespace: conformance
inputs:
  - {id: say, type: STRING, defaults: expected output}
sla:
  - id: assert_output
    type: EXECUTION_ASSERTION
    assert: "{{ outputs.mytask.value == 'expected output' }}"
    behavior: FAIL
    labels: {sla: miss, reason: outputMismatch}
tasks:
  - {id: mytask, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.say }}"}
"""


def labels_of(execution: dict) -> dict[str, str]:
    return {label["key"]: label["value"] for label in execution["labels"]}


async def test_max_duration_fails_cancels_or_labels_a_run_that_lasts_too_long(
    tmp_path: Path,
) -> None:
    clock = FakeClock(START)
    async with clocked_api(tmp_path / "data", clock) as api:
        for flow in (MAX_DURATION, CANCEL_AFTER, OUTPUT):
            await api.deploy(flow)
        # short enough: the SLA never fires (sla-max-duration-ok)
        quick = await api.start("conformance", "sla-max-duration", sleep="PT5M")
        await api.until(quick["id"], "RUNNING")
        while (await api.podium.store.get_execution(quick["id"])).state.value == "RUNNING":
            await clock.advance(60)
            await api.podium.projector.caught_up()
        done = await api.until(quick["id"])
        assert done["state"]["current"] == "SUCCESS" and "sla" not in labels_of(done)

        # too long: FAILED at the deadline, the running task KILLED, the next never run
        slow = await api.start("conformance", "sla-max-duration")
        await api.until(slow["id"], "RUNNING")
        await clock.advance(599)
        await api.podium.projector.caught_up()
        assert (await api.podium.store.get_execution(slow["id"])).state.value == "RUNNING"
        await clock.advance(2)
        failed = await api.until(slow["id"])
        assert failed["state"]["current"] == "FAILED"
        assert labels_of(failed)["sla"] == "miss"
        assert labels_of(failed)["reason"] == "durationExceeded"
        runs = {run["taskId"]: run["state"]["current"] for run in failed["taskRunList"]}
        assert runs == {"sleep": "KILLED"}
        logs = await api.logs(slow["id"])
        assert any(
            level == "WARN"
            and message.startswith("SLA 'maxDuration' violated: execution duration of PT10M")
            and message.endswith("exceed the maximum duration of PT10M.")
            for level, message in logs
        ), logs
        assert any(
            level == "ERROR" and message.startswith("Execution failed due to SLA 'maxDuration'")
            for level, message in logs
        )

        # NONE only labels (at 30s), CANCEL ends it CANCELLED (at 1 min)
        cancelled = await api.start("conformance", "sla-cancel")
        await api.until(cancelled["id"], "RUNNING")
        await clock.advance(31)
        await api.podium.projector.caught_up()
        noted = await api.json("GET", f"/api/v1/executions/{cancelled['id']}")
        assert noted["state"]["current"] == "RUNNING" and labels_of(noted)["slow"] == "true"
        await clock.advance(30)
        ended = await api.until(cancelled["id"])
        assert ended["state"]["current"] == "CANCELLED"
        assert labels_of(ended)["slow"] == "true"


async def test_execution_assertion_as_kestra_sla_execution_condition(tmp_path: Path) -> None:
    async with clocked_api(tmp_path / "data", FakeClock(START)) as api:
        await api.deploy(CONDITION)
        await api.deploy(OUTPUT)
        passed = await api.run("conformance", "sla-execution-condition")
        assert passed["state"]["current"] == "SUCCESS"
        assert "sla" not in labels_of(passed)

        cancelled = await api.run("conformance", "sla-execution-condition", string="CANCEL")
        assert cancelled["state"]["current"] == "CANCELLED"
        assert cancelled["taskRunList"] == []  # violated from the start: nothing ran

        labelled = await api.run("conformance", "sla-execution-condition", string="LABEL")
        assert labelled["state"]["current"] == "SUCCESS"
        assert labels_of(labelled)["sla"] == "violated"
        logs = await api.logs(labelled["id"])
        assert (
            "WARN",
            "SLA 'condition' violated: assertion is false: {{inputs.string != 'LABEL'}}.",
        ) in logs

        # checked once the tasks are done: their outputs decide
        good = await api.run("conformance", "sla-output")
        assert good["state"]["current"] == "SUCCESS" and "sla" not in labels_of(good)
        # at the start `outputs.mytask` does not exist yet: no error about it
        assert [m for level, m in await api.logs(good["id"]) if level == "ERROR"] == []
        bad = await api.run("conformance", "sla-output", say="something else")
        assert bad["state"]["current"] == "FAILED"
        assert labels_of(bad)["reason"] == "outputMismatch"
        assert [r["state"]["current"] for r in bad["taskRunList"]] == ["SUCCESS"]


async def test_max_duration_survives_an_executor_restart(tmp_path: Path) -> None:
    """The deadline comes from the execution's creation date in the store: the executor
    that resumes the run after a restart fails it as soon as it is past."""
    data = tmp_path / "data"
    async with clocked_api(data, FakeClock(START)) as api:
        await api.deploy(MAX_DURATION)
        running = await api.start("conformance", "sla-max-duration")
        await api.until(running["id"], "RUNNING")
    later = FakeClock(START + timedelta(minutes=20))
    async with clocked_api(data, later) as api:
        failed = await api.until(running["id"])
        assert failed["state"]["current"] == "FAILED"
        assert labels_of(failed)["sla"] == "miss"
        logs = await api.logs(running["id"])
        assert any("exceed the maximum duration of PT10M." in m for _, m in logs)


def test_an_sla_of_the_wrong_shape_is_refused_with_its_place() -> None:
    """Each type takes its own property; labels may not be system labels (as a flow's)."""
    source = """id: bad
namespace: conformance
sla:
  - {id: a, type: EXECUTION_ASSERTION, behavior: NONE, assert: "{{ true }}", labels: {system.x: y}}
  - {id: b, type: MAX_DURATION, behavior: FAIL}
  - {id: c, type: MAX_DURATION, behavior: STOP, duration: PT1M}
tasks:
  - {id: t, type: io.kestra.plugin.core.log.Log, message: t}
"""
    with pytest.raises(FlowDefinitionError) as refused:
        load_flow(source, default_registries())
    found = {(p.path, p.line) for p in refused.value.problems}
    assert ("sla[0].labels", 4) in found
    assert ("sla[1]", 5) in found  # missing duration
    assert ("sla[2].behavior", 6) in found
