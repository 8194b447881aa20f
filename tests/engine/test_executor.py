"""The walk end to end on the embedded runtime: states, retries, branches, concurrency.

Each test deploys a flow, runs it through the whole pipeline (intake → bus → executor →
events → projector → SQLite) and checks what the store holds. Time is a fake clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.errors import InputError
from engine.states import State
from tests.conftest import Harness, course_flow, running_podium

HEADER = "id: f\nnamespace: tests\n"


async def test_hello_world_runs_unchanged(harness: Harness) -> None:
    source = course_flow("01_hello_world.yaml").read_text()
    outcome = await harness.run(source)
    assert outcome.state == "SUCCESS"
    assert [r.task_id for r in outcome.task_runs] == [
        "hello_message",
        "generate_output",
        "sleep",
        "log_output",
        "goodbye_message",
    ]
    assert all(r.state is State.SUCCESS for r in outcome.task_runs)
    assert outcome.run("generate_output").outputs == {
        "value": "I was generated during this workflow."
    }
    logs = {(line.task_id, line.level, line.message) for line in outcome.logs}
    assert ("hello_message", "ERROR", "Hello, Will!") in logs  # pluginDefaults level ERROR
    assert (
        "log_output",
        "ERROR",
        "This is an output: I was generated during this workflow.",
    ) in logs
    assert ("goodbye_message", "ERROR", "Goodbye, Will!") in logs


async def test_hello_world_with_an_input(harness: Harness) -> None:
    outcome = await harness.run(course_flow("01_hello_world.yaml").read_text(), {"name": "Sarah"})
    assert "Hello, Sarah!" in outcome.messages("hello_message")
    assert outcome.execution.inputs == {"name": "Sarah"}


async def test_concurrency_fail_refuses_a_third_simultaneous_execution(harness: Harness) -> None:
    source = course_flow("01_hello_world.yaml").read_text()
    first = await harness.start(source)
    second = await harness.start(source)
    third = await harness.start(source)
    refused = await harness.wait(third)
    assert refused.state == "FAILED"
    assert "concurrency limit" in (refused.execution.error or "")
    assert refused.task_runs == []
    assert (await harness.wait(first)).state == "SUCCESS"
    assert (await harness.wait(second)).state == "SUCCESS"


SLOW = (
    HEADER
    + """
concurrency: {limit: 1, behavior: %s}
tasks:
  - {id: wait, type: io.kestra.plugin.core.flow.Pause}
"""
)


async def test_concurrency_queue_runs_in_fifo_order(harness: Harness) -> None:
    source = SLOW % "QUEUE"
    ids = [await harness.start(source) for _ in range(3)]
    await harness.wait(ids[0], states=("PAUSED",))
    second = await harness.wait(ids[1], states=("QUEUED",))
    assert second.task_runs == []
    for execution_id in ids:
        await harness.wait(execution_id, states=("PAUSED",))
        await harness.podium.intake.resume(execution_id, "tests", "f")
        assert (await harness.wait(execution_id)).state == "SUCCESS"
    ends = [(await harness.outcome(i)).execution for i in ids]
    starts = [e.started_at for e in ends]
    assert starts == sorted(starts)  # type: ignore[type-var]


async def test_concurrency_cancel(harness: Harness) -> None:
    source = SLOW % "CANCEL"
    first = await harness.start(source)
    await harness.wait(first, states=("PAUSED",))
    second = await harness.wait(await harness.start(source))
    assert second.state == "CANCELLED"
    await harness.podium.intake.kill(first, "tests", "f")
    assert (await harness.wait(first)).state == "KILLED"


async def test_invalid_inputs_create_no_execution(harness: Harness) -> None:
    flow = (
        HEADER
        + """
inputs:
  - {id: year, type: INT, min: 2019}
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: "{{ inputs.year }}"}
"""
    )
    await harness.deploy(flow)
    with pytest.raises(InputError) as caught:
        await harness.podium.intake.execute("tests", "f", inputs={"year": "2000"})
    assert "year" in caught.value.errors
    assert await harness.podium.store.list_executions() == []


async def test_retry_then_success_keeps_every_attempt(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ taskrun.attemptsCount < 2 }}"
    retry: {type: constant, interval: PT10S, maxAttempts: 5}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS"
    assert outcome.run("flaky").attempt == 3
    assert sum("retrying in 10s" in m for m in outcome.messages("flaky")) == 2


async def test_retry_gives_up_after_max_attempts_and_warning_on_retry(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: always
    type: io.kestra.plugin.core.execution.Fail
    retry: {type: exponential, interval: PT1S, maxAttempts: 3, maxInterval: PT3S}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    assert outcome.run("always").attempt == 3
    flow = (
        HEADER
        + """
