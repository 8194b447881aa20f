"""The PostgreSQL tasks against the local server, each run through the whole embedded
pipeline: Queries and Query with every fetchType, errors, CopyIn and CopyOut, cancel."""

from __future__ import annotations

import asyncio
import csv
import io

from engine import ion
from tests.conftest import Harness
from tests.support.postgres import admin


def header(pg_url: str) -> str:
    # Connection properties come the way real flows give them: from pluginDefaults.
    return f"""id: f
namespace: tests.jdbc
pluginDefaults:
  - type: io.kestra.plugin.jdbc.postgresql
    values:
      url: {pg_url}
      username: postgres
      password: ""
"""


def stored_rows(harness: Harness, uri: str) -> list[dict[str, object]]:
    return ion.loads(harness.podium.storage.read(uri).decode())


async def test_queries_with_several_statements_and_each_fetch_type(
    harness: Harness, pg_url: str, table: str
) -> None:
    flow = (
        header(pg_url)
        + f"""
tasks:
  - id: setup
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: |
      CREATE TABLE {table} (
        id int PRIMARY KEY, name text, price numeric(6, 2), at timestamp,
        tags text[], doc jsonb, ok bool, day date
      );
      INSERT INTO {table} VALUES
        (1, 'pen', 2.50, '2019-01-01 10:00:00', '{{a,b}}', '{{"k": [1, 2]}}', true, '2019-01-01'),
        (2, 'ink', 10.00, NULL, NULL, NULL, false, NULL),
        (3, 'pad', 4.25, '2019-01-03 00:00:00.5', '{{}}', '[]', NULL, '2019-01-03');
      SELECT count(*) AS n FROM {table};  -- NONE keeps nothing
  - id: one
    type: io.kestra.plugin.jdbc.postgresql.Queries
    fetchType: FETCH_ONE
    sql: |
      SELECT id, name FROM {table} ORDER BY id;
      UPDATE {table} SET name = upper(name) WHERE id = 3;
      SELECT count(*) AS n, sum(price) AS total FROM {table} WHERE id > 99;
  - id: all
    type: io.kestra.plugin.jdbc.postgresql.Queries
    fetchType: FETCH
    sql: SELECT * FROM {table} ORDER BY id
  - id: store
    type: io.kestra.plugin.jdbc.postgresql.Queries
    fetchType: STORE
    fetchSize: 2
    sql: |
      SELECT id, name FROM {table} ORDER BY id;
      SELECT id FROM {table} WHERE false;
  - id: use
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ outputs.all.outputs[0].rows[2].name }}}} {{{{ outputs.one.outputs[0].row.name }}}}"
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", [r.error for r in outcome.task_runs]
    assert outcome.run("setup").outputs == {"outputs": []}
    assert any("INSERT 0 3" in m for m in outcome.messages("setup"))
    assert outcome.run("one").outputs == {
        "outputs": [
            {"row": {"id": 1, "name": "pen"}, "size": 1},
            {"row": {"n": 0, "total": None}, "size": 1},
        ]
    }
    [fetched] = outcome.run("all").outputs["outputs"]
    assert fetched["size"] == 3
    assert fetched["rows"][0] == {
        "id": 1,
        "name": "pen",
        "price": 2.5,
        "at": "2019-01-01T10:00:00",
        "tags": ["a", "b"],
        "doc": {"k": [1, 2]},
        "ok": True,
        "day": "2019-01-01",
    }
    assert fetched["rows"][1]["price"] == 10 and fetched["rows"][1]["at"] is None
    assert fetched["rows"][2]["at"] == "2019-01-03T00:00:00.500000"
    first, empty = outcome.run("store").outputs["outputs"]
    assert first["size"] == 3 and first["uri"].endswith(".ion")
    assert stored_rows(harness, first["uri"]) == [
        {"id": 1, "name": "pen"},
        {"id": 2, "name": "ink"},
        {"id": 3, "name": "PAD"},
    ]
    assert empty["size"] == 0 and stored_rows(harness, empty["uri"]) == []
    assert outcome.run("use").outputs == {"value": "PAD pen"}


async def test_query_binds_named_parameters_and_runs_after_sql(
    harness: Harness, pg_url: str, table: str
) -> None:
    flow = (
        header(pg_url)
        + f"""
inputs:
  - {{id: min_id, type: INT, defaults: 1}}
  - {{id: since, type: STRING, defaults: "2019-01-01T00:00:00"}}
tasks:
  - id: setup
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: |
      CREATE TABLE {table} (id int, label text, at timestamp, done bool DEFAULT false);
      INSERT INTO {table} VALUES (1, 'a:b', '2019-02-01'), (2, 'x', '2018-01-01'),
        (3, 'y', '2020-01-01');
  - id: pick
    type: io.kestra.plugin.jdbc.postgresql.Query
    fetchType: FETCH
    parameters:
      min_id: "{{{{ inputs.min_id }}}}"
      since: "{{{{ inputs.since }}}}"
    sql: |
      SELECT id, label, ':min_id' AS literal, id::text AS cast
      FROM {table} WHERE id >= :min_id AND at > :since ORDER BY id
    afterSQL: UPDATE {table} SET done = true WHERE id >= :min_id AND at > :since
  - id: check
    type: io.kestra.plugin.jdbc.postgresql.Query
    fetchType: FETCH_ONE
    sql: SELECT count(*) FILTER (WHERE done) AS done, count(*) AS total FROM {table}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", [r.error for r in outcome.task_runs]
    assert outcome.run("pick").outputs == {
        "rows": [
            {"id": 1, "label": "a:b", "literal": ":min_id", "cast": "1"},
            {"id": 3, "label": "y", "literal": ":min_id", "cast": "3"},
        ],
        "size": 2,
    }
    assert outcome.run("check").outputs == {"row": {"done": 2, "total": 3}, "size": 1}


async def test_a_failing_statement_names_itself_and_rolls_back(
    harness: Harness, pg_url: str, table: str
) -> None:
    flow = (
        header(pg_url)
        + f"""
tasks:
  - id: setup
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: CREATE TABLE {table} (id int PRIMARY KEY)
  - id: atomic
    type: io.kestra.plugin.jdbc.postgresql.Queries
    allowFailure: true
    sql: |
      INSERT INTO {table} VALUES (1);
      SELECT *
      FROM nope_{table};
  - id: step_by_step
    type: io.kestra.plugin.jdbc.postgresql.Queries
    transaction: false
    allowFailure: true
    sql: |
      INSERT INTO {table} VALUES (2);
      INSERT INTO {table} VALUES (2);
  - id: left
    type: io.kestra.plugin.jdbc.postgresql.Query
    fetchType: FETCH
    sql: SELECT id FROM {table} ORDER BY id
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "WARNING"
    error = outcome.run("atomic").error or ""
    assert error.startswith(f'42P01: relation "nope_{table}" does not exist')
    assert "at line 2, column 6" in error
    assert f"in statement 2: SELECT * FROM nope_{table}" in error
    duplicate = outcome.run("step_by_step").error or ""
    assert duplicate.startswith("23505: duplicate key value violates unique constraint")
    assert "detail: Key (id)=(2) already exists." in duplicate and "statement 2" in duplicate
    # The whole first script was undone; the second kept what ran before the failure.
    assert outcome.run("left").outputs == {"rows": [{"id": 2}], "size": 1}


async def test_wrong_connection_settings_fail_clearly(harness: Harness, pg_url: str) -> None:
    flow = f"""id: f
namespace: tests.jdbc
tasks:
  - id: nodb
    type: io.kestra.plugin.jdbc.postgresql.Query
    url: {pg_url}_missing
    username: postgres
    sql: SELECT 1
    allowFailure: true
  - id: closed_port
    type: io.kestra.plugin.jdbc.postgresql.Query
    url: jdbc:postgresql://127.0.0.1:9/x?connectTimeout=2
    username: postgres
    password: secret-pw
    sql: SELECT 1
    allowFailure: true
"""
    outcome = await harness.run(flow)
    nodb = outcome.run("nodb").error or ""
    assert nodb.startswith("cannot connect to PostgreSQL at 127.0.0.1:5432/")
    assert "does not exist" in nodb
    closed = outcome.run("closed_port").error or ""
    assert closed.startswith("cannot connect to PostgreSQL at 127.0.0.1:9/x as postgres")
    assert "secret-pw" not in closed


def _trips_csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["VendorID", "tpep_pickup_datetime", "passenger_count", "fare_amount", "note"])
    for i in range(rows):
        writer.writerow(
            [
                str(1 + i % 2),
                f"2019-01-01 00:{i % 60:02d}:00",
                "" if i % 3 == 0 else str(i % 5),  # unquoted empty: NULL
                f"{i * 0.5:.2f}",
                '"quoted, with comma"' if i == 1 else "",
            ]
        )
    return out.getvalue().encode()


async def test_copy_in_a_generated_csv_with_header_columns_and_nulls(
    harness: Harness, pg_url: str, table: str
) -> None:
    await admin(
        f"""CREATE TABLE public.{table} (
            unique_row_id text, VendorID text, tpep_pickup_datetime timestamp,
            passenger_count integer, fare_amount double precision, note text)""",
        pg_url.rsplit("/", 1)[1],
    )
    data = _trips_csv(1000)
    flow = (
        header(pg_url)
        + f"""
inputs:
  - {{id: data, type: FILE}}
tasks:
  - id: load
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    format: CSV
    from: "{{{{ inputs.data }}}}"
    table: public.{table}
    header: true
    columns: [VendorID, tpep_pickup_datetime, passenger_count, fare_amount, note]
  - id: check
    type: io.kestra.plugin.jdbc.postgresql.Query
    fetchType: FETCH_ONE
    sql: |
      SELECT count(*) AS n, count(passenger_count) AS with_passengers,
             count(unique_row_id) AS ids, sum(fare_amount) AS fares,
             max(note) AS note, min(tpep_pickup_datetime) AS first
      FROM public.{table}
"""
    )
    request = await harness.podium.intake.execute(
        "tests.jdbc", (await harness.deploy(flow)).id, files={"data": ("trips.csv", data)}
    )
    outcome = await harness.wait(request.execution_id)
    assert outcome.state == "SUCCESS", [r.error for r in outcome.task_runs]
    assert outcome.run("load").outputs == {"rowCount": 1000}
    assert outcome.run("check").outputs["row"] == {
        "n": 1000,
        "with_passengers": 666,
        "ids": 0,
        "fares": sum(i * 0.5 for i in range(1000)),
        "note": '"quoted, with comma"',
        "first": "2019-01-01T00:00:00",
    }


async def test_copy_out_and_back_in_is_the_same_table(
    harness: Harness, pg_url: str, table: str
) -> None:
    flow = (
        header(pg_url)
        + f"""
tasks:
  - id: setup
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: |
      CREATE TABLE {table} (id int, name text, note text, at timestamptz);
      INSERT INTO {table}
        SELECT i, 'name ' || i, CASE WHEN i % 4 = 0 THEN NULL ELSE 'a,"b"' || chr(10) || 'c' END,
               '2019-01-01 00:00:00+00'::timestamptz + i * interval '1 minute'
        FROM generate_series(1, 500) AS i;
      CREATE TABLE {table}_copy (LIKE {table});
      CREATE TABLE {table}_text (LIKE {table});
      CREATE TABLE {table}_bin (LIKE {table});
  - id: out
    type: io.kestra.plugin.jdbc.postgresql.CopyOut
    table: "{table}"
    format: CSV
    header: true
    nullString: NA
  - id: back
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    from: "{{{{ outputs.out.uri }}}}"
    table: "{table}_copy"
    format: CSV
    header: true
    nullString: NA
  - id: out_text
    type: io.kestra.plugin.jdbc.postgresql.CopyOut
    table: "{table}"
  - id: back_text
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    from: "{{{{ outputs.out_text.uri }}}}"
    table: "{table}_text"
  - id: out_bin
    type: io.kestra.plugin.jdbc.postgresql.CopyOut
    format: BINARY
    sql: SELECT * FROM {table}
  - id: back_bin
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    format: BINARY
    from: "{{{{ outputs.out_bin.uri }}}}"
    table: "{table}_bin"
  - id: query_out
    type: io.kestra.plugin.jdbc.postgresql.CopyOut
    sql: SELECT id, name FROM {table} WHERE id <= 3 ORDER BY id;
    delimiter: "\\t"
  - id: diff
    type: io.kestra.plugin.jdbc.postgresql.Query
    fetchType: FETCH_ONE
    sql: |
      SELECT
        (SELECT count(*) FROM (
          (SELECT * FROM {table} EXCEPT SELECT * FROM {table}_copy)
          UNION ALL (SELECT * FROM {table}_copy EXCEPT SELECT * FROM {table})
          UNION ALL (SELECT * FROM {table} EXCEPT SELECT * FROM {table}_text)
          UNION ALL (SELECT * FROM {table}_text EXCEPT SELECT * FROM {table})
          UNION ALL (SELECT * FROM {table} EXCEPT SELECT * FROM {table}_bin)
          UNION ALL (SELECT * FROM {table}_bin EXCEPT SELECT * FROM {table})) d) AS differences,
        (SELECT count(*) FROM {table}_copy WHERE note IS NULL) AS nulls,
        (SELECT count(*) FROM {table}_text WHERE note IS NULL) AS text_nulls
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", [r.error for r in outcome.task_runs]
    out = outcome.run("out").outputs
    assert out["rowCount"] == 500 and out["uri"].endswith(".csv")
    text = harness.podium.storage.read(out["uri"]).decode()
    assert text.startswith("id,name,note,at\n1,name 1,")
    assert outcome.run("back").outputs == {"rowCount": 500}
    assert outcome.run("out_text").outputs["uri"].endswith(".txt")
    for task_id in ("back_text", "back_bin"):
        assert outcome.run(task_id).outputs == {"rowCount": 500}
    assert outcome.run("diff").outputs["row"] == {
        "differences": 0,
        "nulls": 125,
        "text_nulls": 125,
    }
    query_out = outcome.run("query_out").outputs
    assert query_out["rowCount"] == 3
    assert harness.podium.storage.read(query_out["uri"]) == b"1\tname 1\n2\tname 2\n3\tname 3\n"


async def test_a_cancelled_query_is_stopped_on_the_server(
    real_time_harness: Harness, pg_url: str
) -> None:
    marker = "podium_cancel_marker"
    flow = (
        header(pg_url)
        + f"""
tasks:
  - id: slow
    type: io.kestra.plugin.jdbc.postgresql.Query
    timeout: PT1S
    sql: SELECT pg_sleep(30) AS {marker}
"""
    )
    started = asyncio.get_running_loop().time()
    outcome = await real_time_harness.run(flow)
    assert outcome.state == "FAILED"
    assert "timed out" in (outcome.run("slow").error or "")
    assert asyncio.get_running_loop().time() - started < 15
    database = pg_url.rsplit("/", 1)[1]
    for _ in range(50):  # the server may take a moment to see the cancel
        running = await admin(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' "
            f"AND query LIKE '%{marker}%' AND pid <> pg_backend_pid()",
            database,
        )
        if not running:
            break
        await asyncio.sleep(0.1)
    assert not running
