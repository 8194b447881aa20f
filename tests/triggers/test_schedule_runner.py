"""ScheduleRunner on a real SQLite store and a FakeClock: each slot fires once.

The rig stands in for Intake with `RecordingIntake`, which records every request as
published (a repeat would show: nothing here relies on the executor's dedupe), and moves
time with `Rig.advance_to`, slot by slot, waiting (never sleeping) for the runners to go
back to sleep in between. test_schedule_dst.py and test_backfill.py use the rig too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.catalog import default_registries
from engine.clock import FakeClock
from engine.events import EventDocument, ExecutionChanged, ExecutionRequested
from engine.flow import Flow, Registries
from engine.flows import FlowRepository
from engine.intake import FlowNotFound, resolve_inputs
from engine.states import State
from engine.storage import LocalStorage
from engine.store.sqlite import SqliteStore
from engine.templating import Renderer
from triggers.base import TriggerContext, slot_id, trigger_scope
from triggers.schedule import ScheduleRunner, reenable

RUNNER = ScheduleRunner(wake_seconds=60)


def registries() -> Registries:
    """Podium's registries (the date conditions are the catalog's)."""
    return default_registries()


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def hourly(extra: str = "", *, cron: str = "0 * * * *", trigger_extra: str = "") -> str:
    return f"""
id: hourly
namespace: tests
{extra}
tasks:
  - {{id: log, type: io.kestra.plugin.core.log.Log, message: "{{{{ trigger.date }}}}"}}
triggers:
  - id: every_hour
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "{cron}"
    timezone: UTC
{trigger_extra}
"""


class RecordingIntake:
    """Intake's `execute`, checking the flow and its inputs, recording what it publishes."""

    def __init__(self, flows: FlowRepository) -> None:
        self.flows = flows
        self.requests: list[ExecutionRequested] = []
        self.gate: asyncio.Event | None = None  # when set, publishing waits for it
        self.waiting = asyncio.Event()  # a publish is waiting at the gate

    async def execute(
        self,
        namespace: str,
        flow_id: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        trigger: Mapping[str, Any] | None = None,
        execution_id: str | None = None,
        **_: Any,
    ) -> ExecutionRequested:
        flow = await self.flows.get(namespace, flow_id)
        if flow is None or flow.disabled:
            raise FlowNotFound(f"flow {namespace}/{flow_id} not found or disabled")
        resolve_inputs(flow, dict(inputs or {}), Renderer())
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        request = ExecutionRequested(
            execution_id=execution_id or "x",
            namespace=namespace,
            flow_id=flow_id,
            revision=flow.revision,
            inputs=dict(inputs or {}),
            labels=dict(labels or {}),
            trigger=dict(trigger or {}),
            requested_at=datetime.now(UTC),
        )
        self.requests.append(request)
        return request

    def dates(self) -> list[str]:
        return [r.trigger["variables"]["date"] for r in self.requests if r.trigger]


@dataclass
class Rig:
    store: SqliteStore
    clock: FakeClock
    flows: FlowRepository
    intake: RecordingIntake
    ctx: TriggerContext
    sleepers: int = 1
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def deploy(self, source: str) -> Flow:
        return await self.flows.save(source)

    async def idle(self) -> None:
        """Wait until every runner sleeps on the clock (they do store I/O in threads)."""
        for _ in range(5000):
            if self.clock.sleepers >= self.sleepers:
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"runners never went back to sleep: {self.clock!r}")

    async def state(self, flow: Flow) -> dict[str, Any]:
        found = await self.store.get_trigger_state(trigger_scope(flow, flow.triggers[0]))
        assert found is not None
        return found

    async def advance_to(self, when: datetime, flow: Flow) -> None:
        """Move time to `when`, stopping at every slot on the way (runners fire there)."""
        while self.clock.now() < when:
            await self.idle()
            upcoming = datetime.fromisoformat((await self.state(flow))["next"])
            target = min(upcoming, when) if upcoming > self.clock.now() else when
            await self.clock.advance((target - self.clock.now()).total_seconds())
        await self.idle()

    @contextlib.asynccontextmanager
    async def running(
        self, flow: Flow, runner: ScheduleRunner = RUNNER, *, count: int = 1
    ) -> AsyncIterator[list[asyncio.Task[None]]]:
        """`count` runners of the flow's first trigger, cancelled (like an edit) on exit."""
        self.sleepers = count
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(runner.run(flow, flow.triggers[0], self.ctx))
                for _ in range(count)
            ]
            try:
                await self.idle()
                yield tasks
            finally:
                for task in tasks:
                    task.cancel()


