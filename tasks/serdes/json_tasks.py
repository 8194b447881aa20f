"""io.kestra.plugin.serdes.json.JsonToIon and IonToJson.

`newLine: true` (the default) is JSON lines, one value per line; `newLine: false` is one
JSON document: an array's items are the rows (read item by item, never the whole array
at once), any other value is one row. Numbers with a fraction or an exponent become Ion
floats, as Jackson reads them in Kestra. IonToJson writes dates and times ISO-8601
(timestamps with an offset shown in `timeZoneId`), decimals as numbers, blobs base64.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import IO, Any

import orjson
from pydantic import Field

from engine.errors import TaskFailed
from engine.ion import MAX_ROW_CHARS, IonWriter, read_rows
from engine.plugin import RunContext, Task, plugin
from engine.values import jsonable
from tasks.properties import masks_failures, render_flag, render_text
from tasks.serdes.conversion import render_charset, render_zone, run_conversion, source_path

__all__ = ["IonToJson", "JsonToIon", "json_array_items"]

_CHUNK = 1 << 20
_DECODER = json.JSONDecoder()


@plugin("io.kestra.plugin.serdes.json.JsonToIon")
class JsonToIon(Task):
    """Convert a JSON (or JSON lines) file to Ion rows."""

    from_: str = Field(alias="from")
    charset: str = "UTF-8"
    newLine: bool | str = True

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        charset = render_charset(ctx, self.charset)
        is_lines = bool(render_flag(ctx, self.newLine, "newLine"))
        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.ion"

        def job(tick: Callable[[], None]) -> int:
            encoding = "utf-8-sig" if charset == "utf-8" else charset
            with (
                source.open("r", encoding=encoding, newline="") as handle,
                target.open("wb") as out,
            ):
                writer = IonWriter(out)
                rows = _json_lines(handle) if is_lines else json_array_items(handle)
                for row in rows:
                    tick()
                    writer.write_one(row)
                writer.close()
                return writer.size

        size = await run_conversion(ctx, job)
        ctx.metric("records", size)
        uri = ctx.storage.put_file(f"{self.id}.ion", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}


def _json_lines(handle: IO[str]) -> Iterator[Any]:
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise TaskFailed(f"line {number} is not JSON: {exc}") from None


def json_array_items(handle: IO[str]) -> Iterator[Any]:
    """The items of a JSON array read in 1 MiB slices (or the one value of a document
    that is not an array)."""
    buffer = handle.read(_CHUNK)
    is_done = len(buffer) < _CHUNK
    position = _skip_space(buffer, 0)
    if position == len(buffer) and is_done:
        return
    if buffer[position : position + 1] != "[":
        buffer += handle.read(MAX_ROW_CHARS + 1)  # one document that is not an array: one row
        if len(buffer) > MAX_ROW_CHARS:
            raise TaskFailed(f"a JSON value over {MAX_ROW_CHARS} characters cannot be one row")
        try:
            yield json.loads(buffer)
        except json.JSONDecodeError as exc:
            raise TaskFailed(f"the file is not JSON: {exc}") from None
        return
    position += 1
    expect_item, count = True, 0
    while True:
        position = _skip_space(buffer, position)
        if position >= len(buffer) - 1 and not is_done:
            buffer, position, is_done = _more(handle, buffer, position)
            continue
        char = buffer[position : position + 1]
        if char == "]" and (not expect_item or count == 0):
            return
        if char == "," and not expect_item:
            expect_item = True
            position += 1
            continue
        try:
            value, end = _DECODER.raw_decode(buffer, position)
        except json.JSONDecodeError as exc:
            if is_done:
                raise TaskFailed(f"the file is not a JSON array: {exc}") from None
            buffer, position, is_done = _more(handle, buffer, position)
            continue
        if end >= len(buffer) and not is_done:  # a number may go on in the next slice
            buffer, position, is_done = _more(handle, buffer, position)
            continue
        if not expect_item:
            raise TaskFailed(f"the file is not a JSON array: ',' expected at {position}")
        yield value
        position, expect_item, count = end, False, count + 1


def _more(handle: IO[str], buffer: str, position: int) -> tuple[str, int, bool]:
    if len(buffer) - position > MAX_ROW_CHARS:
        raise TaskFailed(f"an item of the JSON array is over {MAX_ROW_CHARS} characters")
    chunk = handle.read(max(_CHUNK, len(buffer) - position))
    return buffer[position:] + chunk, 0, not chunk


def _skip_space(buffer: str, position: int) -> int:
    while position < len(buffer) and buffer[position] in " \t\r\n":
        position += 1
    return position


@plugin("io.kestra.plugin.serdes.json.IonToJson")
class IonToJson(Task):
    """Convert an Ion file of rows to JSON lines (or one JSON array)."""

    from_: str = Field(alias="from")
    charset: str = "UTF-8"
    newLine: bool | str = True
    timeZoneId: str = "UTC"
    shouldKeepAnnotations: bool | str = False

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        charset = render_charset(ctx, self.charset)
        is_lines = bool(render_flag(ctx, self.newLine, "newLine"))
        if render_flag(ctx, self.shouldKeepAnnotations, "shouldKeepAnnotations"):
            raise TaskFailed(
                "shouldKeepAnnotations: true is not supported: Podium reads Kestra's "
                "annotations as the dates and times they stand for"
            )
        zone = render_zone(ctx, self.timeZoneId)

        def default(value: Any) -> Any:
            if isinstance(value, datetime):
                if value.tzinfo is None:
                    return value.isoformat()
                text = value.astimezone(zone).isoformat()
                return text[:-6] + "Z" if text.endswith("+00:00") else text
            return jsonable(value)

        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.json"
        options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS

        def job(tick: Callable[[], None]) -> int:
            size = 0
            with target.open("w", encoding=charset, newline="") as out:
                out.write("" if is_lines else "[")
                for row in read_rows(source):
                    tick()
                    text = orjson.dumps(row, default=default, option=options).decode()
                    if is_lines:
                        out.write(text + "\n")
                    else:
                        out.write(("," if size else "") + text)
                    size += 1
                out.write("" if is_lines else "]")
            return size

        size = await run_conversion(ctx, job)
        ctx.metric("records", size)
        suffix = "jsonl" if is_lines else "json"
        uri = ctx.storage.put_file(f"{self.id}.{suffix}", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}
