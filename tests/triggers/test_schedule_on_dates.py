"""ScheduleOnDates' runner on a real SQLite store and a FakeClock (the Schedule rig of
test_schedule_runner): each date once, new triggers from now, missed dates by policy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.errors import FlowDefinitionError
from tests.triggers.test_schedule_runner import Rig, make_rig, utc
from triggers.schedule_on_dates import ScheduleOnDatesRunner

RUNNER = ScheduleOnDatesRunner(wake_seconds=3600)


def dated(
    extra: str = "",
    dates: str = "[2026-01-01T02:00:00Z, 2026-01-01T04:00:00Z, 2026-01-01T06:00:00Z]",
) -> str:
    return f"""
id: dated
namespace: tests
tasks:
  - {{id: log, type: io.kestra.plugin.core.log.Log, message: "{{{{ trigger.date }}}}"}}
triggers:
  - id: dates
    type: io.kestra.plugin.core.trigger.ScheduleOnDates
    timezone: UTC
    dates: {dates}
{extra}
"""


@pytest.fixture
async def rig(tmp_path: object) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path, utc(2026, 1, 1, 1)) as made:  # type: ignore[arg-type]
        yield made


async def test_each_date_fires_once_across_a_restart(rig: Rig) -> None:
    flow = await rig.deploy(dated())
    async with rig.running(flow, RUNNER):  # type: ignore[arg-type]
        await rig.clock.advance(3 * 3600)  # 04:00: two dates passed
        await rig.idle()
    async with rig.running(flow, RUNNER):  # type: ignore[arg-type]
        await rig.clock.advance(3 * 3600)  # 07:00
        await rig.idle()
    assert rig.intake.dates() == [
        "2026-01-01T02:00:00+00:00",
        "2026-01-01T04:00:00+00:00",
        "2026-01-01T06:00:00+00:00",
    ]


async def test_a_new_trigger_starts_from_now(rig: Rig) -> None:
    await rig.clock.advance(2 * 3600 + 60)  # 03:01: the first date is past at deploy time
    flow = await rig.deploy(dated())
    async with rig.running(flow, RUNNER):  # type: ignore[arg-type]
        await rig.clock.advance(4 * 3600)
        await rig.idle()
    assert rig.intake.dates() == ["2026-01-01T04:00:00+00:00", "2026-01-01T06:00:00+00:00"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("ALL", ["2026-01-01T02:00:00+00:00", "2026-01-01T04:00:00+00:00"]),
        ("LAST", ["2026-01-01T04:00:00+00:00"]),
        ("NONE", []),
    ],
)
async def test_missed_dates_follow_recover_missed_schedules(
    rig: Rig, policy: str, expected: list[str]
) -> None:
    flow = await rig.deploy(dated(f"    recoverMissedSchedules: {policy}"))
    async with rig.running(flow, RUNNER):  # type: ignore[arg-type]
        pass  # it saw the trigger at 01:00, then Podium stopped
    await rig.clock.advance(4 * 3600)  # 05:00: two dates were missed while down
    async with rig.running(flow, RUNNER):  # type: ignore[arg-type]
        pass
    assert rig.intake.dates() == expected


async def test_dates_from_a_template_and_in_the_trigger_zone(rig: Rig) -> None:
    source = dated(
        dates="\"{{ ['2026-01-01T03:00:00+01:00'] }}\"",
    ).replace("timezone: UTC", "timezone: Asia/Tokyo")
    flow = await rig.deploy(source)
    async with rig.running(flow, RUNNER):  # type: ignore[arg-type]
        await rig.clock.advance(2 * 3600)
        await rig.idle()
    assert rig.intake.dates() == ["2026-01-01T11:00:00+09:00"]


async def test_bad_dates_are_refused_at_load(rig: Rig) -> None:
    with pytest.raises(FlowDefinitionError, match="offset|timezone"):
        await rig.deploy(dated(dates="[2026-01-01T02:00:00]"))
    with pytest.raises(FlowDefinitionError, match="stopAfter is not supported"):
        await rig.deploy(dated("    stopAfter: [FAILED]"))
    with pytest.raises(FlowDefinitionError, match="list of ISO-8601"):
        await rig.deploy(dated(dates="tomorrow"))