@contextlib.asynccontextmanager
async def make_rig(tmp_path: Path, start: datetime) -> AsyncIterator[Rig]:
    async with SqliteStore(tmp_path / "podium.db") as store:
        clock = FakeClock(start)
        flows = FlowRepository(store, registries())
        intake = RecordingIntake(flows)
        ctx = TriggerContext(
            intake=intake,  # type: ignore[arg-type]
            state=store,
            clock=clock,
            renderer=Renderer(),
            storage=LocalStorage(tmp_path / "storage"),
        )
        yield Rig(store, clock, flows, intake, ctx)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path, utc(2026, 1, 1, 0, 10)) as made:
        yield made


def at(hour: int, day: int = 1) -> str:
    return utc(2026, 1, day, hour).isoformat()


async def test_a_new_trigger_starts_from_now_and_fires_each_slot_once(rig: Rig) -> None:
    flow = await rig.deploy(hourly())
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 3), flow)
    assert rig.intake.dates() == [at(1), at(2), at(3)]  # 00:00 had passed: no backfill
    first = rig.intake.requests[0]
    assert first.trigger == {
        "type": "io.kestra.plugin.core.trigger.Schedule",
        "id": "every_hour",
        "variables": {"date": at(1), "next": at(2), "previous": at(0)},
    }
    assert first.execution_id == slot_id("tests/hourly/every_hour", at(1))
    state = await rig.state(flow)
    assert state["last"] == at(3) and state["next"] == at(4) and state["pending"] is None


async def test_each_slot_fires_once_across_a_restart(rig: Rig) -> None:
    flow = await rig.deploy(hourly())
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 1), flow)
    async with rig.running(flow):  # a new runner on the same store, at the same instant
        await rig.clock.advance(20)
        await rig.advance_to(utc(2026, 1, 1, 2), flow)
    assert rig.intake.dates() == [at(1), at(2)]


async def test_two_runners_on_one_store_fire_each_slot_once(rig: Rig) -> None:
    flow = await rig.deploy(hourly())
    async with rig.running(flow, count=2):
        await rig.advance_to(utc(2026, 1, 1, 6), flow)
    assert rig.intake.dates() == [at(h) for h in range(1, 7)]


@pytest.mark.parametrize(
    ("policy", "recovered"),
    [("ALL", [2, 3, 4, 5]), ("LAST", [5]), ("NONE", []), (None, [2, 3, 4, 5])],
)
async def test_missed_slots_follow_recover_missed_schedules(
    rig: Rig, policy: str | None, recovered: list[int]
) -> None:
    extra = f"    recoverMissedSchedules: {policy}" if policy else ""
    flow = await rig.deploy(hourly(trigger_extra=extra))
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 1), flow)
    await rig.clock.advance(4.5 * 3600)  # Podium is down from 01:00 to 05:30
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 6), flow)
    assert rig.intake.dates() == [at(1), *(at(h) for h in recovered), at(6)]


async def test_the_slot_due_at_a_restart_fires_even_with_none(rig: Rig) -> None:
    flow = await rig.deploy(hourly(trigger_extra="    recoverMissedSchedules: NONE"))
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 0, 59, 59), flow)
    await rig.clock.advance(21)  # restarted (or edited) 20 s after 01:00
    async with rig.running(flow):
        pass
    assert rig.intake.dates() == [at(1)]


