"""Kestra's date filters with Java DateTimeFormatter patterns. Fixed instants only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine.errors import TemplateError
from engine.templating import Renderer

# Tuesday 5 March 2024, 14:07:09.123456 UTC
MOMENT = dt.datetime(2024, 3, 5, 14, 7, 9, 123456, tzinfo=dt.UTC)
EPOCH = 1709647629


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(clock=lambda: MOMENT)


def render(renderer: Renderer, template: str, **context: Any) -> str:
    return renderer.render(template, {"d": MOMENT, **context})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd", "2024-03-05"),
        ("yyyy-MM", "2024-03"),
        ("yy", "24"),
        ("y", "2024"),
        ("M", "3"),
        ("MM", "03"),
        ("MMM", "Mar"),
        ("MMMM", "March"),
        ("d", "5"),
        ("dd", "05"),
        ("D", "65"),
        ("HH:mm:ss", "14:07:09"),
        ("H", "14"),
        ("hh", "02"),
        ("h a", "2 PM"),
        ("k K", "14 2"),
        ("m s", "7 9"),
        ("SSS", "123"),
        ("SSSSSS", "123456"),
        ("SSSSSSSSS", "123456000"),
        ("EEE", "Tue"),
        ("EEEE", "Tuesday"),
        ("E", "Tue"),
        ("Q QQQ", "1 Q1"),
        ("w", "10"),
        ("XXX", "Z"),
        ("X", "Z"),
        ("xxx", "+00:00"),
        ("Z", "+0000"),
        ("z", "UTC"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T14:07:09.123Z"),
        ("'Week' w 'of' yyyy", "Week 10 of 2024"),
        ("'it''s' HH'h'", "it's 14h"),
        ("dd/MM/yyyy [HH:mm]", "05/03/2024 14:07"),
        ("iso", "2024-03-05T14:07:09.123456Z"),
        ("iso_sec", "2024-03-05T14:07:09Z"),
        ("sql", "2024-03-05 14:07:09.123456"),
        ("sql_seq", "2024-03-05 14:07:09"),
        ("iso_local_date", "2024-03-05"),
        ("rfc_1123_date_time", "Tue, 5 Mar 2024 14:07:09 GMT"),
    ],
)
def test_java_patterns(renderer: Renderer, pattern: str, expected: str) -> None:
    assert render(renderer, "{{ d | date(p) }}", p=pattern) == expected


def test_default_pattern_is_kestra_iso(renderer: Renderer) -> None:
    assert render(renderer, "{{ d | date }}") == "2024-03-05T14:07:09.123456Z"
    assert render(renderer, "{{ d | date(timeZone='Asia/Kolkata') }}") == (
        "2024-03-05T19:37:09.123456+05:30"
    )


@pytest.mark.parametrize(
    ("zone", "pattern", "expected"),
    [
        ("Europe/Paris", "yyyy-MM-dd HH:mm XXX", "2024-03-05 15:07 +01:00"),
        ("Europe/Paris", "Z z VV O", "+0100 CET Europe/Paris GMT+1"),
        ("America/New_York", "HH:mm XXX xx", "09:07 -05:00 -0500"),
        ("Asia/Kolkata", "HH:mm X ZZZZ", "19:37 +0530 GMT+05:30"),
        ("Australia/Sydney", "yyyy-MM-dd HH:mm", "2024-03-06 01:07"),
        ("UTC", "HH:mm XXX", "14:07 Z"),
        ("+02:00", "HH:mm XXX", "16:07 +02:00"),
    ],
)
def test_time_zones(renderer: Renderer, zone: str, pattern: str, expected: str) -> None:
    assert render(renderer, "{{ d | date(p, timeZone=z) }}", p=pattern, z=zone) == expected


def test_summer_time(renderer: Renderer) -> None:
    summer = dt.datetime(2024, 7, 1, 12, 0, tzinfo=dt.UTC)
    assert (
        renderer.render("{{ s | date('HH:mm XXX z', timeZone='Europe/Paris') }}", {"s": summer})
        == "14:00 +02:00 CEST"
    )


@pytest.mark.parametrize(
    "value",
    [
        MOMENT,
        "2024-03-05T14:07:09.123456Z",
        "2024-03-05T15:07:09.123456+01:00",
        "2024-03-05 14:07:09.123456",  # naive: read in the target zone (UTC)
        EPOCH + 0.123456,
    ],
)
def test_accepted_inputs(renderer: Renderer, value: Any) -> None:
    assert renderer.render("{{ v | date('yyyy-MM-dd HH:mm:ss.SSS') }}", {"v": value}) == (
        "2024-03-05 14:07:09.123"
    )


def test_epoch_seconds(renderer: Renderer) -> None:
    assert renderer.render("{{ v | date('iso_sec') }}", {"v": EPOCH}) == "2024-03-05T14:07:09Z"


def test_naive_values_are_read_in_the_target_zone(renderer: Renderer) -> None:
    naive = dt.datetime(2024, 3, 5, 9, 0)
    assert (
        renderer.render("{{ v | date('HH:mm XXX', timeZone='Europe/Paris') }}", {"v": naive})
        == "09:00 +01:00"
    )


def test_dates_stand_for_noon(renderer: Renderer) -> None:
    assert renderer.render("{{ v | date('yyyy-MM-dd HH') }}", {"v": dt.date(2024, 3, 5)}) == (
        "2024-03-05 12"
    )
    assert renderer.render("{{ '2024-03-05' | date('EEE dd') }}", {}) == "Tue 05"


def test_existing_format(renderer: Renderer) -> None:
    template = "{{ v | date('yyyy-MM-dd HH:mm', existingFormat='dd/MM/yyyy HH:mm') }}"
    assert renderer.render(template, {"v": "05/03/2024 14:07"}) == "2024-03-05 14:07"
    template = "{{ v | date('iso_sec', existingFormat=\"yyyyMMdd'T'HHmmssXX\") }}"
    assert renderer.render(template, {"v": "20240305T150709+0100"}) == "2024-03-05T14:07:09Z"


def test_none_prints_empty(renderer: Renderer) -> None:
    assert renderer.render("{{ v | date('yyyy') }}", {"v": None}) == ""


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ d | date('yyyy', timeZone='Mars/Olympus') }}", "unknown time zone"),
        ("{{ 'yesterday' | date('yyyy') }}", "not an ISO-8601 date"),
        ("{{ d | date('yyyy \\'open') }}", "unterminated quote"),
        ("{{ d | date('bbb') }}", "unsupported letter 'b'"),
        ("{{ [1] | date('yyyy') }}", "cannot read a date"),
        ("{{ true | date('yyyy') }}", "cannot read a date"),
        ("{{ '5 March' | date('yyyy', existingFormat='dd/MM') }}", "does not match"),
    ],
)
def test_date_errors(renderer: Renderer, template: str, error: str) -> None:
    with pytest.raises(TemplateError, match=error):
        render(renderer, template)


# -- dateAdd -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "amount", "unit", "expected"),
    [
        ("2024-01-31T10:00:00Z", 1, "MONTHS", "2024-02-29T10:00:00Z"),
        ("2023-01-31T10:00:00Z", 1, "MONTHS", "2023-02-28T10:00:00Z"),
        ("2024-03-31T10:00:00Z", -1, "MONTHS", "2024-02-29T10:00:00Z"),
        ("2024-01-31T10:00:00Z", 3, "MONTHS", "2024-04-30T10:00:00Z"),
        ("2024-12-15T10:00:00Z", 1, "MONTHS", "2025-01-15T10:00:00Z"),
        ("2024-01-15T10:00:00Z", -13, "MONTHS", "2022-12-15T10:00:00Z"),
        ("2024-02-29T10:00:00Z", 1, "YEARS", "2025-02-28T10:00:00Z"),
        ("2024-02-29T10:00:00Z", 4, "YEARS", "2028-02-29T10:00:00Z"),
        ("2024-12-31T23:00:00Z", 1, "DAYS", "2025-01-01T23:00:00Z"),
        ("2024-03-05T00:00:00Z", 2, "WEEKS", "2024-03-19T00:00:00Z"),
        ("2024-03-05T23:30:00Z", 45, "MINUTES", "2024-03-06T00:15:00Z"),
        ("2024-03-05T00:00:00Z", -1, "SECONDS", "2024-03-04T23:59:59Z"),
        ("2024-03-05T00:00:00Z", 36, "HOURS", "2024-03-06T12:00:00Z"),
        ("2024-03-05T00:00:00Z", 1, "days", "2024-03-06T00:00:00Z"),
        ("2024-03-05T00:00:00Z", "2", "DAYS", "2024-03-07T00:00:00Z"),
    ],
)
def test_date_add(renderer: Renderer, start: str, amount: Any, unit: str, expected: str) -> None:
    template = "{{ s | dateAdd(n, u) | date('iso_sec') }}"
    assert renderer.render(template, {"s": start, "n": amount, "u": unit}) == expected


def test_date_add_returns_a_datetime(renderer: Renderer) -> None:
    result = renderer.evaluate("d | dateAdd(1, 'DAYS')", {"d": MOMENT})
    assert result == MOMENT + dt.timedelta(days=1)
    assert result.tzinfo is not None


def test_date_add_days_keep_the_wall_clock_across_dst(renderer: Renderer) -> None:
    # Europe/Paris moved to summer time on 31 March 2024 at 02:00.
    start = "2024-03-30T12:00:00+01:00"
    days = "{{ s | dateAdd(1, 'DAYS', timeZone='Europe/Paris') | date('iso_sec', timeZone='Europe/Paris') }}"
    hours = "{{ s | dateAdd(24, 'HOURS', timeZone='Europe/Paris') | date('iso_sec', timeZone='Europe/Paris') }}"
    assert renderer.render(days, {"s": start}) == "2024-03-31T12:00:00+02:00"
    assert renderer.render(hours, {"s": start}) == "2024-03-31T13:00:00+02:00"


def test_date_add_with_format(renderer: Renderer) -> None:
    assert render(renderer, "{{ d | dateAdd(-1, 'DAYS', format='yyyy-MM-dd') }}") == "2024-03-04"


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ d | dateAdd(1, 'FORTNIGHTS') }}", "unknown dateAdd unit"),
        ("{{ d | dateAdd('one', 'DAYS') }}", "must be an integer"),
        ("{{ d | dateAdd(1.5, 'DAYS') }}", "must be an integer"),
        ("{{ d | dateAdd(10000, 'YEARS') }}", "out of range"),
    ],
)
def test_date_add_errors(renderer: Renderer, template: str, error: str) -> None:
    with pytest.raises(TemplateError, match=error):
        render(renderer, template)


# -- timestamps and now() ------------------------------------------------------------


def test_timestamps(renderer: Renderer) -> None:
    assert render(renderer, "{{ d | timestamp }}") == str(EPOCH)
    assert render(renderer, "{{ d | timestampMilli }}") == str(EPOCH * 1000 + 123)
    assert render(renderer, "{{ d | timestampMicro }}") == str(EPOCH * 1_000_000 + 123456)
    assert render(renderer, "{{ d | timestampNano }}") == str(EPOCH * 10**9 + 123456000)
    assert render(renderer, "{{ '1969-12-31T23:59:59.5Z' | timestamp }}") == "-1"
    assert renderer.evaluate("'2024-03-05T14:07:09Z' | timestamp", {}) == EPOCH


def test_now_uses_the_renderers_clock(renderer: Renderer) -> None:
    assert renderer.render("{{ now() | date('yyyy-MM-dd HH:mm') }}", {}) == "2024-03-05 14:07"
    paris = renderer.evaluate("now(timeZone='Europe/Paris')", {})
    assert paris == MOMENT
    assert paris.utcoffset() == dt.timedelta(hours=1)


def test_now_defaults_to_an_aware_utc_datetime() -> None:
    value = Renderer().evaluate("now()", {})
    assert isinstance(value, dt.datetime)
    assert value.utcoffset() == dt.timedelta(0)
