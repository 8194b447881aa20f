"""The date conditions a Schedule tests: each judges `trigger.date` on its own wall clock."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import FlowDefinitionError
from engine.flow import load_flow
from engine.templating import Renderer
from tests.triggers.test_schedule_runner import registries
from triggers.conditions import ExecutionStatus, Expression
from triggers.schedule_conditions import (
    DateTimeBetween,
    DayWeek,
    DayWeekInMonth,
    Not,
    Or,
    PublicHoliday,
    TimeBetween,
    Weekend,
    applies_to_schedules,
)

RENDERER = Renderer()


def on(date: str) -> dict[str, Any]:
    return {"trigger": {"date": date}, "flow": {"id": "f", "namespace": "n"}}


MONDAY = on("2026-03-02T09:00:00+01:00")
SATURDAY = on("2026-03-07T09:00:00+01:00")
# 23:30 on Sunday in New York is already Monday in UTC: the date's own offset decides.
SUNDAY_NIGHT_NY = on("2026-03-08T23:30:00-04:00")


def test_day_week() -> None:
    monday = DayWeek(type="x", dayOfWeek="MONDAY")
    assert monday.test(MONDAY, RENDERER)
    assert not monday.test(SATURDAY, RENDERER)
    assert DayWeek(type="x", dayOfWeek="SUNDAY").test(SUNDAY_NIGHT_NY, RENDERER)
    assert DayWeek(type="x", dayOfWeek="MONDAY", date="{{ trigger.date }}").test(MONDAY, RENDERER)
    assert DayWeek(type="x", dayOfWeek="FRIDAY", date="2026-03-06").test(MONDAY, RENDERER)


def test_weekend() -> None:
    weekend = Weekend(type="x")
    assert weekend.test(SATURDAY, RENDERER)
    assert weekend.test(SUNDAY_NIGHT_NY, RENDERER)
    assert not weekend.test(MONDAY, RENDERER)


@pytest.mark.parametrize(
    ("date", "day_in_month", "expected"),
    [
        ("2026-03-02", "FIRST", True),
        ("2026-03-09", "FIRST", False),
        ("2026-03-09", "SECOND", True),
        ("2026-03-16", "THIRD", True),
        ("2026-03-23", "FOURTH", True),
        ("2026-03-30", "LAST", True),
        ("2026-03-23", "LAST", False),
        ("2026-03-03", "FIRST", False),  # a Tuesday
    ],
)
def test_day_week_in_month(date: str, day_in_month: str, expected: bool) -> None:
    condition = DayWeekInMonth.model_validate(
        {"type": "x", "dayOfWeek": "MONDAY", "dayInMonth": day_in_month}
    )
    assert condition.test(on(f"{date}T11:00:00+01:00"), RENDERER) is expected


def test_date_time_between_excludes_its_bounds() -> None:
    """Kestra compares with isAfter/isBefore: a date equal to a bound is outside."""
    window = DateTimeBetween.model_validate(
        {"type": "x", "after": "2026-03-02T08:00:00Z", "before": "2026-03-07T08:00:00Z"}
    )
    assert not window.test(MONDAY, RENDERER)  # 08:00 UTC: the lower bound itself
    assert not window.test(SATURDAY, RENDERER)  # the upper bound itself
    assert window.test(on("2026-03-02T09:00:01+01:00"), RENDERER)
    assert window.test(on("2026-03-07T08:59:59+01:00"), RENDERER)
    assert not window.test(on("2026-03-07T09:00:01+01:00"), RENDERER)
    assert not window.test(on("2026-03-02T08:59:59+01:00"), RENDERER)
    after_only = DateTimeBetween.model_validate({"type": "x", "after": "2026-03-05T00:00:00Z"})
    assert after_only.test(SATURDAY, RENDERER) and not after_only.test(MONDAY, RENDERER)


def test_date_time_between_needs_a_possible_window() -> None:
    with pytest.raises(ValueError, match="needs 'after', 'before' or both"):
        DateTimeBetween.model_validate({"type": "x"})
    with pytest.raises(ValueError, match="not earlier than 'before'"):
        DateTimeBetween.model_validate(
            {"type": "x", "after": "2026-03-07T00:00:00Z", "before": "2026-03-02T00:00:00Z"}
        )
    with pytest.raises(ValueError, match="timezone"):
        DateTimeBetween.model_validate({"type": "x", "after": "2026-03-07T00:00:00"})


def test_not_and_or() -> None:
    weekend, monday = Weekend(type="x"), DayWeek(type="x", dayOfWeek="MONDAY")
    assert Not(type="x", conditions=(weekend,)).test(MONDAY, RENDERER)
    assert not Not(type="x", conditions=(weekend, monday)).test(MONDAY, RENDERER)
    assert Or(type="x", conditions=(weekend, monday)).test(MONDAY, RENDERER)
    assert not Or(type="x", conditions=(monday,)).test(SATURDAY, RENDERER)


def test_schedules_evaluate_date_conditions_and_expressions_only() -> None:
    assert applies_to_schedules(Weekend(type="x"))
    assert applies_to_schedules(Not(type="x", conditions=(Weekend(type="x"),)))
    assert applies_to_schedules(Expression(type="x", expression="{{ true }}"))
    assert not applies_to_schedules(ExecutionStatus.model_validate({"type": "x", "in": ["FAILED"]}))


FLOW = """id: f
namespace: n
tasks:
  - {{id: log, type: io.kestra.plugin.core.log.Log, message: hi}}
