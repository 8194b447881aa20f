"""IonToAvro and AvroToIon (the `serdes` extra) through the embedded pipeline: CSV text
typed by the schema, typed query values as they are, bad rows by onBadLines."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import fastavro

from engine import ion
from tests.conftest import Harness

HEADER = "id: f\nnamespace: tests.serdes\n"
SCHEMA = """
{"type": "record", "name": "Order", "fields": [
  {"name": "id", "type": "long"},
  {"name": "name", "type": ["null", "string"]},
  {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 8, "scale": 2}},
  {"name": "ratio", "type": ["null", "double"]},
  {"name": "ok", "type": "boolean"},
  {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]},
  {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}
]}
"""
CSV = (
    "id,name,price,ratio,ok,day,at,extra\n"
    '1,Zoë,"2,50","1,5",yes,2030-12-25,2004-10-19T10:23:54Z,x\n'
    '2,,"0,10",,off,,2004-10-19 10:23:54,y\n'
    "oops,b,1,1,true,,2004-10-19T10:23:54Z,z\n"
)


async def test_csv_rows_typed_by_the_schema_into_avro_and_back(harness: Harness) -> None:
    source = harness.podium.storage.write("inputs/orders.csv", CSV.encode())
    schema = SCHEMA.replace("\n", " ")
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - {{id: ion, type: io.kestra.plugin.serdes.csv.CsvToIon, from: "{source}"}}
  - id: avro
    type: io.kestra.plugin.serdes.avro.IonToAvro
    from: "{{{{ outputs.ion.uri }}}}"
    decimalSeparator: ","
    datetimeFormat: "yyyy-MM-dd HH:mm:ss"
    onBadLines: WARN
    schema: '{schema}'
  - {{id: back, type: io.kestra.plugin.serdes.avro.AvroToIon, from: "{{{{ outputs.avro.uri }}}}"}}
  - id: strict
    type: io.kestra.plugin.serdes.avro.IonToAvro
    from: "{{{{ outputs.ion.uri }}}}"
    strictSchema: true
    schema: '{schema}'
"""
    )
    assert outcome.state == "FAILED"
    assert outcome.run("avro").outputs["size"] == 2
    assert any("row 3 skipped: field 'id'" in m for m in outcome.messages("avro"))
    data = harness.podium.storage.read(outcome.run("avro").outputs["uri"])
    records = list(fastavro.reader(io.BytesIO(data)))
    moment = datetime(2004, 10, 19, 10, 23, 54, tzinfo=UTC)
    assert records == [
        {"id": 1, "name": "Zoë", "price": Decimal("2.50"), "ratio": 1.5, "ok": True,
         "day": date(2030, 12, 25), "at": moment},
        {"id": 2, "name": None, "price": Decimal("0.10"), "ratio": None, "ok": False,
         "day": None, "at": moment},
    ]  # fmt: skip
    back = outcome.run("back").outputs
    assert back["size"] == 2
    assert ion.loads(harness.podium.storage.read(back["uri"]).decode()) == records
    assert any("fields not in the schema: extra" in m for m in outcome.messages("strict"))


async def test_a_missing_or_invalid_schema_is_refused(harness: Harness) -> None:
    source = harness.podium.storage.write("inputs/rows.ion", b"{a:1}\n")
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - id: none
    type: io.kestra.plugin.serdes.avro.IonToAvro
    from: "{source}"
    allowFailure: true
  - id: invalid
    type: io.kestra.plugin.serdes.avro.IonToAvro
    from: "{source}"
    schema: '{{"type": "record", "name": "x", "fields": [{{"name": "a", "type": "nope"}}]}}'
"""
    )
    assert outcome.state == "FAILED"
    assert any("'schema' is required" in m for m in outcome.messages("none"))
    assert any("not a valid Avro schema" in m for m in outcome.messages("invalid"))


async def test_parquet_with_the_same_schema_and_back(harness: Harness) -> None:
    source = harness.podium.storage.write("inputs/orders.csv", CSV.encode())
    schema = SCHEMA.replace("\n", " ")
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - {{id: ion, type: io.kestra.plugin.serdes.csv.CsvToIon, from: "{source}"}}
  - id: parquet
    type: io.kestra.plugin.serdes.parquet.IonToParquet
    from: "{{{{ outputs.ion.uri }}}}"
    decimalSeparator: ","
    datetimeFormat: "yyyy-MM-dd HH:mm:ss"
    onBadLines: SKIP
    compressionCodec: ZSTD
    schema: '{schema}'
  - {{id: back, type: io.kestra.plugin.serdes.parquet.ParquetToIon, from: "{{{{ outputs.parquet.uri }}}}"}}
"""
    )
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.run("parquet").outputs["size"] == 2
    assert not any("skipped" in m for m in outcome.messages("parquet"))
    rows = ion.loads(harness.podium.storage.read(outcome.run("back").outputs["uri"]).decode())
    moment = datetime(2004, 10, 19, 10, 23, 54, tzinfo=UTC)
    assert rows == [
        {"id": 1, "name": "Zoë", "price": Decimal("2.50"), "ratio": 1.5, "ok": True,
         "day": date(2030, 12, 25), "at": moment},
        {"id": 2, "name": None, "price": Decimal("0.10"), "ratio": None, "ok": False,
         "day": None, "at": moment},
    ]  # fmt: skip
