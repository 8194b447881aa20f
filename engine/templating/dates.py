"""Kestra's date filters, with Java `DateTimeFormatter` patterns.

Flows say `{{ trigger.date | date("yyyy-MM") }}`, so patterns are Java's, not strftime's:
`MM` is the month, `mm` the minute, `EEE` the day name, `XXX` the offset, `'T'` a literal.
Inputs may be datetimes, dates, ISO-8601 strings (with `Z` or an offset) or epoch seconds;
as in Kestra, a naive value is read in the target time zone (default UTC) and a date
stands for noon that day, so converting it between zones keeps the same day.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import TemplateError

__all__ = [
    "date_add",
    "format_date",
    "format_java",
    "parse_date",
    "timestamp",
    "timestamp_micro",
    "timestamp_milli",
    "timestamp_nano",
    "zone",
]

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_NAMED = {
    "iso": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "iso_sec": "yyyy-MM-dd'T'HH:mm:ssXXX",
    "sql": "yyyy-MM-dd HH:mm:ss.SSSSSS",
    "sql_seq": "yyyy-MM-dd HH:mm:ss",
    "iso_date": "yyyy-MM-ddXXX",
    "iso_local_date": "yyyy-MM-dd",
    "iso_local_time": "HH:mm:ss",
    "iso_local_date_time": "yyyy-MM-dd'T'HH:mm:ss",
    "iso_offset_date_time": "yyyy-MM-dd'T'HH:mm:ssXXX",
    "iso_date_time": "yyyy-MM-dd'T'HH:mm:ssXXX'['VV']'",
    "iso_zoned_date_time": "yyyy-MM-dd'T'HH:mm:ssXXX'['VV']'",
    "iso_time": "HH:mm:ssXXX",
    "iso_offset_time": "HH:mm:ssXXX",
    "iso_ordinal_date": "yyyy-DDDXXX",
    "rfc_1123_date_time": "EEE, d MMM yyyy HH:mm:ss 'GMT'",
    "short": "M/d/yy, h:mm a",
    "medium": "MMM d, yyyy, h:mm:ss a",
    "long": "MMMM d, yyyy 'at' h:mm:ss a z",
    "full": "EEEE, MMMM d, yyyy 'at' h:mm:ss a zzzz",
}
_MONTHS = tuple(calendar.month_name)
_DAYS = tuple(calendar.day_name)
_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$")
_PATTERN_TOKEN = re.compile(r"'(?:[^']|'')*'|''|([A-Za-z])\1*|[^A-Za-z']+|'")


@lru_cache(maxsize=256)
def zone(name: str | None) -> dt.tzinfo:
    """An IANA zone ("Europe/Paris"), "UTC"/"Z", or a fixed offset ("+02:00")."""
    if name is None or name in ("UTC", "Z", "GMT", "Etc/UTC"):
        return UTC
    if not isinstance(name, str):
        raise TemplateError(f"timeZone must be a string, not {name!r}")
    if (offset := _OFFSET.match(name)) is not None:
        sign, hours, minutes = offset.groups()
        delta = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
        return dt.timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TemplateError(f"unknown time zone {name!r}") from None


def parse_date(value: Any, tz: dt.tzinfo, existing_format: str | None = None) -> dt.datetime:
    """`value` as an aware datetime (see the module docstring for the rules)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(12), tz)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, tz)
        except (OverflowError, OSError, ValueError):
            raise TemplateError(f"epoch value {value!r} is out of range") from None
    if isinstance(value, str):
        text = value.strip()
        if existing_format is not None and existing_format not in ("iso", "iso_sec"):
            return _parse_with_pattern(text, existing_format, tz)
        try:
            if len(text) == 10:
                return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(12), tz)
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise TemplateError(f"{value!r} is not an ISO-8601 date") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
    raise TemplateError(f"cannot read a date from {type(value).__name__} {value!r}")


def kestra_iso(moment: dt.datetime | dt.date | dt.time) -> str:
    """A date as Kestra prints it in a template: ISO 8601 with milliseconds, `Z` for UTC
    (`2024-01-31T10:00:00.000Z`); a date or a time alone in plain ISO form."""
    if not isinstance(moment, dt.datetime):
        return moment.isoformat()
    if moment.tzinfo is None:
        return moment.isoformat(timespec="milliseconds")
    text = moment.isoformat(timespec="milliseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def format_date(
    value: Any,
    format: str = "iso",  # Kestra's argument names, used as keywords in flows
    timeZone: str | None = None,
    existingFormat: str | None = None,
    locale: str | None = None,
) -> str:
    """The `date` filter."""
    if value is None:
        return ""
    tz = zone(timeZone)
    return format_java(parse_date(value, tz, existingFormat).astimezone(tz), format)


