"""io.kestra.plugin.serdes.avro.IonToAvro and AvroToIon, on fastavro (the `serdes` extra).

IonToAvro writes the rows of an Ion file as an Avro container file with the `schema`
given (Avro's JSON). Each field's value is converted to the type the schema declares, as
Kestra's AvroConverter does for rows that came from CSV (all text): `trueValues`,
`falseValues` and `nullValues` say which texts are booleans and nulls, numbers are parsed
(`decimalSeparator`), dates and timestamps are ISO-8601 or `dateFormat`/`datetimeFormat`
(Java patterns); typed values (from a query) go through as they are. A row that does not
fit fails the task (`onBadLines: ERROR`) or is skipped (WARN logs it, SKIP does not).
AvroToIon streams an Avro file's records into Ion rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pydantic import Field

from engine.errors import TaskFailed, TemplateError
from engine.ion import IonWriter, read_rows
from engine.plugin import RunContext, Task, lazy_import, plugin
from engine.templating.dates import _parse_with_pattern
from tasks.properties import (
    masks_failures,
    render_choice,
    render_flag,
    render_strings,
    render_text,
)
from tasks.serdes.conversion import render_char, render_zone, run_conversion, source_path

if TYPE_CHECKING:
    import fastavro
    from fastavro import schema as fastavro_schema
else:  # the SDK is imported when a task first uses it: the catalog stays fast
    fastavro = lazy_import("fastavro")
    fastavro_schema = lazy_import("fastavro.schema")

__all__ = ["TASKS", "AvroToIon", "BadValue", "Converter", "IonToAvro", "avro_schema"]

BAD_LINES = ("ERROR", "WARN", "SKIP")
TRUE_VALUES = ["t", "true", "enabled", "1", "on", "yes"]
FALSE_VALUES = ["f", "false", "disabled", "0", "off", "no", ""]
NULL_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "1.#IND",
               "1.#QNAN", "NA", "n/a", "nan", "null"]  # fmt: skip


class BadValue(ValueError):
    """A value that the schema's type cannot hold."""


