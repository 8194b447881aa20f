"""Schedules end to end: a whole embedded Podium (the `harness`) on a FakeClock.

The harness clock starts at 2026-01-01T00:00Z; the TriggerService starts a runner when a
flow is saved. Time moves only when a test says so, and the tests wait for executions
without moving it (Harness.wait would, and fire more slots).
"""

from __future__ import annotations

import asyncio

from engine.events import ExecutionChanged
from tests.conftest import Harness
from triggers.base import slot_id

MONTHLY = """
id: monthly_report
namespace: tests
inputs:
  - {id: period, type: STRING}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.date | date('yyyy-MM') }} {{ inputs.period }} {{ trigger.previous | date('yyyy-MM-dd') }}"
triggers:
  - id: monthly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 1 1 * *"
    timezone: UTC
    inputs: {period: "{{ trigger.date | date('MMMM yyyy') }}"}
    labels: {kind: report}
"""

FAILING = """
id: fragile
namespace: tests
tasks:
  - {id: boom, type: io.kestra.plugin.core.execution.Fail, errorMessage: broken}
triggers:
  - id: hourly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "@hourly"
    timezone: UTC
    stopAfter: [FAILED]
"""


async def runner_asleep(harness: Harness, scope: str) -> None:
    """Wait until the runner of `scope` has started and sleeps on the clock."""
    assert harness.clock is not None
    for _ in range(2000):
        state = await harness.podium.store.get_trigger_state(scope)
        if state is not None and harness.clock.sleepers:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"the runner of {scope} did not start")


async def executions(harness: Harness, flow_id: str, *, ended: int = 0) -> list[ExecutionChanged]:
    """The flow's executions, once at least `ended` of them are terminal (time stands still)."""
    for _ in range(2000):
        await harness.podium.projector.caught_up()
        found = await harness.podium.store.list_executions(flow_id=flow_id)
        if sum(e.state.is_terminal for e in found) >= ended:
            return found
        await asyncio.sleep(0.005)
    raise AssertionError(f"{flow_id}: {found}")


async def test_a_monthly_schedule_runs_the_flow_with_its_trigger_variables(
    harness: Harness,
) -> None:
    assert harness.clock is not None
    await harness.deploy(MONTHLY)
    await runner_asleep(harness, "tests/monthly_report/monthly")
    await harness.clock.advance(3600)  # 2026-01-01T01:00Z
    [execution] = await executions(harness, "monthly_report", ended=1)
    assert execution.execution_id == slot_id(
        "tests/monthly_report/monthly", "2026-01-01T01:00:00+00:00"
    )
    outcome = await harness.outcome(execution.execution_id)
    assert outcome.state == "SUCCESS"
    assert outcome.messages("log") == ["2026-01 January 2026 2025-12-01"]
    assert outcome.execution.labels["kind"] == "report"
    assert outcome.execution.trigger is not None
    assert outcome.execution.trigger["variables"] == {
        "date": "2026-01-01T01:00:00+00:00",
        "next": "2026-02-01T01:00:00+00:00",
        "previous": "2025-12-01T01:00:00+00:00",
    }


async def test_saving_the_flow_again_at_the_slot_does_not_fire_it_twice(harness: Harness) -> None:
    assert harness.clock is not None
    await harness.deploy(MONTHLY)
    await runner_asleep(harness, "tests/monthly_report/monthly")
    await harness.clock.advance(3600)
    edited = await harness.deploy(MONTHLY.replace("labels: {kind: report}", "labels: {kind: x}"))
    assert edited.revision == 2  # the service restarts the runner on revision 2
    for _ in range(2000):
        state = await harness.podium.store.get_trigger_state("tests/monthly_report/monthly")
        if state and state["revision"] == 2 and harness.clock.sleepers:
            break
        await asyncio.sleep(0.005)
    assert state is not None and state["revision"] == 2
    found = await executions(harness, "monthly_report", ended=1)
    assert len(found) == 1


async def test_stop_after_failed_stops_the_schedule(harness: Harness) -> None:
    clock = harness.clock
    assert clock is not None
    await harness.deploy(FAILING)
    scope = "tests/fragile/hourly"
    await runner_asleep(harness, scope)
    await clock.advance(3600)
    [first] = await executions(harness, "fragile", ended=1)
    assert first.state.value == "FAILED"
    await clock.advance(60)  # the runner reads its executions at least once a minute
    for _ in range(400):
        state = await harness.podium.store.get_trigger_state(scope)
        if state and state.get("stopped"):
            break
        await asyncio.sleep(0.005)
    assert state is not None and state["stopped"]["state"] == "FAILED"
    service = harness.podium.triggers
    for _ in range(400):  # disabled as the API disables a trigger: its runner is stopped
        if scope in await service.refresh_disabled() and not service._running:
            break
        await asyncio.sleep(0.005)
    assert service.is_disabled(scope) and not service._running
    for _ in range(3):
        await clock.advance(3600)
    assert len(await executions(harness, "fragile")) == 1
    # enabled again (what the API, the UI and trigger.Toggle do): it starts from now
    sleeping = clock.sleepers
    await service.set_disabled(scope, False)
    for _ in range(2000):  # the restarted runner sleeps until its next slot
        if clock.sleepers > sleeping:
            break
        await asyncio.sleep(0.005)
    state = await harness.podium.store.get_trigger_state(scope)
    assert state is not None and state["stopped"] is None and state["watch"] == []
    await clock.advance(3600)
    assert len(await executions(harness, "fragile", ended=2)) == 2
