"""io.kestra.plugin.serdes.csv.CsvToIon and IonToCsv, on Python's `csv` module.

CsvToIon reads a CSV file into Ion rows: with `header` (the default) each row is a map of
the first line's names to the fields' text, otherwise a list of texts; `\\N` is null, as
Kestra reads it. IonToCsv writes the rows of an Ion file (maps: their values, and the
first row's keys as the header; lists: their items) with dates and times formatted by
`dateFormat`, `timeFormat`, `dateTimeFormat` (Java patterns) in `timeZoneId`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from pydantic import Field

from engine.errors import TaskFailed
from engine.ion import IonWriter, read_rows
from engine.plugin import RunContext, Task, plugin
from tasks.properties import masks_failures, render_choice, render_flag, render_integer, render_text
from tasks.serdes.conversion import (
    DateFormats,
    render_char,
    render_charset,
    run_conversion,
    source_path,
)

__all__ = ["CsvToIon", "IonToCsv"]

# Python's reader refuses fields over its process-wide limit (128 KiB by default); Kestra's
# default maxFieldSize is 16 MiB, so the limit is raised once here and `maxFieldSize` is
# checked per field when a flow sets it lower.
_MAX_FIELD = 16 * 1024 * 1024
csv.field_size_limit(max(csv.field_size_limit(), _MAX_FIELD))

BAD_LINES = ("ERROR", "WARN", "SKIP")
EMPTY_HEADERS = ("DROP", "RENAME")
QUOTE_MODES = ("ALWAYS", "REQUIRED", "NON_NUMERIC")
_LINE_DELIMITERS = {"\n", "\r\n", "\r"}


@plugin("io.kestra.plugin.serdes.csv.CsvToIon")
class CsvToIon(Task):
    """Convert a CSV file to Ion rows."""

    from_: str = Field(alias="from")
    header: bool | str = True
    fieldSeparator: str = ","
    textDelimiter: str = '"'
    skipEmptyRows: bool | str = False
    errorOnDifferentFieldCount: bool | str | None = None  # deprecated by Kestra: onBadLines
    onBadLines: str = "ERROR"
    onEmptyHeader: str = "DROP"
    skipRows: int | str = 0
    charset: str = "UTF-8"
    maxBufferSize: int | str | None = None  # a knob of Kestra's Java parser: see docs/flows.md
    allowExtraCharsAfterClosingQuote: bool | str = False
    maxFieldSize: int | str = _MAX_FIELD

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        charset = render_charset(ctx, self.charset)
        options = _ReadOptions(
            has_header=bool(render_flag(ctx, self.header, "header")),
            separator=render_char(ctx, self.fieldSeparator, "fieldSeparator"),
            quote=render_char(ctx, self.textDelimiter, "textDelimiter"),
            skip_empty=bool(render_flag(ctx, self.skipEmptyRows, "skipEmptyRows")),
            bad_lines=_bad_lines(ctx, self),
            empty_header=render_choice(ctx, self.onEmptyHeader, "onEmptyHeader", EMPTY_HEADERS)
            or "DROP",
            skip_rows=render_integer(ctx, self.skipRows, "skipRows", minimum=0) or 0,
            is_strict=not render_flag(
                ctx, self.allowExtraCharsAfterClosingQuote, "allowExtraCharsAfterClosingQuote"
            ),
            max_field=render_integer(ctx, self.maxFieldSize, "maxFieldSize", minimum=1)
            or _MAX_FIELD,
        )
        if self.maxBufferSize is not None:
            render_integer(ctx, self.maxBufferSize, "maxBufferSize", minimum=1)
        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.ion"
        warnings: list[str] = []

        def job(tick: Callable[[], None]) -> int:
            with (
                source.open("r", encoding=_reading(charset), newline="") as handle,
                target.open("wb") as out,
            ):
                writer = IonWriter(out)
                for row in _csv_rows(handle, options, warnings):
                    tick()
                    writer.write_one(row)
                writer.close()
                return writer.size

        try:
            size = await run_conversion(ctx, job)
        except csv.Error as exc:
            raise TaskFailed(f"the CSV file is not valid: {exc}") from None
        for warning in warnings[:100]:
            ctx.logger.warning(warning)
        ctx.metric("records", size)
        uri = ctx.storage.put_file(f"{self.id}.ion", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}


class _ReadOptions:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    has_header: bool
    separator: str
    quote: str
    skip_empty: bool
    bad_lines: str
    empty_header: str
    skip_rows: int
    is_strict: bool
    max_field: int


def _bad_lines(ctx: RunContext, task: CsvToIon) -> str:
    if task.errorOnDifferentFieldCount is not None and not render_flag(
        ctx, task.errorOnDifferentFieldCount, "errorOnDifferentFieldCount"
    ):
        return "SKIP"
    return render_choice(ctx, task.onBadLines, "onBadLines", BAD_LINES) or "ERROR"


def _reading(charset: str) -> str:
    return "utf-8-sig" if charset == "utf-8" else charset  # a UTF-8 BOM is not data


def _column_names(names: list[str], mode: str, warnings: list[str]) -> list[str]:
    """Kestra's onEmptyHeader: DROP trims trailing unnamed columns, RENAME names them."""
    if mode == "RENAME":
        taken = set(names)
        named = []
        for index, name in enumerate(names):
            if not name:
                attempt, name = 1, f"col_{index}"
                while name in taken:
                    attempt += 1
                    name = f"col_{index}_{attempt}"
                taken.add(name)
            named.append(name)
        return named
    kept = max((i for i, n in enumerate(names) if n), default=len(names) - 1) + 1
    if kept < len(names):
        warnings.append(
            f"Dropped {len(names) - kept} trailing unnamed header column(s); their values "
            "are not emitted. Set onEmptyHeader=RENAME to keep them."
        )
    if len(set(names[:kept])) < kept:
        warnings.append(
            "The header has duplicate or empty column names: colliding columns share one "
            "key and only the last value is kept. Set onEmptyHeader=RENAME to keep them all."
        )
    return names[:kept]


