"""Cron arithmetic for the Schedule trigger: parsing, zones, and the slots of an expression.

Pure functions of instants and zones, no I/O: `parse_cron` checks an expression (with
cronsim, see triggers/schedule.py for why) and normalises it to six fields; `Cron` walks
its slots in a zone with the DST rule of triggers/schedule.py; `slot_key` is a slot's
claim key (its instant in UTC).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

__all__ = [
    "NICKNAMES",
    "Cron",
    "as_utc",
    "iso_or_none",
    "parse_cron",
    "server_zone",
    "slot_key",
    "zone_named",
]

NICKNAMES: Mapping[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_PROBE = datetime(2000, 1, 1)
_FIELDS_HELP = "minute hour day-of-month month day-of-week"


@functools.lru_cache(maxsize=1024)
def parse_cron(expression: str, *, with_seconds: bool = False) -> tuple[str, ...]:
    """The six fields (seconds first) of a Kestra cron expression. Raises ValueError."""
    text = expression.strip()
    nickname = NICKNAMES.get(text.lower())
    if nickname is not None:
        fields = ["0", *nickname.split()]
    else:
        fields = text.split()
        if with_seconds and len(fields) != 6:
            raise ValueError(
                f"withSeconds: true needs 6 fields (second {_FIELDS_HELP}), "
                f"got {len(fields)} in {expression!r}"
            )
        if not with_seconds:
            if len(fields) == 6:
                raise ValueError(
                    f"{expression!r} has 6 fields: a seconds field needs withSeconds: true"
                )
            if len(fields) != 5:
                raise ValueError(
                    f"not a cron expression: {expression!r} (5 fields: {_FIELDS_HELP}; "
                    f"or a nickname: {', '.join(NICKNAMES)})"
                )
            fields.insert(0, "0")
    try:
        next(CronSim(" ".join(fields), _PROBE))
    except CronSimError as exc:  # "Bad day-of-month" for `0 0 31 2 *`
        raise ValueError(f"invalid cron expression {expression!r}: {str(exc).lower()}") from None
    except StopIteration:
        raise ValueError(f"cron expression {expression!r} never fires") from None
    return tuple(fields)


def zone_named(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as Europe/Paris)"
        ) from None


@functools.cache
def server_zone() -> tzinfo:
    """This server's time zone, resolved once: an IANA zone when it can be named (so DST
    is followed), else the fixed offset the system reports now."""
    for name in _local_zone_names():
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return datetime.now().astimezone().tzinfo or UTC


def _local_zone_names() -> Iterator[str]:
    if os.environ.get("TZ"):
        yield os.environ["TZ"].removeprefix(":")
    localtime = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in localtime:
        yield localtime.split("zoneinfo/", 1)[1]
    try:
        yield Path("/etc/timezone").read_text(encoding="utf-8").strip()
    except OSError:
        pass


def as_utc(moment: datetime) -> datetime:
    # Aware datetimes sharing a tzinfo compare and subtract by wall time, which is wrong
    # inside a DST fold: every comparison here is made in UTC.
    return moment.astimezone(UTC)


def iso_or_none(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def slot_key(slot: datetime) -> str:
    """A slot's claim key and firing item: its instant in UTC, one key per instant."""
    return as_utc(slot).isoformat()


def _resolve(wall: datetime, zone: tzinfo) -> datetime:
    """The instant of a local wall time: its first occurrence in a fall-back fold, the end
    of the gap when a spring-forward skipped it."""
    first = wall.replace(tzinfo=zone, fold=0)
    if as_utc(first).astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap fold=0 reads the wall time with the offset before the change and fold=1
    # with the one after: the change happened between the two readings. Find it.
    low, high = sorted((as_utc(first), as_utc(wall.replace(tzinfo=zone, fold=1))))
    after = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.astimezone(zone)


@dataclass(frozen=True)
class Cron:
    """The slots of a six-field cron expression in a zone. Pure: instants in, instants out
    (aware, in `zone`), whatever zone the instants given are in."""

    fields: tuple[str, ...]
    zone: tzinfo

    def __repr__(self) -> str:
        return f"<Cron {self.expression!r} {self.zone}>"

    @property
    def expression(self) -> str:
        return " ".join(self.fields)

    @property
    def is_wall_clock(self) -> bool:
        return not self.fields[1].startswith("*") and not self.fields[2].startswith("*")

    def walk(self, instant: datetime, *, reverse: bool = False) -> Iterator[datetime]:
        """Slots strictly after `instant` (before it, with reverse), nearest first."""
        origin = as_utc(instant)
        local = origin.astimezone(self.zone)
        candidates: Iterator[datetime]
        if self.is_wall_clock:
            walls = CronSim(self.expression, local.replace(tzinfo=None), reverse)
            candidates = (_resolve(wall, self.zone) for wall in walls)
        else:  # cronsim steps real time in UTC and reads each instant's wall clock
            candidates = CronSim(self.expression, local, reverse)
        bound = origin
        for candidate in candidates:
            at = as_utc(candidate)
            # Skips the second reading of a fold and repeats from a gap (two wall times
            # resolved to the same instant): slots strictly progress.
            if (at < bound) if reverse else (at > bound):
                bound = at
                yield at.astimezone(self.zone)

    def next_after(self, instant: datetime) -> datetime | None:
        return next(self.walk(instant), None)

    def previous_before(self, instant: datetime) -> datetime | None:
        return next(self.walk(instant, reverse=True), None)

    def range(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Slots in [start, end), oldest first."""
        for slot in self.walk(start - timedelta(microseconds=1)):
            if as_utc(slot) >= as_utc(end):
                return
            yield slot

    def latest(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """The newest `limit` slots in (after, until], oldest first."""
        newest: list[datetime] = []
        for slot in self.walk(until + timedelta(microseconds=1), reverse=True):
            if as_utc(slot) <= as_utc(after) or len(newest) >= limit:
                break
            newest.append(slot)
        return newest[::-1]
