"""Daylight saving time: each slot fires once, on the rule in triggers/schedule.py.

Europe/Berlin in 2026: 02:00 → 03:00 on March 29 (01:00 UTC), 03:00 → 02:00 on
October 25 (01:00 UTC). America/New_York: 02:00 → 03:00 on March 8 (07:00 UTC),
02:00 → 01:00 on November 1 (06:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.triggers.test_schedule_runner import make_rig
from triggers.schedule import Cron, ScheduleRunner, parse_cron

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def slots(
    cron: str, zone: ZoneInfo, after: datetime, count: int, *, seconds: bool = False
) -> list[str]:
    found = []
    for slot in Cron(parse_cron(cron, with_seconds=seconds), zone).walk(after):
        found.append(slot.isoformat())
        if len(found) == count:
            return found
    return found


@pytest.mark.parametrize("seconds", [False, True])
def test_a_daily_job_in_the_spring_gap_fires_once_when_the_gap_ends(seconds: bool) -> None:
    cron = "0 30 2 * * *" if seconds else "30 2 * * *"
    assert slots(cron, BERLIN, datetime(2026, 3, 27, 12, tzinfo=UTC), 3, seconds=seconds) == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that day
        "2026-03-30T02:30:00+02:00",
    ]
    assert slots("30 2 * * *", NEW_YORK, datetime(2026, 3, 7, 12, tzinfo=UTC), 3) == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]


@pytest.mark.parametrize("seconds", [False, True])
def test_a_daily_job_in_the_fall_back_fold_fires_once_at_its_first_occurrence(
    seconds: bool,
) -> None:
    cron = "0 30 2 * * *" if seconds else "30 2 * * *"
    assert slots(cron, BERLIN, datetime(2026, 10, 24, 12, tzinfo=UTC), 3, seconds=seconds) == [
        "2026-10-25T02:30:00+02:00",  # and not again at 02:30+01:00
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]
    assert slots("30 1 * * *", NEW_YORK, datetime(2026, 10, 31, 12, tzinfo=UTC), 2) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]


def test_several_slots_in_one_gap_fire_once() -> None:
    assert slots("0,30 2 * * *", BERLIN, datetime(2026, 3, 28, 12, tzinfo=UTC), 2) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:00:00+02:00",
    ]


def test_an_hourly_job_follows_elapsed_time() -> None:
    assert slots("@hourly", NEW_YORK, datetime(2026, 11, 1, 4, 30, tzinfo=UTC), 4) == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",  # the repeated hour is a real hour
        "2026-11-01T02:00:00-05:00",
        "2026-11-01T03:00:00-05:00",
    ]
    assert slots("0 * * * *", BERLIN, datetime(2026, 3, 28, 23, 30, tzinfo=UTC), 3) == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:00 never happened
        "2026-03-29T04:00:00+02:00",
    ]


def test_previous_slots_walk_back_through_the_change() -> None:
    cron = Cron(parse_cron("30 2 * * *"), BERLIN)
    gap_slot = datetime(2026, 3, 29, 3, tzinfo=BERLIN)
    assert cron.previous_before(gap_slot) == datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN)
    assert cron.next_after(gap_slot) == datetime(2026, 3, 30, 2, 30, tzinfo=BERLIN)
    # from inside the fold's second hour, the 02:30 of that day is behind us
    second_hour = datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=BERLIN)
    assert cron.previous_before(second_hour) == datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)
    assert cron.next_after(second_hour) == datetime(2026, 10, 26, 2, 30, tzinfo=BERLIN)


DAILY = """
id: nightly
namespace: tests
tasks:
  - {{id: log, type: io.kestra.plugin.core.log.Log, message: "{{{{ trigger.date }}}}"}}
triggers:
  - {{id: nightly, type: io.kestra.plugin.core.trigger.Schedule, cron: "{cron}", timezone: {zone}}}
"""


@pytest.mark.parametrize(
    ("zone", "cron", "start", "end", "expected"),
    [
        (
            "Europe/Berlin",
            "30 2 * * *",
            datetime(2026, 3, 27, 12, tzinfo=UTC),
            datetime(2026, 3, 31, 12, tzinfo=UTC),
            ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00",
             "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"],
        ),
        (
            "Europe/Berlin",
            "30 2 * * *",
            datetime(2026, 10, 23, 12, tzinfo=UTC),
            datetime(2026, 10, 27, 12, tzinfo=UTC),
            ["2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00",
             "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"],
        ),
        (
            "America/New_York",
            "30 1 * * *",
            datetime(2026, 10, 30, 12, tzinfo=UTC),
            datetime(2026, 11, 2, 12, tzinfo=UTC),
            ["2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00",
             "2026-11-02T01:30:00-05:00"],
        ),
        (
            "America/New_York",
            "30 2 * * *",
            datetime(2026, 3, 7, 12, tzinfo=UTC),
            datetime(2026, 3, 9, 12, tzinfo=UTC),
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
        ),
    ],
)  # fmt: skip
async def test_the_runner_fires_a_daily_job_once_a_day_across_the_change(
    tmp_path: Path, zone: str, cron: str, start: datetime, end: datetime, expected: list[str]
) -> None:
    async with make_rig(tmp_path, start) as rig:
        flow = await rig.deploy(DAILY.format(cron=cron, zone=zone))
        async with rig.running(flow, ScheduleRunner(wake_seconds=6 * 3600)):
            await rig.advance_to(end, flow)
        assert rig.intake.dates() == expected
        fired_at = [r.trigger["variables"] for r in rig.intake.requests if r.trigger]
        # each execution's previous/next are its neighbours, across the change too
        for before, after in zip(fired_at, fired_at[1:], strict=False):
            assert before["next"] == after["date"] and after["previous"] == before["date"]