retry: {type: constant, interval: PT1S, maxAttempts: 2, warningOnRetry: true}
tasks:
  - id: once
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ taskrun.attemptsCount == 0 }}"
"""
    )
    outcome = await harness.run(flow.replace("id: f\n", "id: g\n"))
    assert outcome.state == "WARNING"  # flow-level retry, then warningOnRetry


async def test_timeout_fails_the_attempt(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - {id: slow, type: io.kestra.plugin.core.flow.Pause, timeout: PT0.05S}
"""
    )
    outcome = await harness.wait(await harness.start(flow), timeout=10)
    assert outcome.state == "FAILED"
    assert "timed out" in (outcome.run("slow").error or "")


async def test_errors_and_finally_branches(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - {id: boom, type: io.kestra.plugin.core.execution.Fail, errorMessage: "bad {{ flow.id }}"}
  - {id: never, type: io.kestra.plugin.core.log.Log, message: no}
errors:
  - {id: on_error, type: io.kestra.plugin.core.log.Log, message: "handled"}
finally:
  - {id: cleanup, type: io.kestra.plugin.core.log.Log, message: "cleaned"}
afterExecution:
  - {id: after, type: io.kestra.plugin.core.log.Log, message: "state {{ execution.state }}"}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    assert outcome.run("boom").error == "bad f"
    assert not outcome.runs("never")
    assert outcome.messages("on_error") == ["handled"]
    assert outcome.messages("cleanup") == ["cleaned"]
    assert outcome.messages("after") == ["state FAILED"]


async def test_allow_failure_allow_warning_run_if_and_disabled(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - {id: tolerated, type: io.kestra.plugin.core.execution.Fail, allowFailure: true}
  - {id: skipped, type: io.kestra.plugin.core.log.Log, message: x, runIf: "{{ 1 == 2 }}"}
  - {id: off, type: io.kestra.plugin.core.log.Log, message: x, disabled: true}
  - {id: last, type: io.kestra.plugin.core.log.Log, message: done}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "WARNING"
    assert outcome.run("tolerated").state is State.WARNING
    assert outcome.run("skipped").state is State.SKIPPED
    assert not outcome.runs("off")
    assert outcome.run("last").state is State.SUCCESS


async def test_kill_ends_running_tasks(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: par
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - {id: a, type: io.kestra.plugin.core.flow.Pause}
      - {id: b, type: io.kestra.plugin.core.flow.Pause}
  - {id: never, type: io.kestra.plugin.core.log.Log, message: no}
"""
    )
    execution_id = await harness.start(flow)
    await harness.wait(execution_id, states=("PAUSED",))
    await harness.podium.intake.kill(execution_id, "tests", "f")
    outcome = await harness.wait(execution_id)
    assert outcome.state == "KILLED"
    assert {r.task_id: r.state for r in outcome.task_runs} == {
        "par": State.KILLED,
        "a": State.KILLED,
        "b": State.KILLED,
    }


async def test_flow_outputs_and_secrets_are_masked(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - {id: r, type: io.kestra.plugin.core.debug.Return, format: "{{ envs.greeting }}"}
  - {id: s, type: io.kestra.plugin.core.log.Log, message: "key={{ secret('API_KEY') }}"}
outputs:
  - {id: greeting, type: STRING, value: "{{ outputs.r.value }}!"}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.execution.outputs == {"greeting": "hi!"}
    assert outcome.messages("s") == ["key=******"]


async def test_a_template_error_fails_the_task_and_names_the_variable(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: "{{ inputs.nope }}"}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    assert "nope" in (outcome.run("a").error or "")


async def test_restart_resumes_an_execution_without_rerunning_finished_tasks(
    tmp_path: Path,
) -> None:
    flow = (
        HEADER
        + """
tasks:
  - {id: first, type: io.kestra.plugin.core.debug.Return, format: "{{ execution.id }}"}
  - {id: wait, type: io.kestra.plugin.core.flow.Pause}
  - {id: last, type: io.kestra.plugin.core.log.Log, message: "first said {{ outputs.first.value }}"}
"""
    )
    data = tmp_path / "data"
    async with running_podium(data) as podium:
        harness = Harness(podium, None)
        execution_id = await harness.start(flow)
        before = await harness.wait(execution_id, states=("PAUSED",))
        first_end = before.run("first").ended_at
    async with running_podium(data) as podium:
        harness = Harness(podium, None)
        paused = await harness.wait(execution_id, states=("PAUSED",))
        assert paused.run("first").ended_at == first_end
        await podium.intake.resume(execution_id, "tests", "f")
        outcome = await harness.wait(execution_id)
    assert outcome.state == "SUCCESS"
    assert outcome.run("first").ended_at == first_end  # not run again
    assert outcome.messages("last") == [f"first said {execution_id}"]


async def test_a_request_for_an_unknown_flow_fails_visibly(harness: Harness) -> None:
    from engine.events import ExecutionRequested, encode

    request = ExecutionRequested(
        execution_id="x1",
        namespace="tests",
        flow_id="ghost",
        requested_at=harness.podium.clock.now(),
    )
    await harness.podium.bus.publish(harness.podium.topics.requests, request.key, encode(request))
    outcome = await harness.wait("x1")
    assert outcome.state == "FAILED" and "does not exist" in (outcome.execution.error or "")


async def test_the_same_execution_id_runs_once(harness: Harness) -> None:
    flow = HEADER + "tasks:\n  - {id: a, type: io.kestra.plugin.core.log.Log, message: once}\n"
    await harness.deploy(flow)
    for _ in range(3):
        await harness.podium.intake.execute("tests", "f", execution_id="same")
    outcome = await harness.wait("same")
    await asyncio.sleep(0.05)
    outcome = await harness.outcome("same")
    assert outcome.messages("a") == ["once"]


async def test_flow_retry_creates_new_executions(harness: Harness) -> None:
    flow = (
        HEADER
        + """
retry: {type: constant, interval: PT1M, maxAttempts: 3, behavior: CREATE_NEW_EXECUTION}
tasks:
  - {id: boom, type: io.kestra.plugin.core.execution.Fail, condition: "{{ labels['system.retryAttempt'] ?? '1' != '3' }}"}
"""
    )
    first = await harness.run(flow)
    assert first.state == "RETRIED"  # as Kestra: the earlier attempts end RETRIED
    assert first.run("boom").attempt == 1  # the task itself is not retried
    for _ in range(200):
        executions = await harness.podium.store.list_executions(flow_id="f")
        if len(executions) == 3 and all(e.state.is_terminal for e in executions):
            break
        if harness.clock and harness.clock.sleepers:
            await harness.clock.advance(120)
        await asyncio.sleep(0.01)
    by_attempt = {e.labels.get("system.retryAttempt", "1"): e for e in executions}
    assert sorted(by_attempt) == ["1", "2", "3"]
    assert by_attempt["3"].state is State.SUCCESS
    assert by_attempt["2"].state is State.RETRIED
    assert by_attempt["2"].labels["system.retryOf"] == first.execution.execution_id


async def test_typed_flow_outputs_and_masked_secrets(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - {id: r, type: io.kestra.plugin.core.debug.Return, format: "41"}
  - {id: s, type: io.kestra.plugin.core.debug.Return, format: "token {{ secret('API_KEY') }}"}
outputs:
  - {id: answer, type: INT, value: "{{ outputs.r.value | int + 1 }}"}
  - {id: leaked, type: STRING, value: "{{ outputs.s.value }}"}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.execution.outputs == {"answer": 42, "leaked": "token ******"}
    assert outcome.run("s").outputs == {"value": "token ******"}


async def test_a_flow_output_of_the_wrong_type_fails_the_execution(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - {id: r, type: io.kestra.plugin.core.debug.Return, format: "many"}
outputs:
  - {id: n, type: INT, value: "{{ outputs.r.value }}"}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    assert "output 'n'" in (outcome.execution.error or "")


async def test_file_inputs_are_stored_and_passed_as_uris(harness: Harness) -> None:
    flow = (
        HEADER
        + """
inputs:
  - {id: data, type: FILE}
tasks:
  - {id: uri, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.data }}"}
"""
    )
    await harness.deploy(flow)
    request = await harness.podium.intake.execute(
        "tests", "f", files={"data": ("../../evil name.csv", b"a,b\n1,2\n")}
    )
    outcome = await harness.wait(request.execution_id)
    uri = outcome.run("uri").outputs["value"]
    assert uri.startswith("kestra:///tests/f/executions/") and uri.endswith(
        "/inputs/data/evil_name.csv"
    )
    assert harness.podium.storage.read(uri) == b"a,b\n1,2\n"
    with pytest.raises(InputError, match="not of type FILE"):
        await harness.podium.intake.execute("tests", "f", files={"other": ("x", b"")})


async def test_a_full_executor_pauses_its_subscription_and_catches_up(tmp_path: Path) -> None:
    source = """
id: napping
namespace: full
tasks:
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.3S}
"""
    async with running_podium(tmp_path / "data", executor={"max_running_executions": 2}) as podium:
        harness = Harness(podium, None)
        flow = await harness.deploy(source)
        ids = [
            (await podium.intake.execute(flow.namespace, flow.id)).execution_id for _ in range(6)
        ]
        most_running, was_paused = 0, False
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            most_running = max(most_running, len(podium.executor._owned))
            was_paused = was_paused or podium.executor._is_paused
            states = [await podium.store.get_execution(i) for i in ids]
            if all(s is not None and s.state.is_terminal for s in states):
                break
            assert asyncio.get_running_loop().time() < deadline, states
            await asyncio.sleep(0.01)
        assert most_running == 2 and was_paused
        for _ in range(200):  # resumed at the next poll once there is room
            if not podium.executor._is_paused:
                break
            await asyncio.sleep(0.01)
        assert not podium.executor._is_paused
        assert {s.state.value for s in states if s is not None} == {"SUCCESS"}
