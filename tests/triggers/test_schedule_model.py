"""The Schedule model: what a flow may say, and what is refused when it is saved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.catalog import default_registries
from engine.errors import FlowDefinitionError
from engine.flow import load_flow
from tests.triggers.test_schedule_runner import registries
from triggers.schedule import Cron, Schedule, ScheduleRunner, parse_cron, schedule_zone, server_zone
from triggers.schedule_conditions import DateTimeBetween, DayWeek, Not

THURSDAY = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)


def first_slot(cron: str, *, seconds: bool = False, zone: str = "UTC") -> str:
    slot = Cron(parse_cron(cron, with_seconds=seconds), ZoneInfo(zone)).next_after(THURSDAY)
    assert slot is not None
    return slot.isoformat()


@pytest.mark.parametrize(
    ("nickname", "expected"),
    [
        ("@yearly", "2027-01-01T00:00:00+00:00"),
        ("@annually", "2027-01-01T00:00:00+00:00"),
        ("@monthly", "2026-04-01T00:00:00+00:00"),
        ("@weekly", "2026-03-08T00:00:00+00:00"),  # Sunday
        ("@daily", "2026-03-06T00:00:00+00:00"),
        ("@midnight", "2026-03-06T00:00:00+00:00"),
        ("@hourly", "2026-03-05T11:00:00+00:00"),
    ],
)
def test_nicknames(nickname: str, expected: str) -> None:
    assert first_slot(nickname) == expected
    assert first_slot(nickname.upper()) == expected


def test_with_seconds_reads_six_fields_seconds_first() -> None:
    cron = Cron(parse_cron("*/20 * * * * *", with_seconds=True), UTC)
    walk = cron.walk(THURSDAY)
    assert [next(walk) - THURSDAY for _ in range(3)] == [timedelta(seconds=s) for s in (20, 40, 60)]
    assert first_slot("15 30 9 * * MON-FRI", seconds=True) == "2026-03-06T09:30:15+00:00"


def test_kestra_cron_forms() -> None:
    assert first_slot("0 9 * * 7") == "2026-03-08T09:00:00+00:00"  # 7 and 0 are Sunday
    assert first_slot("0 9 * * 0") == "2026-03-08T09:00:00+00:00"
    assert first_slot("0 9 * * SAT") == "2026-03-07T09:00:00+00:00"
    assert first_slot("0 9 L * *") == "2026-03-31T09:00:00+00:00"
    assert first_slot("0 9 * * MON#1") == "2026-04-06T09:00:00+00:00"
    assert first_slot("0 9 * * *", zone="Europe/Berlin") == "2026-03-06T09:00:00+01:00"


FLOW = """id: scheduled
namespace: tests
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
  - id: schedule
    type: {type}
{properties}
"""


def load(properties: str, *, type_name: str = "io.kestra.plugin.core.trigger.Schedule") -> Schedule:
    flow = load_flow(FLOW.format(type=type_name, properties=properties), registries())
    trigger = flow.triggers[0]
    assert isinstance(trigger, Schedule)
    return trigger


def problems(properties: str) -> list[str]:
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(
            FLOW.format(type="io.kestra.plugin.core.trigger.Schedule", properties=properties),
            default_registries(),
        )
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ('    cron: "0 0 31 2 *"', "bad day-of-month"),
        ('    cron: "0 0 30 2 *"', "bad day-of-month"),
        ('    cron: "61 * * * *"', "bad minute"),
        ('    cron: "0 25 * * *"', "bad hour"),
        ('    cron: "every day"', "not a cron expression"),
        ('    cron: "0 0 * * * *"', "needs withSeconds: true"),
        ('    withSeconds: true\n    cron: "0 0 * * *"', "needs 6 fields"),
        ('    cron: "@fortnightly"', "not a cron expression"),
    ],
)
def test_a_bad_cron_is_refused_at_load_with_its_line_and_column(
    properties: str, message: str
) -> None:
    [problem] = problems(properties)
    cron_line = 1 + FLOW.format(type="x", properties=properties).splitlines().index(
        next(line for line in properties.splitlines() if "cron:" in line)
    )
    assert problem.startswith(f"<flow>:{cron_line}:5: triggers[0].cron: "), problem
    assert message in problem


def test_an_unknown_time_zone_is_refused_at_load() -> None:
    [problem] = problems('    cron: "@daily"\n    timezone: Mars/Olympus_Mons')
    assert "triggers[0].timezone" in problem and "unknown time zone 'Mars/Olympus_Mons'" in problem
    assert problem.startswith("<flow>:11:5: ")


def test_every_kestra_property_loads() -> None:
    trigger = load(
        """    cron: "*/15 * * * *"
    timezone: America/New_York
    inputs: {day: "{{ trigger.date }}"}
    labels:
      - {key: team, value: data}
    disabled: false
    recoverMissedSchedules: LAST
    lateMaximumDelay: PT1H
    stopAfter: [FAILED, WARNING]
    backfill: {start: "2025-01-01T00:00:00Z"}
    conditions:
      - type: io.kestra.plugin.core.condition.Not
        conditions:
          - {type: io.kestra.plugin.core.condition.DayWeek, dayOfWeek: SUNDAY}
      - {type: io.kestra.plugin.core.condition.DateTimeBetweenCondition, after: "2025-01-01T00:00:00Z"}"""
    )
    assert trigger.recoverMissedSchedules == "LAST"
    assert trigger.lateMaximumDelay == timedelta(hours=1)
    assert [s.value for s in trigger.stopAfter] == ["FAILED", "WARNING"]
    not_sunday, between = trigger.conditions
    assert isinstance(not_sunday, Not) and isinstance(not_sunday.conditions[0], DayWeek)
    assert isinstance(between, DateTimeBetween)
    assert schedule_zone(trigger) == ZoneInfo("America/New_York")


def test_the_kestra_0_type_name_loads() -> None:
    trigger = load('    cron: "@daily"', type_name="io.kestra.core.models.triggers.types.Schedule")
    assert trigger.fields == ("0", "0", "0", "*", "*", "*")


def test_without_a_time_zone_the_server_zone_is_used_unless_one_is_injected() -> None:
    trigger = load('    cron: "@daily"')
    assert schedule_zone(trigger) is server_zone()
    tokyo = ZoneInfo("Asia/Tokyo")
    assert schedule_zone(trigger, tokyo) is tokyo
    assert ScheduleRunner(default_zone=tokyo).default_zone is tokyo
    assert server_zone().utcoffset(datetime.now()) is not None
