"""Kestra's commonest chain, end to end through real executions: a query with
`fetchType: STORE` writes Ion rows, IonToCsv turns them into a CSV file to read."""

from __future__ import annotations

import csv
import io

from tests.conftest import Harness
from tests.tasks.jdbc.test_postgresql import header


def read_csv(harness: Harness, uri: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(harness.podium.storage.read(uri).decode())))


async def test_postgresql_store_then_ion_to_csv(harness: Harness, pg_url: str, table: str) -> None:
    outcome = await harness.run(
        header(pg_url)
        + f"""
tasks:
  - id: setup
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: |
      CREATE TABLE {table} (id int, name text, price numeric(10,2), at timestamp,
        zoned timestamptz, day date, raw bytea, ok bool);
      INSERT INTO {table} VALUES
        (1, 'Smith, "J"', 2.50, '2019-01-01 10:00:00.5', '2019-01-01 10:00:00+02', '2019-01-02',
         '\\xdeadbeef', true),
        (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  - id: query
    type: io.kestra.plugin.jdbc.postgresql.Query
    sql: SELECT * FROM {table} ORDER BY id
    fetchType: STORE
  - id: csv
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{{{ outputs.query.uri }}}}"
"""
    )
    assert outcome.state == "SUCCESS", outcome.task_runs
    stored = harness.podium.storage.read(outcome.run("query").outputs["uri"]).decode()
    assert stored.splitlines()[0] == (
        '{id:1,name:"Smith, \\"J\\"",price:2.50,at:LocalDateTime::"2019-01-01T10:00:00.500000",'
        'zoned:ZonedDateTime::"2019-01-01T08:00:00Z",day:2019-01-02,raw:{{3q2+7w==}},ok:true}'
    )
    assert outcome.run("csv").outputs["size"] == 2
    assert read_csv(harness, outcome.run("csv").outputs["uri"]) == [
        ["id", "name", "price", "at", "zoned", "day", "raw", "ok"],
        ["1", 'Smith, "J"', "2.50", "2019-01-01T10:00:00.500Z", "2019-01-01T08:00:00.000Z",
         "2019-01-02", "3q2+7w==", "true"],
        ["2", "", "", "", "", "", "", ""],
    ]  # fmt: skip


async def test_duckdb_store_then_ion_to_csv(harness: Harness) -> None:
    outcome = await harness.run(
        """
id: f
namespace: tests.duck
tasks:
  - id: query
    type: io.kestra.plugin.jdbc.duckdb.Query
    sql: |
      SELECT i AS id, 'row ' || i AS label, CAST(i / 8 AS DECIMAL(8,3)) AS share,
        DATE '2024-01-01' + CAST(i AS INTEGER) AS day
      FROM range(1, 4) t(i) ORDER BY i
    fetchType: STORE
  - id: csv
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{ outputs.query.uri }}"
    fieldSeparator: ";"
"""
    )
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.run("query").outputs["uri"].endswith(".ion")
    rows = read_csv(harness, outcome.run("csv").outputs["uri"])
    assert [r[0].split(";") for r in rows] == [
        ["id", "label", "share", "day"],
        ["1", "row 1", "0.125", "2024-01-02"],
        ["2", "row 2", "0.250", "2024-01-03"],
        ["3", "row 3", "0.375", "2024-01-04"],
    ]
