"""io.kestra.plugin.serdes.excel.IonToExcel and ExcelToIon, on openpyxl (the `serdes`
extra: `pip install 'podium[serdes]'`).

Both stream: IonToExcel writes a write-only workbook row by row, ExcelToIon reads a
read-only one row by row. Cells keep their types both ways (numbers, booleans, dates and
timestamps as Excel dates; timestamps with an offset are written in UTC, as Excel has no
time zones). `valueRender: FORMULA` gives a formula cell's last computed value, as in
Kestra; FORMATTED_VALUE and `dateTimeRender: FORMATTED_STRING` need Excel's number
formatter and are refused with a message.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zipfile import BadZipFile, ZipFile

from pydantic import Field

from engine.errors import TaskFailed
from engine.ion import IonWriter, dumps, read_rows
from engine.plugin import RunContext, Task, lazy_import, plugin
from tasks.properties import (
    masks_failures,
    render_choice,
    render_flag,
    render_integer,
    render_strings,
    render_text,
)
from tasks.serdes.conversion import DateFormats, run_conversion, source_path

if TYPE_CHECKING:
    import openpyxl
    from openpyxl import cell as openpyxl_cell
    from openpyxl.utils import datetime as openpyxl_dates
    from openpyxl.utils import exceptions as openpyxl_errors
else:  # the SDK is imported when a task first uses it: the catalog stays fast
    openpyxl = lazy_import("openpyxl")
    openpyxl_cell = lazy_import("openpyxl.cell")
    openpyxl_dates = lazy_import("openpyxl.utils.datetime")
    openpyxl_errors = lazy_import("openpyxl.utils.exceptions")

__all__ = ["TASKS", "ExcelToIon", "IonToExcel"]

VALUE_RENDERS = ("UNFORMATTED_VALUE", "FORMATTED_VALUE", "FORMULA")
DATETIME_RENDERS = ("UNFORMATTED_VALUE", "FORMATTED_STRING", "SERIAL_NUMBER")
_MAX_TITLE = 31  # Excel's limit for a sheet name


@plugin("io.kestra.plugin.serdes.excel.IonToExcel")
class IonToExcel(Task):
    """Write Ion files of rows as the sheets of an Excel workbook (.xlsx)."""

    from_: str | dict[str, str] = Field(alias="from")
    charset: str = "UTF-8"  # xlsx is always UTF-8 inside; accepted as Kestra has it
    sheetsTitle: str = "Sheet"
    header: bool | str = True
    styles: bool | str = True
    dateFormat: str = "yyyy-MM-dd"
    timeFormat: str = "HH:mm:ss[XXX]"
    dateTimeFormat: str = "yyyy-MM-dd'T'HH:mm:ss.SSS[XXX]"
    timeZoneId: str = "UTC"

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        if isinstance(self.from_, dict):  # {sheet title: uri}: one sheet per file
            sources = {
                str(render_text(ctx, title, "from")): source_path(
                    ctx, render_text(ctx, uri, "from")
                )
                for title, uri in self.from_.items()
            }
        else:
            title = render_text(ctx, self.sheetsTitle, "sheetsTitle") or "Sheet"
            sources = {title: source_path(ctx, render_text(ctx, self.from_, "from"))}
        for title in sources:
            if not title or len(title) > _MAX_TITLE or any(c in title for c in "[]:*?/\\"):
                raise TaskFailed(f"{title!r} cannot be a sheet title in Excel")
        has_header = bool(render_flag(ctx, self.header, "header"))
        has_styles = bool(render_flag(ctx, self.styles, "styles"))
        formats = DateFormats.of(ctx, self)
        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.xlsx"

        def job(tick: Callable[[], None]) -> int:
            workbook = openpyxl.Workbook(write_only=True)
            size = 0
            for title, source in sources.items():
                sheet = workbook.create_sheet(title)
                size += _write_sheet(
                    sheet, read_rows(source), has_header, has_styles, formats, tick
                )
            workbook.save(target)
            return size

        size = await run_conversion(ctx, job)
        ctx.metric("records", size)
        uri = ctx.storage.put_file(f"{self.id}.xlsx", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}


def _write_sheet(
    sheet: Any,
    rows: Iterator[Any],
    has_header: bool,
    has_styles: bool,
    formats: DateFormats,
    tick: Callable[[], None],
) -> int:
    size = 0
    for row in rows:
        tick()
        if isinstance(row, dict):
            if size == 0 and has_header:
                sheet.append(list(row))
            values = list(row.values())
        elif isinstance(row, list):
            values = row
        else:
            values = [row]
        sheet.append([_cell(sheet, v, has_styles, formats) for v in values])
        size += 1
    return size


def _cell(sheet: Any, value: Any, has_styles: bool, formats: DateFormats) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
            return str(value)  # past a double's precision: Excel would round it
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        if not has_styles:
            return formats.text(value)
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, time) and value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        cell = openpyxl_cell.WriteOnlyCell(sheet, value=value)
        if isinstance(value, datetime):
            cell.number_format = "yyyy-mm-dd hh:mm:ss"
        elif isinstance(value, date):
            cell.number_format = "yyyy-mm-dd"
        else:
            cell.number_format = "hh:mm:ss"
        return cell
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return dumps(value) if isinstance(value, dict | list) else str(value)


@plugin("io.kestra.plugin.serdes.excel.ExcelToIon")
class ExcelToIon(Task):
    """Read the sheets of an Excel workbook (.xlsx) into Ion files, one per sheet."""

    from_: str = Field(alias="from")
    sheetsTitle: list[str] | str | None = None
    charset: str = "UTF-8"  # xlsx is always UTF-8 inside; accepted as Kestra has it
    valueRender: str = "UNFORMATTED_VALUE"
    dateTimeRender: str = "UNFORMATTED_VALUE"
    header: bool | str = True
    skipEmptyRows: bool | str = False
    skipRows: int | str = 0

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        wanted = render_strings(ctx, self.sheetsTitle, "sheetsTitle")
        value_render = render_choice(ctx, self.valueRender, "valueRender", VALUE_RENDERS)
        date_render = render_choice(ctx, self.dateTimeRender, "dateTimeRender", DATETIME_RENDERS)
        if value_render == "FORMATTED_VALUE" or date_render == "FORMATTED_STRING":
            raise TaskFailed(
                "valueRender FORMATTED_VALUE and dateTimeRender FORMATTED_STRING need Excel's "
                "number formatter, which Podium does not have; use UNFORMATTED_VALUE"
            )
        options: dict[str, Any] = {
            "has_header": bool(render_flag(ctx, self.header, "header")),
            "skip_empty": bool(render_flag(ctx, self.skipEmptyRows, "skipEmptyRows")),
            "skip_rows": render_integer(ctx, self.skipRows, "skipRows", minimum=0) or 0,
            "as_serial": date_render == "SERIAL_NUMBER",
        }
        folder = ctx.working_dir()
        written: dict[str, Path] = {}

        def job(tick: Callable[[], None]) -> int:
            _check_unpacked_size(source)
            try:
                workbook = openpyxl.load_workbook(source, read_only=True, data_only=True)
            except (
                openpyxl_errors.InvalidFileException,
                BadZipFile,
                OSError,
                KeyError,
                ValueError,
            ) as exc:
                raise TaskFailed(f"the file is not an Excel workbook (.xlsx): {exc}") from None
            try:
                missing = [t for t in wanted if t not in workbook.sheetnames]
                if missing:
                    raise TaskFailed(f"no sheet named {', '.join(missing)} in the workbook")
                size = 0
                for number, title in enumerate(workbook.sheetnames):
                    if wanted and title not in wanted:
                        continue
                    path = folder / f"{ctx.task_run_id}_{self.id}_{number}.ion"
                    with path.open("wb") as out:
                        writer = IonWriter(out)
                        rows = workbook[title].iter_rows(values_only=True)
                        writer.write(_sheet_rows(rows, tick, **options))
                        writer.close()
                    written[title] = path
                    size += writer.size
                return size
            finally:
                workbook.close()

        size = await run_conversion(ctx, job)
        uris = {}
        for number, (title, path) in enumerate(written.items()):
            uris[title] = ctx.storage.put_file(f"{self.id}_{number}.ion", path)
            path.unlink(missing_ok=True)
        ctx.metric("records", size)
        return {"uris": uris, "size": size}


MAX_UNPACKED = 2 << 30
"""An .xlsx is a zip: past this many bytes unpacked (2 GiB), or a part that unpacks to
over 200 times its size and past 100 MB, it is refused as a zip bomb."""


def _check_unpacked_size(source: Path) -> None:
    try:
        with ZipFile(source) as archive:
            parts = archive.infolist()
    except (BadZipFile, OSError) as exc:
        raise TaskFailed(f"the file is not an Excel workbook (.xlsx): {exc}") from None
    total = sum(p.file_size for p in parts)
    bomb = any(p.file_size > 100e6 and p.file_size > 200 * max(p.compress_size, 1) for p in parts)
    if total > MAX_UNPACKED or bomb:
        raise TaskFailed("the workbook unpacks to too much data (a zip bomb?); refused")


def _sheet_rows(
    rows: Iterator[tuple[Any, ...]],
    tick: Callable[[], None],
    *,
    has_header: bool,
    skip_empty: bool,
    skip_rows: int,
    as_serial: bool,
) -> Iterator[Any]:
    header: list[str] | None = None
    skipped = 0
    for cells in rows:
        tick()
        values = [_value(v, as_serial) for v in cells]
        if has_header and header is None:
            if skipped < skip_rows:
                skipped += 1
                continue
            header = [f"Column{i}" if v is None else str(v) for i, v in enumerate(values)]
            continue
        if not has_header and skipped < skip_rows:
            skipped += 1
            continue
        if skip_empty and all(v is None for v in values):
            continue
        if header is None:
            yield values
        else:
            yield {name: values[i] if i < len(values) else None for i, name in enumerate(header)}


def _value(value: Any, as_serial: bool) -> Any:
    if isinstance(value, datetime | date | time):
        if as_serial:
            return openpyxl_dates.to_excel(value)
        if isinstance(value, datetime) and value.time() == time(0):
            return value.date()  # a date cell: openpyxl reads every date as a datetime
    return value


TASKS: tuple[type, ...] = (IonToExcel, ExcelToIon)