def date_add(
    value: Any,
    amount: int,
    unit: str,
    format: str | None = None,
    timeZone: str | None = None,
    existingFormat: str | None = None,
    locale: str | None = None,
) -> Any:
    """The `dateAdd` filter: a datetime, or a string when `format` is given.

    Like Java's ChronoUnit: units up to HALF_DAYS add an exact duration; DAYS and longer
    move the wall clock, and MONTHS/YEARS clamp to the month's last day (Jan 31 + 1 month
    is Feb 28 or 29).
    """
    if value is None:
        return None
    if isinstance(amount, bool) or not isinstance(amount, (int, str)):
        raise TemplateError(f"dateAdd amount must be an integer, not {amount!r}")
    try:
        count = int(amount)
    except ValueError:
        raise TemplateError(f"dateAdd amount must be an integer, not {amount!r}") from None
    tz = zone(timeZone)
    moment = parse_date(value, tz, existingFormat).astimezone(tz)
    result = _add(moment, count, str(unit).upper(), tz)
    return result if format is None else format_java(result, format)


# Microseconds per unit; NANOS is 1/1000 (Python datetimes stop at microseconds).
_EXACT_UNITS = {
    "NANOS": 0,
    "MICROS": 1,
    "MILLIS": 1_000,
    "SECONDS": 1_000_000,
    "MINUTES": 60_000_000,
    "HOURS": 3_600_000_000,
    "HALF_DAYS": 43_200_000_000,
}
_DAY_UNITS = {"DAYS": 1, "WEEKS": 7}
_MONTH_UNITS = {"MONTHS": 1, "YEARS": 12, "DECADES": 120, "CENTURIES": 1200, "MILLENNIA": 12000}


def _add(moment: dt.datetime, count: int, unit: str, tz: dt.tzinfo) -> dt.datetime:
    try:
        if unit in _EXACT_UNITS:
            micros = count // 1000 if unit == "NANOS" else count * _EXACT_UNITS[unit]
            return (moment.astimezone(UTC) + dt.timedelta(microseconds=micros)).astimezone(tz)
        if unit in _DAY_UNITS:
            shifted = moment + dt.timedelta(days=count * _DAY_UNITS[unit])
        elif unit in _MONTH_UNITS:
            months = moment.year * 12 + moment.month - 1 + count * _MONTH_UNITS[unit]
            year, month = divmod(months, 12)
            day = min(moment.day, calendar.monthrange(year, month + 1)[1])
            shifted = moment.replace(year=year, month=month + 1, day=day)
        else:
            units = ", ".join([*_EXACT_UNITS, *_DAY_UNITS, *_MONTH_UNITS])
            raise TemplateError(f"unknown dateAdd unit {unit!r} (expected one of {units})")
    except (OverflowError, ValueError):
        raise TemplateError(f"date out of range after adding {count} {unit}") from None
    # Aware arithmetic keeps the wall clock; a round trip through UTC moves a time that
    # falls in a DST gap forward, as Java does.
    return shifted.astimezone(UTC).astimezone(tz)


def _epoch_micros(value: Any, timeZone: str | None, existingFormat: str | None) -> int:
    delta = parse_date(value, zone(timeZone), existingFormat) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def timestamp(value: Any, timeZone: str | None = None, existingFormat: str | None = None) -> int:
    """Epoch seconds."""
    return _epoch_micros(value, timeZone, existingFormat) // 1_000_000


def timestamp_milli(
    value: Any, timeZone: str | None = None, existingFormat: str | None = None
) -> int:
    return _epoch_micros(value, timeZone, existingFormat) // 1_000


def timestamp_micro(
    value: Any, timeZone: str | None = None, existingFormat: str | None = None
) -> int:
    return _epoch_micros(value, timeZone, existingFormat)


def timestamp_nano(
    value: Any, timeZone: str | None = None, existingFormat: str | None = None
) -> int:
    return _epoch_micros(value, timeZone, existingFormat) * 1_000


@lru_cache(maxsize=512)
def _compile_pattern(pattern: str) -> tuple[tuple[str, int] | str, ...]:
    """A Java pattern as (letter, count) fields and literal strings."""
    pattern = _NAMED.get(pattern, pattern)
    parts: list[tuple[str, int] | str] = []
    for match in _PATTERN_TOKEN.finditer(pattern):
        token = match.group()
        if match.group(1):
            parts.append((token[0], len(token)))
        elif token == "''":
            parts.append("'")
        elif token.startswith("'") and len(token) > 1 and token.endswith("'"):
            parts.append(token[1:-1].replace("''", "'"))
        elif token == "'":
            raise TemplateError(f"unterminated quote in date pattern {pattern!r}")
        else:
            # `[` and `]` mark optional sections; every field is available, so print them.
            parts.append(token.replace("[", "").replace("]", ""))
    return tuple(parts)


def format_java(moment: dt.datetime, pattern: str) -> str:
    """`moment` formatted with a Java DateTimeFormatter pattern (or a Kestra named format)."""
    if not isinstance(pattern, str):
        raise TemplateError(f"date format must be a string, not {pattern!r}")
    out: list[str] = []
    for part in _compile_pattern(pattern):
        out.append(part if isinstance(part, str) else _field(moment, part[0], part[1]))
    return "".join(out)