async def test_late_maximum_delay_skips_slots_that_are_too_late(rig: Rig) -> None:
    flow = await rig.deploy(hourly(trigger_extra="    lateMaximumDelay: PT2H"))
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 1), flow)
    await rig.clock.advance(4.5 * 3600)
    async with rig.running(flow):
        pass
    assert rig.intake.dates() == [at(1), at(4), at(5)]  # 02:00 and 03:00 were over 2 h late


async def test_an_edit_while_a_slot_is_due_fires_it_exactly_once(rig: Rig) -> None:
    flow = await rig.deploy(hourly())
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 1), flow)
    edited = await rig.deploy(hourly("description: edited at the slot"))
    assert edited.revision == 2
    async with rig.running(edited):  # the service restarts the runner on the new revision
        await rig.advance_to(utc(2026, 1, 1, 2), flow)
    assert rig.intake.dates() == [at(1), at(2)]


async def test_disabling_and_enabling_again_neither_repeats_nor_recovers(rig: Rig) -> None:
    flow = await rig.deploy(hourly())
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 1), flow)
    await rig.deploy(hourly(trigger_extra="    disabled: true"))  # the service stops it
    await rig.clock.advance(2.5 * 3600)
    enabled = await rig.deploy(hourly())
    async with rig.running(enabled):
        await rig.advance_to(utc(2026, 1, 1, 4), flow)
    # 02:00 and 03:00 passed while disabled: not recovered (as in Kestra); 01:00 not repeated
    assert rig.intake.dates() == [at(1), at(4)]


async def test_a_disabled_flow_counts_as_a_disabled_trigger(rig: Rig) -> None:
    flow = await rig.deploy(hourly())
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 1), flow)
    await rig.deploy(hourly("disabled: true"))
    await rig.clock.advance(10)  # disabled and enabled again while 01:00 is still due
    enabled = await rig.deploy(hourly())
    async with rig.running(enabled):
        await rig.advance_to(utc(2026, 1, 1, 2), flow)
    assert rig.intake.dates() == [at(1), at(2)]


async def test_a_slot_left_pending_by_a_crash_is_published_again(rig: Rig) -> None:
    flow = await rig.deploy(hourly())
    scope = trigger_scope(flow, flow.triggers[0])
    # A runner claimed 01:00, wrote it pending, and died before publishing.
    await rig.store.claim(scope, [at(1)])
    await rig.store.set_trigger_state(
        scope, {"last": at(0), "revision": flow.revision, "pending": at(1)}
    )
    await rig.clock.advance(3600)
    async with rig.running(flow):
        pass
    assert rig.intake.dates() == [at(1)]
    assert rig.intake.requests[0].execution_id == slot_id(scope, at(1))


async def test_a_runner_cancelled_while_firing_finishes_the_firing(rig: Rig) -> None:
    flow = await rig.deploy(hourly())
    rig.intake.gate = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(RUNNER.run(flow, flow.triggers[0], rig.ctx))
        await rig.idle()
        await rig.clock.advance(50 * 60)  # 01:00: the runner claims and publishes…
        await asyncio.wait_for(rig.intake.waiting.wait(), 5)
        task.cancel()  # …and is cancelled (an edit, a shutdown) in the middle
        await asyncio.sleep(0.01)
        assert not task.done()
        rig.intake.gate.set()
    assert task.cancelled()
    assert rig.intake.dates() == [at(1)]
    assert (await rig.state(flow))["pending"] is None