class Converter:
    """Rows shaped to an Avro schema, as Kestra's AvroConverter shapes them."""

    def __init__(self, ctx: RunContext, task: IonToAvro) -> None:
        self.trues = set(render_strings(ctx, task.trueValues, "trueValues"))
        self.falses = set(render_strings(ctx, task.falseValues, "falseValues"))
        self.nulls = set(render_strings(ctx, task.nullValues, "nullValues"))
        self.decimal_point = render_char(ctx, task.decimalSeparator, "decimalSeparator")
        self.date_format = render_text(ctx, task.dateFormat, "dateFormat") or ""
        self.datetime_format = render_text(ctx, task.datetimeFormat, "datetimeFormat") or ""
        self.is_strict = bool(render_flag(ctx, task.strictSchema, "strictSchema"))
        self.zone = render_zone(ctx, task.timeZoneId)

    def record(self, schema: Mapping[str, Any], row: Any) -> dict[str, Any]:
        if not isinstance(row, Mapping):
            raise BadValue(f"a {type(row).__name__} is not a record")
        names = {f["name"] for f in schema["fields"]}
        if self.is_strict and (extra := [k for k in row if k not in names]):
            raise BadValue(f"fields not in the schema: {', '.join(map(str, extra))}")
        out = {}
        for field in schema["fields"]:
            try:
                out[field["name"]] = self.value(field["type"], row.get(field["name"]))
            except BadValue as exc:
                raise BadValue(f"field {field['name']!r}: {exc}") from None
        return out

    def value(self, kind: Any, value: Any) -> Any:
        if isinstance(kind, list):  # a union: null first when the value is null
            if self._is_null(value) and "null" in kind:
                return None
            for branch in kind:
                if branch == "null":
                    continue
                try:
                    return self.value(branch, value)
                except BadValue:
                    continue
            raise BadValue(f"{value!r} fits none of {kind}")
        if isinstance(kind, str):
            kind = {"type": kind}
        base, logical = kind["type"], kind.get("logicalType")
        if base == "null":
            if not self._is_null(value):
                raise BadValue(f"{value!r} is not null")
            return None
        if value is None:
            raise BadValue("null where the schema wants a value")
        if logical == "date":
            return self._date(value)
        if logical in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis",
                       "local-timestamp-micros"):  # fmt: skip
            moment = self._datetime(value)
            return moment.replace(tzinfo=None) if logical.startswith("local") else moment
        if logical in ("time-millis", "time-micros"):
            return value if isinstance(value, time) else time.fromisoformat(str(value))
        if logical == "decimal":
            return self._decimal(value)
        if base == "boolean":
            return self._boolean(value)
        if base in ("int", "long"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise BadValue(f"{value!r} is not a whole number")
            try:
                return int(value) if not isinstance(value, str) else int(value.strip())
            except ValueError:
                raise BadValue(f"{value!r} is not a whole number") from None
        if base in ("float", "double"):
            return float(self._decimal(value))
        if base == "string" or base == "enum":
            return value if isinstance(value, str) else str(value)
        if base in ("bytes", "fixed"):
            return value if isinstance(value, bytes) else str(value).encode()
        if base == "record":
            return self.record(kind, value)
        if base == "array":
            if not isinstance(value, list):
                raise BadValue(f"{value!r} is not a list")
            return [self.value(kind["items"], v) for v in value]
        if base == "map":
            if not isinstance(value, Mapping):
                raise BadValue(f"{value!r} is not a map")
            return {str(k): self.value(kind["values"], v) for k, v in value.items()}
        return value  # a named type defined earlier: fastavro checks it

    def _is_null(self, value: Any) -> bool:
        return value is None or (isinstance(value, str) and value in self.nulls)

    def _boolean(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.trues:
            return True
        if text in self.falses:
            return False
        raise BadValue(f"{value!r} is not a boolean")

    def _decimal(self, value: Any) -> Decimal:
        if isinstance(value, bool):
            raise BadValue(f"{value!r} is not a number")
        if isinstance(value, int | float | Decimal):
            return Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        text = str(value).strip().replace(self.decimal_point, ".")
        try:
            return Decimal(text)
        except InvalidOperation:
            raise BadValue(f"{value!r} is not a number") from None

    def _date(self, value: Any) -> date:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        return self._parse(str(value), self.date_format).date()

    def _datetime(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        else:
            moment = self._parse(str(value), self.datetime_format)
        return moment if moment.tzinfo else moment.replace(tzinfo=self.zone)

    def _parse(self, text: str, pattern: str) -> datetime:
        try:
            return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        try:
            return _parse_with_pattern(text.strip(), pattern, self.zone)
        except TemplateError as exc:
            raise BadValue(str(exc)) from None


@plugin("io.kestra.plugin.serdes.avro.IonToAvro")
class IonToAvro(Task):
    """Write an Ion file of rows as an Avro file with the schema given."""

    from_: str = Field(alias="from")
    schema_: str | dict[str, Any] | None = Field(default=None, alias="schema")
    onBadLines: str = "ERROR"
    trueValues: list[str] | str = TRUE_VALUES
    falseValues: list[str] | str = FALSE_VALUES
    nullValues: list[str] | str = NULL_VALUES
    dateFormat: str = "yyyy-MM-dd[XXX]"
    timeFormat: str = "HH:mm[:ss][.SSSSSS][XXX]"
    datetimeFormat: str = "yyyy-MM-dd'T'HH:mm[:ss][.SSSSSS][XXX]"
    decimalSeparator: str = "."
    strictSchema: bool | str = False
    timeZoneId: str = "UTC"

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        schema = avro_schema(ctx, self.schema_)
        bad_lines = render_choice(ctx, self.onBadLines, "onBadLines", BAD_LINES) or "ERROR"
        converter = Converter(ctx, self)
        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.avro"
        skipped: list[str] = []
        counted = [0]

        def records(tick: Callable[[], None]) -> Iterator[dict[str, Any]]:
            for number, row in enumerate(read_rows(source), 1):
                tick()
                try:
                    record = converter.record(schema, row)
                except BadValue as exc:
                    if bad_lines == "ERROR":
                        raise TaskFailed(f"row {number} does not fit the schema: {exc}") from None
                    if bad_lines == "WARN" and len(skipped) < 100:
                        skipped.append(f"row {number} skipped: {exc}")
                    continue
                counted[0] += 1
                yield record

        def job(tick: Callable[[], None]) -> int:
            parsed = fastavro.parse_schema(schema)
            with target.open("wb") as out:
                fastavro.writer(out, parsed, records(tick))
            return counted[0]

        size = await run_conversion(ctx, job)
        for message in skipped:
            ctx.logger.warning(message)
        ctx.metric("records", size)
        uri = ctx.storage.put_file(f"{self.id}.avro", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}


def avro_schema(ctx: RunContext, value: Any) -> dict[str, Any]:
    if value is None:
        raise TaskFailed(
            "property 'schema' is required: Podium does not infer an Avro schema from the rows"
        )
    schema = ctx.render(value) if isinstance(value, dict) else render_text(ctx, value, "schema")
    try:
        parsed = json.loads(schema) if isinstance(schema, str) else schema
        if not isinstance(parsed, dict) or parsed.get("type") != "record":
            raise TaskFailed("property 'schema' must be an Avro record schema")
        fastavro.parse_schema(parsed)
    except (ValueError, fastavro_schema.SchemaParseException, KeyError, TypeError) as exc:
        raise TaskFailed(f"property 'schema' is not a valid Avro schema: {exc}") from None
    return parsed


@plugin("io.kestra.plugin.serdes.avro.AvroToIon")
class AvroToIon(Task):
    """Read an Avro file's records into Ion rows."""

    from_: str = Field(alias="from")
    onBadLines: str = "ERROR"  # Avro files are typed: a record that does not read fails

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        render_choice(ctx, self.onBadLines, "onBadLines", BAD_LINES)
        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.ion"

        def job(tick: Callable[[], None]) -> int:
            with source.open("rb") as handle, target.open("wb") as out:
                try:
                    reader = fastavro.reader(handle)
                except (ValueError, EOFError) as exc:
                    raise TaskFailed(f"the file is not an Avro file: {exc}") from None
                writer = IonWriter(out)
                for record in reader:
                    tick()
                    writer.write_one(record)
                writer.close()
                return writer.size

        size = await run_conversion(ctx, job)
        ctx.metric("records", size)
        uri = ctx.storage.put_file(f"{self.id}.ion", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}


TASKS: tuple[type, ...] = (IonToAvro, AvroToIon)