triggers:
  - id: s
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 * * *"
    conditions:
{conditions}
"""


def test_kestra_names_old_and_new_load_from_yaml() -> None:
    flow = load_flow(
        FLOW.format(
            conditions="""      - {type: io.kestra.plugin.core.condition.DayWeekCondition, dayOfWeek: MONDAY}
      - {type: io.kestra.core.models.conditions.types.WeekendCondition}
      - type: io.kestra.plugin.core.condition.OrCondition
        conditions:
          - {type: io.kestra.plugin.core.condition.DayWeekInMonth, dayOfWeek: FRIDAY, dayInMonth: LAST}
          - {type: io.kestra.plugin.core.condition.DateTimeBetween, before: "2030-01-01T00:00:00+01:00"}"""
        ),
        registries(),
    )
    day_week, weekend, either = flow.triggers[0].conditions
    assert isinstance(day_week, DayWeek) and isinstance(weekend, Weekend)
    assert isinstance(either, Or)
    assert [type(c).__name__ for c in either.conditions] == ["DayWeekInMonth", "DateTimeBetween"]


@pytest.mark.parametrize(
    ("conditions", "where", "message"),
    [
        (
            "      - {type: io.kestra.plugin.core.condition.DateTimeBetween}",
            "triggers[0].conditions[0]",
            "needs 'after', 'before' or both",
        ),
        (
            "      - {type: io.kestra.plugin.core.condition.DayWeek, dayOfWeek: FUNDAY}",
            "triggers[0].conditions[0].dayOfWeek",
            "MONDAY",
        ),
        (
            "      - {type: io.kestra.plugin.core.condition.Not, conditions: []}",
            "triggers[0].conditions[0].conditions",
            "at least 1",
        ),
    ],
)
def test_a_condition_that_cannot_work_is_refused_at_load(
    conditions: str, where: str, message: str
) -> None:
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(FLOW.format(conditions=conditions), registries())
    [problem] = [str(p) for p in caught.value.problems]
    assert f": {where}: " in problem and message in problem, problem
    assert problem.startswith("<flow>:10:"), problem


def test_time_between_compares_offset_times_as_kestra() -> None:
    """Kestra's TimeBetweenTest cases: 16:19:12+02:00 against bounds around it."""
    date = on("2024-02-21T16:19:12+02:00")
    assert TimeBetween(type="x", before="16:19:11+02:00").test(date, RENDERER) is False
    assert TimeBetween(type="x", after="16:19:11+02:00").test(date, RENDERER) is True
    assert TimeBetween(type="x", after="17:19:12+02:00").test(date, RENDERER) is False
    window = TimeBetween(type="x", after="16:18:12+02:00", before="16:20:12+02:00")
    assert window.test(date, RENDERER) is True
    assert TimeBetween(type="x", before="16:20:12+02:00").test(date, RENDERER) is True
    # the same instant written in UTC, and a bound equal to the date (excluded)
    assert TimeBetween(type="x", after="14:00:00Z", before="14:30:00Z").test(date, RENDERER)
    assert not TimeBetween(type="x", after="16:19:12+02:00").test(date, RENDERER)
    # no wrap at midnight: 01:00+02:00 is 23:00Z of the day before, below 00:30Z's bound
    assert not TimeBetween(type="x", after="00:30:00Z").test(
        on("2024-02-21T01:00:00+02:00"), RENDERER
    )


def test_time_between_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="needs 'after', 'before' or both"):
        TimeBetween.model_validate({"type": "x"})
    with pytest.raises(ValueError, match="has no offset"):
        TimeBetween.model_validate({"type": "x", "after": "16:00:00"})
    with pytest.raises(ValueError, match="not an ISO-8601 time"):
        TimeBetween.model_validate({"type": "x", "before": "4pm"})


def test_public_holiday_as_kestras_cases() -> None:
    """Kestra's PublicHolidayTest: Bastille Day in France, Women's Day in Berlin only."""

    def holiday(date: str, **where: str) -> bool:
        return PublicHoliday(type="x", date=date, **where).test(on(date), RENDERER)

    assert holiday("2023-07-14", country="FR")
    assert holiday("2023-03-08", country="DE", subDivision="BE")
    assert not holiday("2023-01-02", country="FR")
    assert not holiday("2023-03-08", country="DE")
    # the default date is the trigger's, judged on its own local day
    christmas_eve_utc = on("2025-12-24T23:30:00-01:00")  # already the 25th in UTC
    assert not PublicHoliday(type="x", country="FR").test(christmas_eve_utc, RENDERER)
    assert PublicHoliday(type="x", country="{{ 'F' ~ 'R' }}").test(
        on("2025-12-25T08:00:00+01:00"), RENDERER
    )


def test_public_holiday_refuses_an_unknown_calendar_at_load() -> None:
    with pytest.raises(ValueError, match="no public holiday calendar for 'XX'"):
        PublicHoliday.model_validate({"type": "x", "country": "XX"})
    with pytest.raises(ValueError, match="'DE/ZZ'"):
        PublicHoliday.model_validate({"type": "x", "country": "DE", "subDivision": "ZZ"})