def _pad(number: int, width: int) -> str:
    return f"{number:0{width}d}"


def _text(full: str, count: int) -> str:
    return full[:3] if count <= 3 else full if count == 4 else full[0]


def _field(m: dt.datetime, letter: str, count: int) -> str:
    if letter in "yu":
        return _pad(m.year % 100, 2) if count == 2 else _pad(m.year, count)
    if letter == "Y":
        year = m.isocalendar().year
        return _pad(year % 100, 2) if count == 2 else _pad(year, count)
    if letter in "ML":
        return _pad(m.month, count) if count <= 2 else _text(_MONTHS[m.month], count)
    if letter == "d":
        return _pad(m.day, count)
    if letter == "D":
        return _pad(m.timetuple().tm_yday, count)
    if letter == "E":
        return _text(_DAYS[m.weekday()], count)
    if letter in "Qq":
        quarter = (m.month - 1) // 3 + 1
        if count <= 2:
            return _pad(quarter, count)
        return f"Q{quarter}" if count == 3 else f"{quarter}{_ordinal(quarter)} quarter"
    if letter == "w":
        return _pad(m.isocalendar().week, count)
    if letter == "a":
        return "AM" if m.hour < 12 else "PM"
    if letter == "H":
        return _pad(m.hour, count)
    if letter == "h":
        return _pad(m.hour % 12 or 12, count)
    if letter == "k":
        return _pad(m.hour or 24, count)
    if letter == "K":
        return _pad(m.hour % 12, count)
    if letter == "m":
        return _pad(m.minute, count)
    if letter == "s":
        return _pad(m.second, count)
    if letter == "S":
        return f"{m.microsecond * 1000:09d}"[:count].ljust(count, "0")
    if letter == "n":
        return _pad(m.microsecond * 1000, count)
    if letter == "A":
        return _pad(
            (m.hour * 3600 + m.minute * 60 + m.second) * 1000 + m.microsecond // 1000, count
        )
    if letter == "G":
        return "AD" if count <= 3 else "Anno Domini" if count == 4 else "A"
    if letter in "XxZO":
        return _offset(m, letter, count)
    if letter == "V":
        return getattr(m.tzinfo, "key", None) or _offset(m, "X", 3)
    if letter == "z":
        return m.tzname() or _offset(m, "O", 1)
    raise TemplateError(f"unsupported letter {letter!r} in date pattern")


def _ordinal(n: int) -> str:
    return {1: "st", 2: "nd", 3: "rd"}.get(n, "th")


def _offset(m: dt.datetime, letter: str, count: int) -> str:
    total = int((m.utcoffset() or dt.timedelta()).total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    if letter == "O":
        if total == 0:
            return "GMT"
        return (
            f"GMT{sign}{hours}" + (f":{minutes:02d}" if minutes else "")
            if count == 1
            else (f"GMT{sign}{hours:02d}:{minutes:02d}")
        )
    if letter == "Z":
        if count == 4:
            return "GMT" if total == 0 else f"GMT{sign}{hours:02d}:{minutes:02d}"
        if count == 5:
            letter, count = "X", 5
        else:
            return f"{sign}{hours:02d}{minutes:02d}"
    if letter == "X" and total == 0:
        return "Z"
    colon = ":" if count in (3, 5) else ""
    text = f"{sign}{hours:02d}"
    if count > 1 or minutes:
        text += f"{colon}{minutes:02d}"
    if count >= 4 and seconds:
        text += f"{colon}{seconds:02d}"
    return text


_STRPTIME = {
    ("y", 2): "%y",
    ("M", 1): "%m",
    ("M", 2): "%m",
    ("M", 3): "%b",
    ("M", 4): "%B",
    ("d", 1): "%d",
    ("d", 2): "%d",
    ("H", 1): "%H",
    ("H", 2): "%H",
    ("h", 1): "%I",
    ("h", 2): "%I",
    ("m", 1): "%M",
    ("m", 2): "%M",
    ("s", 1): "%S",
    ("s", 2): "%S",
    ("a", 1): "%p",
    ("E", 3): "%a",
    ("E", 4): "%A",
    ("D", 3): "%j",
    ("z", 1): "%Z",
}


def _parse_with_pattern(text: str, pattern: str, tz: dt.tzinfo) -> dt.datetime:
    directives: list[str] = []
    for part in _compile_pattern(pattern):
        if isinstance(part, str):
            directives.append(part.replace("%", "%%"))
        elif part[0] in "yu" and part[1] != 2:
            directives.append("%Y")
        elif part[0] == "S":
            directives.append("%f")
        elif part[0] in "XxZ":
            directives.append("%z")
        elif part in _STRPTIME:
            directives.append(_STRPTIME[part])
        else:
            raise TemplateError(f"cannot parse dates with pattern letter {part[0]!r}")
    try:
        parsed = dt.datetime.strptime(text, "".join(directives))
    except ValueError as exc:
        raise TemplateError(f"{text!r} does not match date pattern {pattern!r}: {exc}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
