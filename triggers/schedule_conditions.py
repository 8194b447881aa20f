"""Date conditions a Schedule trigger tests before it fires (Kestra's schedule conditions).

    DayWeek          the date falls on `dayOfWeek`
    DayWeekInMonth   … and is the FIRST/SECOND/THIRD/FOURTH/LAST such day of its month
    Weekend          the date is a Saturday or a Sunday
    DateTimeBetween  the date is after `after` and before `before` (either may be left out)
    TimeBetween      … the same for the time of day (OffsetTimes, compared as Java does)
    PublicHoliday    the date is a public holiday of `country` (`subDivision`), from the
                     `holidays` package (Kestra uses Jollyday: a rare holiday may differ)
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
import functools
import locale
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from engine.durations import is_template
from engine.plugin import Condition, plugin
from triggers.conditions import Expression

if TYPE_CHECKING:
    import holidays

__all__ = [
    "CONDITIONS",
    "DateTimeBetween",
    "DayWeek",
    "DayWeekInMonth",
    "Not",
    "Or",
    "PublicHoliday",
    "TimeBetween",
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
    """True when `after` < date < `before` (bounds excluded, as Kestra's isAfter/isBefore)."""

    after: AwareDatetime | None = None
    before: AwareDatetime | None = None

    @model_validator(mode="after")
    def _needs_a_bound(self) -> DateTimeBetween:
        # Kestra fails at evaluation time; a flow that cannot work is refused when saved.
        if self.after is None and self.before is None:
            raise ValueError("DateTimeBetween needs 'after', 'before' or both")
        if self.after is not None and self.before is not None and self.after >= self.before:
            raise ValueError("'after' is not earlier than 'before': no date can match")
        return self

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        moment = self.moment(facts, renderer)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if self.after is not None and moment <= self.after:
            return False
        return self.before is None or moment < self.before


def _offset_time(value: str) -> time:
    try:
        parsed = time.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 time such as 16:19:12+02:00") from None
    if parsed.utcoffset() is None:
        raise ValueError(f"{value!r} has no offset: write it as 16:19:12+02:00 or 16:19:12Z")
    return parsed


def _instant_of_day(moment: time) -> float:
    """Java's OffsetTime order: the time of day minus its offset, not wrapped around
    midnight (01:00+02:00 comes before 00:30Z)."""
    offset = moment.utcoffset()
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
    return seconds - (offset.total_seconds() if offset is not None else 0.0)


@plugin(
    "io.kestra.plugin.core.condition.TimeBetween",
    "io.kestra.plugin.core.condition.TimeBetweenCondition",
)
class TimeBetween(DateCondition):
    """True when the date's time of day is after `after` and before `before` (bounds
    excluded). Bounds are times with an offset (`16:00:00+02:00`); the date is compared
    with its own offset, so both are instants of one day, as Kestra's OffsetTime."""

    after: str | None = None
    before: str | None = None

    @field_validator("after", "before")
    @classmethod
    def _check_time(cls, value: str | None) -> str | None:
        if value is not None:
            _offset_time(value)
        return value

    @model_validator(mode="after")
    def _needs_a_bound(self) -> TimeBetween:
        if self.after is None and self.before is None:
            raise ValueError("TimeBetween needs 'after', 'before' or both")
        return self

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        moment = self.moment(facts, renderer)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        now = _instant_of_day(moment.timetz())
        if self.after is not None and now <= _instant_of_day(_offset_time(self.after)):
            return False
        return self.before is None or now < _instant_of_day(_offset_time(self.before))


@functools.lru_cache(maxsize=64)
def _calendar(country: str, subdivision: str | None) -> holidays.HolidayBase:
    import holidays  # its calendars load on the first PublicHoliday, not with the catalog

    try:
        return holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        where = f"{country}/{subdivision}" if subdivision else country
        raise ValueError(
            f"no public holiday calendar for {where!r}: use an ISO 3166-1 alpha-2 country "
            "code (and an ISO 3166-2 subdivision code the country has)"
        ) from None


def _server_country() -> str:
    """Kestra's default: the country of the server's locale."""
    name = locale.getlocale()[0] or ""
    country = name.split("_", 1)[1][:2] if "_" in name else ""
    if len(country) != 2 or not country.isalpha():
        raise ValueError(
            "PublicHoliday has no 'country' and the server's locale names none: set 'country'"
        )
    return country.upper()


@plugin(
    "io.kestra.plugin.core.condition.PublicHoliday",
    "io.kestra.plugin.core.condition.PublicHolidayCondition",
)
class PublicHoliday(DateCondition):
    """True when the date (its local day) is a public holiday of `country`, or of its
    `subDivision` (ISO 3166-2, e.g. DE with BE for Berlin). Without `country`, the
    server locale's country, as in Kestra."""

    country: str | None = None
    subDivision: str | None = None

    @model_validator(mode="after")
    def _known_calendar(self) -> PublicHoliday:
        country, subdivision = self.country, self.subDivision
        if country is None or is_template(country):
            return self
        if subdivision is not None and is_template(subdivision):
            subdivision = None
        _calendar(country.strip().upper(), subdivision.strip().upper() if subdivision else None)
        return self

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        day = self.moment(facts, renderer).date()
        country = _rendered(self.country, facts, renderer) or _server_country()
        subdivision = _rendered(self.subDivision, facts, renderer)
        return day in _calendar(country.upper(), subdivision.upper() if subdivision else None)


def _rendered(value: str | None, facts: Mapping[str, Any], renderer: Any) -> str | None:
    if value is None:
        return None
    text = str(renderer.render(value, facts)) if is_template(value) else value
    return text.strip() or None


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


CONDITIONS: tuple[type, ...] = (
    DateTimeBetween,
    DayWeek,
    DayWeekInMonth,
    Not,
    Or,
    PublicHoliday,
    TimeBetween,
    Weekend,
)
