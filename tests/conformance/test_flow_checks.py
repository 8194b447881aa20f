"""Flow `checks` as Kestra 1.x evaluates them before creating an execution (the docs'
"Checks", ExecutionController and FlowService.getFailedChecks): BLOCK_EXECUTION refuses
the request with 422, FAIL_EXECUTION creates a FAILED execution, CREATE_EXECUTION runs;
the strictest behaviour of the failed checks wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.clock import FakeClock
from tests.conformance.fake_time_api import START, clocked_api

pytestmark = pytest.mark.e2e

CHECKED = """
id: checked
namespace: conformance
inputs:
  - {id: name, type: STRING}
  - {id: mode, type: STRING, defaults: ok}
  - {id: warn, type: STRING, defaults: "no"}
checks:
  - message: "Sorry, this flow can only be executed with 'Kestra'"
    condition: "{{ (inputs.name | upper) == 'KESTRA' }}"
    style: ERROR
    behavior: BLOCK_EXECUTION
  - message: the mode is not ok
    condition: "{{ inputs.mode == 'ok' }}"
    behavior: FAIL_EXECUTION
  - message: just so you know
    condition: "{{ inputs.warn == 'no' }}"
    style: WARNING
    behavior: CREATE_EXECUTION
  - message: a broken check counts as failed
    condition: "{{ inputs.mode != 'broken' or undefined_thing.x }}"
    behavior: FAIL_EXECUTION
tasks:
  - {id: hello, type: io.kestra.plugin.core.debug.Return, format: "hello {{ inputs.name }}"}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: checked-key,
     inputs: {name: "{{ trigger.parameters.name[0] }}"}}
"""

BLOCKED = (
    "Illegal argument: Flow execution blocked: one or more condition checks evaluated to "
    "false.\nFailed checks: "
)


async def test_checks_block_fail_or_let_the_execution_run(tmp_path: Path) -> None:
    async with clocked_api(tmp_path / "data", FakeClock(START)) as api:
        await api.deploy(CHECKED)
        passed = await api.run("conformance", "checked", name="kestra")
        assert passed["state"]["current"] == "SUCCESS"

        # BLOCK_EXECUTION: refused, nothing created (also when a FAIL check failed too)
        refused = await api.start("conformance", "checked", status=422, name="airflow")
        assert refused["message"] == BLOCKED + "Sorry, this flow can only be executed with 'Kestra'"
        both = await api.start("conformance", "checked", status=422, name="x", mode="bad")
        assert both["message"] == (
            BLOCKED + "Sorry, this flow can only be executed with 'Kestra', the mode is not ok"
        )

        # FAIL_EXECUTION: created FAILED, no task run, the reason in its logs
        failed = await api.run("conformance", "checked", name="kestra", mode="bad")
        assert failed["state"]["current"] == "FAILED"
        assert failed["taskRunList"] == []
        assert failed["inputs"] == {"name": "kestra", "mode": "bad", "warn": "no"}
        logs = await api.logs(failed["id"])
        assert (
            "WARN",
            "Flow execution failed because one or more condition checks evaluated to false.",
        ) in logs

        # a condition that cannot be rendered is a failed check (here FAIL_EXECUTION)
        broken = await api.run("conformance", "checked", name="kestra", mode="broken")
        assert broken["state"]["current"] == "FAILED"

        # CREATE_EXECUTION: runs all the same
        noted = await api.run("conformance", "checked", name="kestra", warn="yes")
        assert noted["state"]["current"] == "SUCCESS"

        # a webhook's caller is answered the same way
        hook = "/api/v1/executions/webhook/conformance/checked/checked-key"
        refused = await api.json("POST", hook + "?name=airflow", status=422)
        assert refused["message"] == BLOCKED + "Sorry, this flow can only be executed with 'Kestra'"
        hooked = await api.json("POST", hook + "?name=kestra")
        assert (await api.until(hooked["id"]))["state"]["current"] == "SUCCESS"

        executions = await api.executions("conformance", "checked")
        assert sorted(e["state"]["current"] for e in executions) == [
            "FAILED", "FAILED", "SUCCESS", "SUCCESS", "SUCCESS",
        ]  # fmt: skip


async def test_a_check_cannot_run_code_or_leak_a_secret_in_its_message(tmp_path: Path) -> None:
    """A check's message is shown as written, never rendered: a template in it stays text;
    a condition runs in the sandbox like any template."""
    source = """
id: sly
namespace: conformance
checks:
  - message: "{{ envs }} {{ secret('X') }}"
    condition: "{{ ''.__class__.__mro__ }}"
tasks:
  - {id: hello, type: io.kestra.plugin.core.log.Log, message: hi}
"""
    async with clocked_api(tmp_path / "data", FakeClock(START)) as api:
        await api.deploy(source)
        refused = await api.start("conformance", "sly", status=422)
        assert refused["message"] == BLOCKED + "{{ envs }} {{ secret('X') }}"
        assert await api.executions("conformance", "sly") == []
