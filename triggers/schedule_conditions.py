"""Date conditions a Schedule trigger tests before it fires (Kestra's schedule conditions).

    DayWeek          the date falls on `dayOfWeek`
    DayWeekInMonth   … and is the FIRST/SECOND/THIRD/FOURTH/LAST such day of its month
    Weekend          the date is a Saturday or a Sunday
    DateTimeBetween  the date is within [after, before] (either bound may be left out)
    Not, Or          combine nested conditions (none true / any true)

Each reads the date to test from its `date` property (default `{{ trigger.date }}`,
rendered with the trigger's facts): an ISO-8601 date-time with its offset. It is judged on
the wall clock of that offset, as Kestra judges the ZonedDateTime it parses, so "MONDAY"
is Monday in the schedule's time zone. `applies_to_schedules` says which of a trigger's
conditions a schedule evaluates: these, and Expression; execution conditions
(ExecutionStatus, ExecutionFlow …) have no execution to look at and are ignored, as Kestra
ignores every condition that is not a ScheduleCondition.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, Field, model_validator

from engine.plugin import Condition, plugin
from triggers.conditions import Expression

__all__ = [
    "CONDITIONS",
    "DateTimeBetween",
    "DayWeek",
    "DayWeekInMonth",
    "Not",
    "Or",
    "Weekend",
    "applies_to_schedules",
    "parse_moment",
]

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
DayOfWeek = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
_ORDINALS = ("FIRST", "SECOND", "THIRD", "FOURTH")


def parse_moment(text: str) -> datetime:
    """An ISO-8601 date-time (or date: its midnight) as a datetime. A value without an
    offset stays naive: only its wall clock is read, except by DateTimeBetween (UTC)."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time())
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 date-time") from None


class DateCondition(Condition):
    """A condition on one date, read from `date` (a template over the trigger's facts)."""

    is_schedule_condition: ClassVar[bool] = True

    date: str = "{{ trigger.date }}"

    def moment(self, facts: Mapping[str, Any], renderer: Any) -> datetime:
        if self.date.replace(" ", "") == "{{trigger.date}}":
            # The default, read without a template render: a schedule tests many slots
            # when it looks for the next one its conditions accept.
            given = facts.get("trigger", {}).get("date")
            if isinstance(given, str):
                return parse_moment(given)
        text = renderer.render(self.date, facts) if "{" in self.date else self.date
        return parse_moment(str(text))


@plugin(
    "io.kestra.plugin.core.condition.DayWeek", "io.kestra.plugin.core.condition.DayWeekCondition"
)
class DayWeek(DateCondition):
    """True when the date falls on `dayOfWeek`."""

    dayOfWeek: DayOfWeek

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        return DAYS[self.moment(facts, renderer).weekday()] == self.dayOfWeek


@plugin(
    "io.kestra.plugin.core.condition.DayWeekInMonth",
    "io.kestra.plugin.core.condition.DayWeekInMonthCondition",
)
class DayWeekInMonth(DateCondition):
    """True when the date is the first (second, third, fourth, last) `dayOfWeek` of its month."""

    dayOfWeek: DayOfWeek
    dayInMonth: Literal["FIRST", "SECOND", "THIRD", "FOURTH", "LAST"]

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        day = self.moment(facts, renderer).date()
        if DAYS[day.weekday()] != self.dayOfWeek:
            return False
        if self.dayInMonth == "LAST":
            return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
        return (day.day - 1) // 7 == _ORDINALS.index(self.dayInMonth)


@plugin(
    "io.kestra.plugin.core.condition.Weekend", "io.kestra.plugin.core.condition.WeekendCondition"
)
class Weekend(DateCondition):
    """True on Saturdays and Sundays."""

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        return self.moment(facts, renderer).weekday() >= 5


@plugin(
    "io.kestra.plugin.core.condition.DateTimeBetween",
    "io.kestra.plugin.core.condition.DateTimeBetweenCondition",
)
class DateTimeBetween(DateCondition):
    """True when `after` <= date <= `before` (bounds included, as in Kestra)."""

    after: AwareDatetime | None = None
    before: AwareDatetime | None = None

    @model_validator(mode="after")
    def _needs_a_bound(self) -> DateTimeBetween:
        # Kestra fails at evaluation time; a flow that cannot work is refused when saved.
        if self.after is None and self.before is None:
            raise ValueError("DateTimeBetween needs 'after', 'before' or both")
        if self.after is not None and self.before is not None and self.after > self.before:
            raise ValueError("'after' is later than 'before': no date can match")
        return self

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        moment = self.moment(facts, renderer)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if self.after is not None and moment < self.after:
            return False
        return self.before is None or moment <= self.before


@plugin("io.kestra.plugin.core.condition.Not", "io.kestra.plugin.core.condition.NotCondition")
class Not(Condition):
    """True when none of `conditions` is true."""

    is_schedule_condition: ClassVar[bool] = True

    conditions: tuple[Condition, ...] = Field(min_length=1)

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        return not any(condition.test(facts, renderer) for condition in self.conditions)


@plugin("io.kestra.plugin.core.condition.Or", "io.kestra.plugin.core.condition.OrCondition")
class Or(Condition):
    """True when at least one of `conditions` is true."""

    is_schedule_condition: ClassVar[bool] = True

    conditions: tuple[Condition, ...] = Field(min_length=1)

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        return any(condition.test(facts, renderer) for condition in self.conditions)


def applies_to_schedules(condition: Condition) -> bool:
    """Whether a Schedule evaluates this condition (Kestra: only ScheduleConditions)."""
    return bool(getattr(condition, "is_schedule_condition", False)) or isinstance(
        condition, Expression
    )


CONDITIONS: tuple[type, ...] = (DateTimeBetween, DayWeek, DayWeekInMonth, Not, Or, Weekend)
