"""The Process runner: the process group ends with the task, output stays bounded."""

from __future__ import annotations

import asyncio
import re

from tests.conftest import Harness
from tests.tasks.scripts.conftest import group_members, is_alive, wait_for_log

PROCESS = "taskRunner: {type: io.kestra.plugin.core.runner.Process}"

SPAWNER = f"""id: f
namespace: tests.scripts
tasks:
  - id: spawn
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    TIMEOUT
    commands:
      - sleep 1000 &
      - echo "group $$ child $!"
      - wait
"""


def _pids(message: str) -> tuple[int, int]:
    match = re.fullmatch(r"group (\d+) child (\d+)", message)
    assert match, message
    return int(match.group(1)), int(match.group(2))


async def _assert_group_gone(pgid: int, child: int) -> None:
    for _ in range(100):  # the kernel reaps asynchronously; give it a moment
        if not group_members(pgid) and not is_alive(child):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still running in group {pgid}: {group_members(pgid)}")


async def test_kill_ends_the_whole_process_group(real_time_harness: Harness) -> None:
    harness = real_time_harness
    execution_id = await harness.start(SPAWNER.replace("TIMEOUT", ""))
    line = await wait_for_log(harness, execution_id, "group ")
    pgid, child = _pids(line.message)
    assert child in group_members(pgid)
    await harness.podium.intake.kill(execution_id, "tests.scripts", "f")
    outcome = await harness.wait(execution_id)
    assert outcome.state == "KILLED"
    assert outcome.run("spawn").state.value == "KILLED"
    await _assert_group_gone(pgid, child)


async def test_timeout_ends_the_whole_process_group(real_time_harness: Harness) -> None:
    outcome = await real_time_harness.run(SPAWNER.replace("TIMEOUT", "timeout: PT1S"))
    assert outcome.state == "FAILED"
    assert "timed out" in (outcome.run("spawn").error or "")
    [line] = [m for m in outcome.messages("spawn") if m.startswith("group ")]
    await _assert_group_gone(*_pids(line))


async def test_a_background_child_does_not_outlive_a_finished_script(
    real_time_harness: Harness,
) -> None:
    source = f"""id: f
namespace: tests.scripts
tasks:
  - id: leave
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    commands: ["sleep 1000 &", "echo \\"group $$ child $!\\""]
"""
    started = asyncio.get_running_loop().time()
    outcome = await real_time_harness.run(source)
    assert outcome.state == "SUCCESS"
    assert asyncio.get_running_loop().time() - started < 10
    await _assert_group_gone(*_pids(outcome.messages("leave")[0]))


async def test_a_secret_written_in_two_flushes_is_masked(harness: Harness) -> None:
    source = f"""id: f
namespace: tests.scripts
tasks:
  - id: leak
    type: io.kestra.plugin.scripts.python.Script
    {PROCESS}
    env: {{TOKEN: "{{{{ secret('API_KEY') }}}}"}}
    script: |
      import os, sys, time
      token = os.environ["TOKEN"]
      sys.stdout.write("token=" + token[:5]); sys.stdout.flush()
      time.sleep(0.3)
      sys.stdout.write(token[5:] + " end\\n"); sys.stdout.flush()
      print("err " + token, file=sys.stderr)
      print('::{{"outputs": {{"token": "%s"}}}}::' % token)
"""
    outcome = await harness.run(source)
    assert outcome.state == "SUCCESS", outcome.task_runs
    messages = outcome.messages("leak")
    assert messages == ["token=****** end", "err ******"]
    assert outcome.run("leak").outputs["vars"] == {"token": "******"}
    assert all("secret-value" not in m for m in outcome.messages())


async def test_output_lines_are_bounded(real_time_harness: Harness) -> None:
    source = f"""id: f
namespace: tests.scripts
tasks:
  - id: long
    type: io.kestra.plugin.scripts.python.Script
    {PROCESS}
    script: |
      import sys
      sys.stdout.write("x" * (5 * 1024 * 1024 // 2))
      sys.stdout.write("\\nshort\\n")
"""
    outcome = await real_time_harness.run(source)
    assert outcome.state == "SUCCESS"
    sizes = [len(m) for m in outcome.messages("long")]
    assert sizes == [1 << 20, 1 << 20, (5 << 20) // 2 - (2 << 20), 5]
