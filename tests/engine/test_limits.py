"""What travels on the bus stays below `max_record_bytes`: outputs above it fail their
task run with a clear error, request inputs above it are refused at the door, and log
lines are cut at 64 KiB — never a record the broker would refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.errors import InputError
from tests.conftest import Harness, running_podium

LIMIT = 70_000

BIG_OUTPUT = """
id: big
namespace: limits
tasks:
  - id: huge
    type: io.kestra.plugin.core.debug.Return
    format: "{{ range(0, 20000) | join(',') }}"
  - {id: never, type: io.kestra.plugin.core.log.Log, message: unreachable}
"""

BIG_FLOW_OUTPUT = """
id: bigflow
namespace: limits
tasks:
  - {id: small, type: io.kestra.plugin.core.debug.Return, format: "x"}
outputs:
  - id: out
    type: STRING
    value: "{{ range(0, 20000) | join(',') }}"
"""

LONG_LOG = """
id: longlog
namespace: limits
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ range(0, 20000) | join('-') }}"
"""

INPUT = """
id: takes
namespace: limits
inputs:
  - {id: text, type: STRING}
tasks:
  - {id: say, type: io.kestra.plugin.core.log.Log, message: "{{ inputs.text | length }}"}
"""


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_podium(tmp_path / "data", max_record_bytes=LIMIT) as podium:
        yield Harness(podium, None)


async def test_outputs_above_the_limit_fail_the_task_run_clearly(small: Harness) -> None:
    outcome = await small.run(BIG_OUTPUT)
    assert outcome.state == "FAILED"
    run = outcome.run("huge")
    assert run.state.value == "FAILED" and run.outputs == {}
    assert "above the limit of 70,000" in (run.error or "")
    assert "kestra:///" in (run.error or "")
    assert outcome.runs("never") == []


async def test_flow_outputs_above_the_limit_fail_the_execution(small: Harness) -> None:
    outcome = await small.run(BIG_FLOW_OUTPUT)
    assert outcome.state == "FAILED"
    assert outcome.execution.outputs == {}
    assert "the flow's outputs are" in (outcome.execution.error or "")


async def test_long_log_lines_are_cut(small: Harness) -> None:
    outcome = await small.run(LONG_LOG)
    assert outcome.state == "SUCCESS"
    [line] = [m for m in outcome.messages("say") if m.startswith("0-1-2")]
    assert len(line) < LIMIT // 4 + 100 and line.endswith("more characters cut]")


async def test_inputs_above_the_limit_are_refused_before_anything_runs(small: Harness) -> None:
    flow = await small.deploy(INPUT)
    with pytest.raises(InputError, match="above the limit"):
        await small.podium.intake.execute(flow.namespace, flow.id, inputs={"text": "x" * LIMIT})
    assert await small.podium.store.list_executions() == []
    ok = await small.podium.intake.execute(flow.namespace, flow.id, inputs={"text": "x" * 1000})
    assert (await small.wait(ok.execution_id)).state == "SUCCESS"
