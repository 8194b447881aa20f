"""Restart (the same execution, from its failed task runs), replay (a new execution from
a chosen task run) and labels set on running and ended executions — end to end through
the requests topic, checked in the projection and in the events."""

from __future__ import annotations

import asyncio

from engine.events import ExecutionChanged, TaskRunChanged, decode_event
from engine.states import State
from tests.conftest import Harness, Outcome

FIXABLE = """
id: fixable
namespace: reruns
tasks:
  - {id: first, type: io.kestra.plugin.core.debug.Return, format: "one"}
  - id: group
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - {id: inner, type: io.kestra.plugin.core.debug.Return, format: "in"}
      - {id: check, type: io.kestra.plugin.core.execution.Fail, condition: "{{ labels.fixed is not defined }}"}
  - {id: last, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.first.value }} done"}
"""

THREE = """
id: three
namespace: reruns
inputs:
  - {id: word, type: STRING, defaults: hi}
tasks:
  - {id: a, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.word }} a"}
  - {id: b, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.a.value }} b"}
  - {id: c, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.b.value }} c"}
"""


async def wait_for(harness: Harness, execution_id: str, predicate: object) -> Outcome:
    for _ in range(400):
        await harness.podium.projector.caught_up()
        found = await harness.podium.store.get_execution(execution_id)
        if found is not None and predicate(found):  # type: ignore[operator]
            return await harness.outcome(execution_id)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{execution_id}: {found}")


async def test_restart_reruns_only_failed_task_runs_in_the_same_execution(
    real_time_harness: Harness,
) -> None:
    harness, podium = real_time_harness, real_time_harness.podium
    events = await podium.bus.subscribe(podium.topics.events, "t-restart", is_transient=True)
    failed = await harness.run(FIXABLE)
    assert failed.state == "FAILED"
    assert failed.run("first").state is State.SUCCESS and failed.run("check").attempt == 1

    await podium.intake.set_labels(
        failed.execution.execution_id, "reruns", "fixable", {"fixed": "yes"}
    )
    labelled = await wait_for(harness, failed.execution.execution_id, lambda e: "fixed" in e.labels)
    assert labelled.state == "FAILED"  # labels change nothing else of an ended execution

    await podium.intake.restart(failed.execution.execution_id, "reruns", "fixable")
    done = await wait_for(
        harness, failed.execution.execution_id, lambda e: e.state is State.SUCCESS
    )
    assert done.run("check").attempt == 2 and done.run("check").state is State.SUCCESS
    assert done.run("group").attempt == 2  # the failed parent ran again…
    assert done.run("inner").attempt == 1  # …and found its finished child recorded
    assert done.run("first").outputs == failed.run("first").outputs
    assert done.run("last").outputs == {"value": "one done"}

    running_again: dict[str, int] = {}
    while records := await events.fetch(timeout=0.3):
        for record in records:
            event = decode_event(record.value)
            if isinstance(event, TaskRunChanged) and event.state is State.RUNNING:
                running_again[event.task_id] = running_again.get(event.task_id, 0) + 1
            if isinstance(event, ExecutionChanged):
                assert event.execution_id == failed.execution.execution_id
    assert running_again["first"] == 1 and running_again["inner"] == 1  # never re-ran
    assert running_again["check"] == 2 and running_again["group"] == 2
    await events.close()


async def test_restart_of_a_successful_execution_changes_nothing(
    real_time_harness: Harness,
) -> None:
    harness, podium = real_time_harness, real_time_harness.podium
    done = await harness.run(THREE)
    await podium.intake.restart(done.execution.execution_id, "reruns", "three")
    marker = await harness.run(THREE)  # the requests topic is ordered per flow
    assert marker.state == "SUCCESS"
    again = await harness.outcome(done.execution.execution_id)
    assert again.execution == done.execution and again.task_runs == done.task_runs


async def test_replay_from_a_task_run_copies_what_ended_before_it(
    real_time_harness: Harness,
) -> None:
    harness, podium = real_time_harness, real_time_harness.podium
    original = await harness.run(THREE, {"word": "yo"})
    new_id = await podium.intake.replay(
        original.execution.execution_id, "reruns", "three", original.run("b").task_run_id
    )
    replay = await wait_for(harness, new_id, lambda e: e.state.is_terminal)
    assert replay.state == "SUCCESS"
    assert replay.execution.inputs == {"word": "yo"}
    assert replay.execution.replay_of == original.execution.execution_id
    assert replay.execution.labels["system.replay"] == "true"
    copied = replay.run("a")
    assert copied.started_at == original.run("a").started_at  # copied, not run again
    assert copied.task_run_id != original.run("a").task_run_id
    assert replay.run("b").started_at != original.run("b").started_at  # ran again
    assert replay.run("c").outputs == {"value": "yo a b c"}

    fresh_id = await podium.intake.replay(original.execution.execution_id, "reruns", "three")
    fresh = await wait_for(harness, fresh_id, lambda e: e.state.is_terminal)
    assert fresh.state == "SUCCESS"
    assert fresh.run("a").started_at != original.run("a").started_at  # from the start


async def test_labels_set_on_a_running_execution_stay(real_time_harness: Harness) -> None:
    harness, podium = real_time_harness, real_time_harness.podium
    flow = await harness.deploy(
        "id: slow\nnamespace: reruns\ntasks:\n"
        "  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.5S}\n"
    )
    request = await podium.intake.execute(flow.namespace, flow.id, labels={"team": "a"})
    await wait_for(harness, request.execution_id, lambda e: e.state is State.RUNNING)
    await podium.intake.set_labels(request.execution_id, "reruns", "slow", {"owner": "me"})
    done = await harness.wait(request.execution_id)
    assert done.state == "SUCCESS"
    assert done.execution.labels["team"] == "a" and done.execution.labels["owner"] == "me"
