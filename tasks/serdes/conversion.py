"""What every serdes task shares: its source file, its rendered text options, and the
conversion itself, run in a worker thread that streams the file row by row into a new
file of the working directory, then put into internal storage.

A conversion never holds a whole file: rows are read, converted and written one at a
time (and buffered in 1 MiB slices), so a 5 GB file costs the same memory as a small one.
Cancelling the task stops the worker at the next row.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import math
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import StorageError, TaskFailed
from engine.ion import IonError
from engine.plugin import RunContext
from engine.templating.dates import format_java
from tasks.properties import render_text

__all__ = [
    "Cancelled",
    "Conversion",
    "DateFormats",
    "render_char",
    "render_charset",
    "render_zone",
    "run_conversion",
    "source_path",
]

_CHECK_EVERY = 4096  # rows between two looks at the cancel flag


class Cancelled(Exception):
    """The task was cancelled while its worker converted."""


def source_path(ctx: RunContext, uri: str | None, prop: str = "from") -> Path:
    """The local file behind a `kestra:///` URI the task may read."""
    if not uri:
        raise TaskFailed(f"property '{prop}' is required")
    try:
        path = ctx.storage.local_path(uri)
    except StorageError as exc:
        raise TaskFailed(f"property '{prop}': {exc}") from None
    if not path.is_file():
        raise TaskFailed(f"property '{prop}': no file in internal storage at {uri!r}")
    return path


def render_charset(ctx: RunContext, value: Any, name: str = "charset") -> str:
    text = (render_text(ctx, value, name) or "UTF-8").strip()
    try:
        return codecs.lookup(text).name
    except LookupError:
        raise TaskFailed(f"property '{name}': unknown charset {text!r}") from None


def render_char(ctx: RunContext, value: Any, name: str) -> str:
    """A one-character property (a separator, a quote), as Kestra's `Character`."""
    text = render_text(ctx, value, name)
    if text is None or len(text) != 1:
        raise TaskFailed(f"property '{name}' must be one character, not {text!r}")
    return text


def render_zone(ctx: RunContext, value: Any, name: str = "timeZoneId") -> tzinfo:
    zone_name = (render_text(ctx, value, name) or "UTC").strip()
    try:
        return UTC if zone_name in ("UTC", "Z") else ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TaskFailed(f"property '{name}': unknown time zone {zone_name!r}") from None


_OPTIONAL = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True)
class DateFormats:
    """Kestra's AbstractTextWriter: how dates and times become text in CSV and the like.
    Timestamps without an offset are taken as UTC; those with one are shown in `zone`."""

    date_format: str = "yyyy-MM-dd"
    time_format: str = "HH:mm:ss[XXX]"
    datetime_format: str = "yyyy-MM-dd'T'HH:mm:ss.SSS[XXX]"
    zone: tzinfo = UTC

    @classmethod
    def of(cls, ctx: RunContext, task: Any) -> DateFormats:
        zone = render_zone(ctx, task.timeZoneId)
        formats = cls(
            render_text(ctx, task.dateFormat, "dateFormat") or cls.date_format,
            render_text(ctx, task.timeFormat, "timeFormat") or cls.time_format,
            render_text(ctx, task.dateTimeFormat, "dateTimeFormat") or cls.datetime_format,
            zone,
        )
        try:  # a bad pattern fails here, before the first row
            formats.text(datetime(2000, 1, 1, tzinfo=UTC))
            formats.text(date(2000, 1, 1))
            formats.text(time(0, 0))
        except Exception as exc:
            raise TaskFailed(f"a date format is invalid: {exc}") from None
        return formats

    def text(self, value: Any) -> str | None:
        """A field as text: dates and times with the formats, the rest as Kestra's
        `toString` gives it (true, 1.5, the text of a decimal)."""
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return format_java(value.astimezone(self.zone), self.datetime_format)
        if isinstance(value, date):
            return format_java(datetime(value.year, value.month, value.day), self.date_format)
        if isinstance(value, time):
            moment = datetime.combine(date(1970, 1, 1), value)
            if value.tzinfo is None:  # a LocalTime has no offset to print
                return format_java(moment, _OPTIONAL.sub("", self.time_format))
            return format_java(moment, self.time_format)
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, dict | list):
            from engine.ion import dumps

            return dumps(value)
        return str(value)


Conversion = Callable[[Callable[[], None]], int]
"""A conversion job: called in a worker with `tick` (call it once per row: it raises
Cancelled when the task was cancelled); returns the number of rows converted."""


def ticking(rows: Iterator[Any], tick: Callable[[], None]) -> Iterator[Any]:
    for row in rows:
        tick()
        yield row


async def run_conversion(ctx: RunContext, job: Conversion) -> int:
    """Run `job` in a worker thread; a cancelled task stops it at its next row."""
    stop = threading.Event()
    seen = 0

    def tick() -> None:
        nonlocal seen
        seen += 1
        if seen % _CHECK_EVERY == 0 and stop.is_set():
            raise Cancelled

    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, job, tick)
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait([future], timeout=5)
        raise
    except IonError as exc:
        raise TaskFailed(f"property 'from' is not a file of rows Podium can read: {exc}") from None
    except UnicodeDecodeError as exc:
        raise TaskFailed(f"the file is not in the charset given: {exc}") from None
    except UnicodeEncodeError as exc:
        raise TaskFailed(f"a value cannot be written in that charset: {exc}") from None
    except OSError as exc:
        raise TaskFailed(f"could not convert the file: {exc}") from None
