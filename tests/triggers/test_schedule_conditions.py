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


def test_date_time_between_includes_its_bounds() -> None:
    window = DateTimeBetween.model_validate(
        {"type": "x", "after": "2026-03-02T08:00:00Z", "before": "2026-03-07T08:00:00Z"}
    )
    assert window.test(MONDAY, RENDERER)  # 08:00 UTC: the lower bound itself
    assert window.test(SATURDAY, RENDERER)  # the upper bound itself
    assert not window.test(on("2026-03-07T09:00:01+01:00"), RENDERER)
    assert not window.test(on("2026-03-02T08:59:59+01:00"), RENDERER)
    after_only = DateTimeBetween.model_validate({"type": "x", "after": "2026-03-05T00:00:00Z"})
    assert after_only.test(SATURDAY, RENDERER) and not after_only.test(MONDAY, RENDERER)


def test_date_time_between_needs_a_possible_window() -> None:
    with pytest.raises(ValueError, match="needs 'after', 'before' or both"):
        DateTimeBetween.model_validate({"type": "x"})
    with pytest.raises(ValueError, match="later than 'before'"):
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