def _csv_rows(handle: io.TextIOBase, options: _ReadOptions, warnings: list[str]) -> Iterator[Any]:
    reader = csv.reader(
        handle,
        delimiter=options.separator,
        quotechar=options.quote,
        doublequote=True,
        strict=options.is_strict,
    )
    header: list[str] | None = None
    width = 0
    skipped = 0
    check_size = options.max_field < _MAX_FIELD
    for fields in reader:
        if not fields:
            if options.skip_empty:
                continue
            fields = [""]  # an empty line is one empty field, as Kestra's parser reads it
        if check_size and any(len(f) > options.max_field for f in fields):
            raise TaskFailed(
                f"line {reader.line_num}: a field is over maxFieldSize ({options.max_field})"
            )
        if options.has_header and header is None:
            header = _column_names(fields, options.empty_header, warnings)
            width = len(fields)
            continue
        if skipped < options.skip_rows:
            skipped += 1
            continue
        if "\\N" in fields:
            fields = [None if f == "\\N" else f for f in fields]  # type: ignore[misc]
        if header is None:
            yield fields
            continue
        if len(fields) != width:
            message = (
                f"line {reader.line_num}: bad line (field count mismatch): expected "
                f"{width}, got {len(fields)} fields"
            )
            if options.bad_lines == "ERROR":
                raise TaskFailed(message)
            if options.bad_lines == "WARN":
                warnings.append(message)
            continue
        yield dict(zip(header, fields, strict=False))


@plugin("io.kestra.plugin.serdes.csv.IonToCsv")
class IonToCsv(Task):
    """Convert an Ion file of rows to CSV."""

    from_: str = Field(alias="from")
    header: bool | str = True
    fieldSeparator: str = ","
    textDelimiter: str = '"'
    lineDelimiter: str = "\n"
    alwaysDelimitText: bool | str = False  # deprecated by Kestra: quoteMode
    quoteMode: Literal["ALWAYS", "REQUIRED", "NON_NUMERIC"] | str | None = None
    charset: str = "UTF-8"
    dateFormat: str = "yyyy-MM-dd"
    timeFormat: str = "HH:mm:ss[XXX]"
    dateTimeFormat: str = "yyyy-MM-dd'T'HH:mm:ss.SSS[XXX]"
    timeZoneId: str = "UTC"

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        charset = render_charset(ctx, self.charset)
        has_header = bool(render_flag(ctx, self.header, "header"))
        separator = render_char(ctx, self.fieldSeparator, "fieldSeparator")
        quote = render_char(ctx, self.textDelimiter, "textDelimiter")
        line_end = render_text(ctx, self.lineDelimiter, "lineDelimiter") or "\n"
        if line_end not in _LINE_DELIMITERS:
            raise TaskFailed("property 'lineDelimiter' must be \\n, \\r\\n or \\r")
        mode = render_choice(ctx, self.quoteMode, "quoteMode", QUOTE_MODES)
        if mode is None:
            mode = "ALWAYS" if render_flag(ctx, self.alwaysDelimitText, "x") else "REQUIRED"
        formats = DateFormats.of(ctx, self)
        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.csv"

        def job(tick: Callable[[], None]) -> int:
            with target.open("w", encoding=charset, newline="") as out:
                write = _row_writer(out, separator, quote, line_end, mode)
                return _write_csv(read_rows(source), write, has_header, formats, tick)

        size = await run_conversion(ctx, job)
        ctx.metric("records", size)
        uri = ctx.storage.put_file(f"{self.id}.csv", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}


def _write_csv(
    rows: Iterator[Any],
    write: Callable[[list[Any]], Any],
    has_header: bool,
    formats: DateFormats,
    tick: Callable[[], None],
) -> int:
    text = formats.text
    size = 0
    for row in rows:
        tick()
        if isinstance(row, dict):
            if size == 0 and has_header:
                write(list(row))
            values = row.values()
        elif isinstance(row, list):
            if has_header:
                raise TaskFailed("a row is a list, which has no column names: set header: false")
            values = row  # type: ignore[assignment]
        else:
            raise TaskFailed(f"row {size + 1} is a {type(row).__name__}, not a map or a list")
        write([v if type(v) is str else text(v) for v in values])
        size += 1
    return size


def _row_writer(
    out: io.TextIOBase, separator: str, quote: str, line_end: str, mode: str
) -> Callable[[list[Any]], Any]:
    if mode != "NON_NUMERIC":
        writer = csv.writer(
            out,
            delimiter=separator,
            quotechar=quote,
            lineterminator=line_end,
            quoting=csv.QUOTE_ALL if mode == "ALWAYS" else csv.QUOTE_MINIMAL,
        )
        return writer.writerow
    doubled = quote + quote

    def write(fields: list[Any]) -> None:
        # Kestra's NON_NUMERIC: every field is quoted unless its text is a plain number
        out.write(
            separator.join(
                ""
                if f is None
                else f
                if _is_numeric(f)
                else quote + f.replace(quote, doubled) + quote
                for f in fields
            )
            + line_end
        )

    return write


def _is_numeric(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return (
        bool(body)
        and body.count(".") <= 1
        and body.replace(".", "", 1).isdigit()
        and body.isascii()
    )
