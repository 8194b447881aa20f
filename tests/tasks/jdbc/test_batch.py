"""Batch into PostgreSQL and DuckDB from a file of rows a query stored, through the whole
embedded pipeline: generated and written INSERTs, columns, chunks, types, bad rows."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Harness

SOURCE = """
  - id: source
    type: io.kestra.plugin.jdbc.duckdb.Query
    url: "jdbc:duckdb:"
    fetchType: STORE
    sql: |
      SELECT i AS id, 'row ' || i AS label, i * 0.5 AS amount,
             DATE '2024-01-01' + i::INT AS day, i % 2 = 0 AS even
      FROM range(1, 1201) t(i)
"""


async def test_postgresql_batch_generated_and_written_inserts(
    harness: Harness, pg_url: str, table: str
) -> None:
    flow = f"""
id: pg_batch
namespace: tests.jdbc
pluginDefaults:
  - type: io.kestra.plugin.jdbc.postgresql
    values: {{url: "{pg_url}", username: postgres}}
tasks:{SOURCE}
  - id: create
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: |
      CREATE TABLE {table} (id int PRIMARY KEY, label text, amount numeric, day date, even bool);
      CREATE TABLE {table}_ids (id bigint, label text);
  - id: all_columns
    type: io.kestra.plugin.jdbc.postgresql.Batch
    from: "{{{{ outputs.source.uri }}}}"
    table: {table}
    chunk: 500
  - id: some_columns
    type: io.kestra.plugin.jdbc.postgresql.Batch
    from: "{{{{ outputs.source.uri }}}}"
    sql: "INSERT INTO {table}_ids (label, id) VALUES (?, ?)  -- why? because"
    columns: [label, id]
  - id: check
    type: io.kestra.plugin.jdbc.postgresql.Query
    fetchType: FETCH_ONE
    sql: |
      SELECT count(*) AS n, sum(amount) AS total, max(day) AS last_day,
             count(*) FILTER (WHERE even) AS evens,
             (SELECT sum(id) FROM {table}_ids) AS ids
      FROM {table}
"""
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.run("all_columns").outputs == {"rowCount": 1200, "updatedCount": 1200}
    assert outcome.run("some_columns").outputs == {"rowCount": 1200, "updatedCount": 1200}
    assert outcome.run("check").outputs["row"] == {
        "n": 1200,
        "total": 360300,
        "last_day": "2027-04-15",
        "evens": 600,
        "ids": 720600,
    }


async def test_a_bad_row_fails_the_batch_and_inserts_nothing(
    harness: Harness, pg_url: str, table: str
) -> None:
    flow = f"""
id: pg_bad_batch
namespace: tests.jdbc
pluginDefaults:
  - type: io.kestra.plugin.jdbc.postgresql
    values: {{url: "{pg_url}", username: postgres}}
tasks:{SOURCE}
  - id: create
    type: io.kestra.plugin.jdbc.postgresql.Query
    sql: CREATE TABLE {table} (id int PRIMARY KEY, label text)
  - id: too_many_values
    type: io.kestra.plugin.jdbc.postgresql.Batch
    from: "{{{{ outputs.source.uri }}}}"
    sql: INSERT INTO {table} VALUES (?, ?)
    chunk: 100
    allowFailure: true
  - id: count
    type: io.kestra.plugin.jdbc.postgresql.Query
    fetchType: FETCH_ONE
    sql: SELECT count(*) AS n FROM {table}
"""
    outcome = await harness.run(flow)
    error = outcome.run("too_many_values").error or ""
    assert "row 1 of the file has 5 value(s) and the statement 2 placeholder(s)" in error
    assert outcome.run("count").outputs["row"] == {"n": 0}


async def test_duckdb_batch_into_a_stored_database(harness: Harness, tmp_path: Path) -> None:
    flow = f"""
id: duck_batch
namespace: tests.jdbc
tasks:{SOURCE}
  - id: create
    type: io.kestra.plugin.jdbc.duckdb.Query
    outputDbFile: true
    sql: CREATE TABLE items (id INTEGER, label VARCHAR, amount DOUBLE, day DATE, even BOOLEAN)
  - id: insert
    type: io.kestra.plugin.jdbc.duckdb.Batch
    databaseUri: "{{{{ outputs.create.databaseUri }}}}"
    outputDbFile: true
    from: "{{{{ outputs.source.uri }}}}"
    sql: INSERT INTO items VALUES (?, ?, ?, ?, ?)
  - id: check
    type: io.kestra.plugin.jdbc.duckdb.Query
    databaseUri: "{{{{ outputs.insert.databaseUri }}}}"
    fetchType: FETCH_ONE
    sql: SELECT count(*) AS n, sum(amount) AS total, max(day) AS last_day FROM items
  - id: in_memory
    type: io.kestra.plugin.jdbc.duckdb.Batch
    from: "{{{{ outputs.source.uri }}}}"
    table: items
"""
    outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    assert outcome.run("insert").outputs["rowCount"] == 1200
    assert outcome.run("check").outputs["row"] == {
        "n": 1200,
        "total": 360300.0,
        "last_day": "2027-04-15",
    }
    assert "in-memory DuckDB would be lost" in (outcome.run("in_memory").error or "")
