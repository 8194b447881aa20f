"""ISO-8601 durations (`PT15S`, `P1DT2H`, `PT0.5S`), as Kestra writes them."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "is_template", "parse_duration"]

_ISO = re.compile(
    r"^(?P<sign>[-+])?P(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$",
    re.IGNORECASE,
)


def is_template(text: str) -> bool:
    """True when `text` holds template syntax and can only be known at run time."""
    return "{{" in text or "{%" in text


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse an ISO-8601 duration; numbers are seconds. Raises ValueError with the reason."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    try:
        return _parse(value)
    except OverflowError:  # timedelta's range is ±999,999,999 days
        raise ValueError(f"duration out of range: {value!r}") from None


def _parse(value: str | int | float) -> timedelta:
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _ISO.match(value.strip())
    if not match or value.strip().upper() in {"P", "PT"} or value.strip().upper().endswith("T"):
        raise ValueError(f"not an ISO-8601 duration (e.g. PT15S, PT1H30M, P1D): {value!r}")
    parts = {
        k: float(v.replace(",", ".")) for k, v in match.groupdict().items() if v and k != "sign"
    }
    delta = timedelta(**parts)
    return -delta if match.group("sign") == "-" else delta


def format_duration(delta: timedelta) -> str:
    """The ISO-8601 form of a duration, as Kestra prints it (`PT1M30S`)."""
    total = delta.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "PT"
    if hours:
        out += f"{int(hours)}H"
    if minutes:
        out += f"{int(minutes)}M"
    if seconds or out == "PT":
        out += f"{seconds:g}S"
    return sign + out