def ended(request: ExecutionRequested, state: State) -> EventDocument:
    """What the projector applies when the execution of `request` reaches `state`."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return EventDocument.of(
        ExecutionChanged(
            execution_id=request.execution_id,
            namespace=request.namespace,
            flow_id=request.flow_id,
            seq=5,
            at=now,
            revision=request.revision,
            state=state,
            created_at=now,
        )
    )


async def test_stop_after_stops_the_trigger_until_it_is_enabled_again(rig: Rig) -> None:
    flow = await rig.deploy(hourly(trigger_extra="    stopAfter: [FAILED]"))
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 1), flow)
        await rig.store.apply([ended(rig.intake.requests[0], State.SUCCESS)])
        await rig.advance_to(utc(2026, 1, 1, 2), flow)
        await rig.store.apply([ended(rig.intake.requests[1], State.FAILED)])
        await rig.clock.advance(60)  # the runner reads the watched executions
        await rig.idle()
        stopped = (await rig.state(flow))["stopped"]
        assert stopped["state"] == "FAILED"
        assert stopped["execution_id"] == rig.intake.requests[1].execution_id
        for _ in range(3 * 60):  # three hours: nothing fires
            await rig.clock.advance(60)
            await rig.idle()
        assert rig.intake.dates() == [at(1), at(2)]
        assert await reenable(rig.store, trigger_scope(flow, flow.triggers[0]), now=rig.clock.now())
        await rig.clock.advance(60)
        await rig.idle()
        await rig.advance_to(utc(2026, 1, 1, 6), flow)
    # stopped from 02:01 to 05:02: its slots are not recovered; it goes on from 06:00
    assert rig.intake.dates() == [at(1), at(2), at(6)]
    assert (await rig.state(flow))["stopped"] is None


WEEKDAYS = """
id: weekdays
namespace: tests
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: x}
triggers:
  - id: morning
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 * * *"
    timezone: Europe/Paris
    conditions:
      - type: io.kestra.plugin.core.condition.Not
        conditions:
          - type: io.kestra.plugin.core.condition.Weekend
"""


async def test_date_conditions_skip_slots_and_shape_next_and_previous(rig: Rig) -> None:
    flow = await rig.deploy(WEEKDAYS)  # 2026-01-01 is a Thursday
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 6, 8), flow)
    variables = [r.trigger["variables"] for r in rig.intake.requests if r.trigger]
    assert [v["date"] for v in variables] == [
        "2026-01-01T09:00:00+01:00",
        "2026-01-02T09:00:00+01:00",
        "2026-01-05T09:00:00+01:00",
        "2026-01-06T09:00:00+01:00",
    ]
    friday, monday = variables[1], variables[2]
    assert friday["next"] == monday["date"] and monday["previous"] == friday["date"]


async def test_the_default_zone_is_injected(rig: Rig) -> None:
    flow = await rig.deploy(hourly(cron="0 9 * * *").replace("    timezone: UTC\n", ""))
    async with rig.running(flow, ScheduleRunner(default_zone=ZoneInfo("Asia/Tokyo"))):
        await rig.advance_to(utc(2026, 1, 2, 0), flow)
    assert rig.intake.dates() == ["2026-01-02T09:00:00+09:00"]
    assert rig.intake.requests[0].execution_id == slot_id(
        "tests/hourly/every_hour", utc(2026, 1, 2, 0).isoformat()
    )


async def test_a_slot_with_bad_inputs_is_skipped_and_the_schedule_goes_on(rig: Rig) -> None:
    flow = await rig.deploy(
        hourly("inputs:\n  - {id: n, type: INT}", trigger_extra="    inputs: {n: not-a-number}")
    )
    async with rig.running(flow):
        await rig.advance_to(utc(2026, 1, 1, 2), flow)
    assert rig.intake.requests == []
    assert (await rig.state(flow))["last"] == at(2)


def test_slot_ids_do_not_depend_on_the_zone_a_slot_is_shown_in() -> None:
    from triggers.schedule import slot_key

    paris = datetime(2026, 1, 1, 10, tzinfo=ZoneInfo("Europe/Paris"))
    assert slot_key(paris) == slot_key(paris.astimezone(UTC)) == "2026-01-01T09:00:00+00:00"
