"""io.kestra.plugin.serdes.parquet.IonToParquet and ParquetToIon, on pyarrow (the `serdes`
extra).

IonToParquet shapes each row with an Avro `schema`, exactly as IonToAvro does (the same
properties: true/false/null texts, date formats, onBadLines), and writes Parquet with the
matching Arrow types: rows are gathered into row groups of about `rowGroupSize` bytes,
the only part held in memory, as Parquet writers do. ParquetToIon reads a file batch by
batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from engine.errors import TaskFailed
from engine.ion import IonWriter, read_rows
from engine.plugin import RunContext, lazy_import, plugin
from engine.plugin import Task as PodiumTask
from tasks.properties import masks_failures, render_choice, render_integer, render_text
from tasks.serdes.avro import BAD_LINES, BadValue, Converter, IonToAvro, avro_schema
from tasks.serdes.conversion import run_conversion, source_path

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
else:  # the SDK is imported when a task first uses it: the catalog stays fast
    pa = lazy_import("pyarrow")
    pq = lazy_import("pyarrow.parquet")

__all__ = ["TASKS", "IonToParquet", "ParquetToIon", "arrow_type"]

CODECS = ("UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD", "LZ4", "BROTLI")
VERSIONS = ("V1", "V2")
_BATCH = 10_000


def arrow_type(kind: Any) -> pa.DataType:
    """The Arrow type holding an Avro type (a union with null is a nullable column)."""
    if isinstance(kind, list):
        branches = [k for k in kind if k != "null"]
        if len(branches) != 1:
            raise TaskFailed(f"Parquet columns hold one type; the union {kind} has several")
        return arrow_type(branches[0])
    if isinstance(kind, str):
        kind = {"type": kind}
    base, logical = kind["type"], kind.get("logicalType")
    if logical == "decimal":
        return pa.decimal128(kind["precision"], kind.get("scale", 0))
    if logical == "date":
        return pa.date32()
    if logical in ("timestamp-millis", "timestamp-micros"):
        return pa.timestamp("ms" if logical.endswith("millis") else "us", tz="UTC")
    if logical in ("local-timestamp-millis", "local-timestamp-micros"):
        return pa.timestamp("ms" if logical.endswith("millis") else "us")
    if logical == "time-millis":
        return pa.time32("ms")
    if logical == "time-micros":
        return pa.time64("us")
    simple = {
        "null": pa.null(),
        "boolean": pa.bool_(),
        "int": pa.int32(),
        "long": pa.int64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "string": pa.string(),
        "enum": pa.string(),
        "bytes": pa.binary(),
        "fixed": pa.binary(),
    }
    if base in simple:
        return simple[base]
    if base == "record":
        return pa.struct([pa.field(f["name"], arrow_type(f["type"])) for f in kind["fields"]])
    if base == "array":
        return pa.list_(arrow_type(kind["items"]))
    if base == "map":
        return pa.map_(pa.string(), arrow_type(kind["values"]))
    raise TaskFailed(f"the Avro type {base!r} has no Parquet column type here")


@plugin("io.kestra.plugin.serdes.parquet.IonToParquet")
class IonToParquet(IonToAvro):
    """Write an Ion file of rows as a Parquet file with the (Avro) schema given."""

    compressionCodec: str = "GZIP"
    parquetVersion: str = "V2"
    rowGroupSize: int | str = 128 * 1024 * 1024
    pageSize: int | str = 1024 * 1024
    dictionaryPageSize: int | str = 1024 * 1024

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        schema = avro_schema(ctx, self.schema_)
        columns = pa.schema([pa.field(f["name"], arrow_type(f["type"])) for f in schema["fields"]])
        bad_lines = render_choice(ctx, self.onBadLines, "onBadLines", BAD_LINES) or "ERROR"
        codec = render_choice(ctx, self.compressionCodec, "compressionCodec", CODECS) or "GZIP"
        version = render_choice(ctx, self.parquetVersion, "parquetVersion", VERSIONS) or "V2"
        group_bytes = render_integer(ctx, self.rowGroupSize, "rowGroupSize", minimum=1)
        page = render_integer(ctx, self.pageSize, "pageSize", minimum=1)
        dictionary = render_integer(ctx, self.dictionaryPageSize, "dictionaryPageSize", minimum=1)
        converter = Converter(ctx, self)
        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.parquet"
        skipped: list[str] = []

        def job(tick: Callable[[], None]) -> int:
            size = 0
            with pq.ParquetWriter(
                target,
                columns,
                compression="NONE" if codec == "UNCOMPRESSED" else codec,
                version="1.0" if version == "V1" else "2.6",
                data_page_size=page,
                dictionary_pagesize_limit=dictionary,
            ) as writer:
                group: list[pa.RecordBatch] = []
                pending: list[dict[str, Any]] = []
                for number, row in enumerate(read_rows(source), 1):
                    tick()
                    try:
                        pending.append(converter.record(schema, row))
                    except BadValue as exc:
                        if bad_lines == "ERROR":
                            raise TaskFailed(
                                f"row {number} does not fit the schema: {exc}"
                            ) from None
                        if bad_lines == "WARN" and len(skipped) < 100:
                            skipped.append(f"row {number} skipped: {exc}")
                        continue
                    if len(pending) >= _BATCH:
                        group.append(pa.RecordBatch.from_pylist(pending, schema=columns))
                        size += len(pending)
                        pending = []
                        if sum(b.nbytes for b in group) >= (group_bytes or 0):
                            writer.write_table(pa.Table.from_batches(group), row_group_size=None)
                            group = []
                if pending:
                    group.append(pa.RecordBatch.from_pylist(pending, schema=columns))
                    size += len(pending)
                if group:
                    writer.write_table(pa.Table.from_batches(group), row_group_size=None)
            return size

        try:
            size = await run_conversion(ctx, job)
        except (pa.ArrowException, OverflowError) as exc:
            raise TaskFailed(f"a value does not fit its Parquet column: {exc}") from None
        for message in skipped:
            ctx.logger.warning(message)
        ctx.metric("records", size)
        uri = ctx.storage.put_file(f"{self.id}.parquet", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}


@plugin("io.kestra.plugin.serdes.parquet.ParquetToIon")
class ParquetToIon(PodiumTask):
    """Read a Parquet file's rows into Ion rows."""

    from_: str = Field(alias="from")

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.ion"

        def job(tick: Callable[[], None]) -> int:
            try:
                parquet = pq.ParquetFile(source)
            except (pa.ArrowException, OSError) as exc:
                raise TaskFailed(f"the file is not a Parquet file: {exc}") from None
            with target.open("wb") as out:
                writer = IonWriter(out)
                writer.write(_ticking(parquet.iter_batches(batch_size=_BATCH), tick))
                writer.close()
                return writer.size

        size = await run_conversion(ctx, job)
        ctx.metric("records", size)
        uri = ctx.storage.put_file(f"{self.id}.ion", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}


def _ticking(batches: Iterator[pa.RecordBatch], tick: Callable[[], None]) -> Iterator[Any]:
    for batch in batches:
        for row in batch.to_pylist():
            tick()
            yield row


TASKS: tuple[type, ...] = (IonToParquet, ParquetToIon)
