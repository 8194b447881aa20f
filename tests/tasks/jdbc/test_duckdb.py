"""The DuckDB tasks through the whole embedded pipeline, offline: flow 03's query on a
downloaded JSON file, fetch types, parameters, files in and out, errors, cancellation."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from statistics import mean

import duckdb
import yaml
from aiohttp import web

from engine import ion
from tests.conftest import Harness, course_flow
from tests.tasks.http.receiver import serve

HEADER = "id: f\nnamespace: tests.duck\n"


def products(count: int) -> dict[str, object]:
    """A payload shaped like dummyjson.com/products; some products have no brand."""
    rng = random.Random(3)
    brands = ["Essence", "Glamour Beauty", "Velvet Touch", "Chic Cosmetics", "Nail Couture"]
    items = []
    for i in range(count):
        item = {"id": i + 1, "title": f"product {i}", "price": round(rng.uniform(1, 200), 2)}
        if i % 6:
            item["brand"] = rng.choice(brands)
        items.append(item)
    return {"products": items, "total": count, "skip": 0, "limit": count}


def flow_03_variant(base_url: str) -> str:
    """Flow 03 with its Python transform done in DuckDB (the scripts family and Docker are
    another issue's): the download, the file names and the query task are 03's own."""
    flow = yaml.safe_load(course_flow("03_getting_started_data_pipeline.yaml").read_text())
    extract, transform, query = flow["tasks"]
    assert (
        query["type"] == "io.kestra.plugin.jdbc.duckdb.Queries" and "INSTALL json" in query["sql"]
    )
    extract["uri"] = base_url + "/products"
    transform.clear()
    transform.update(
        id="transform",
        type="io.kestra.plugin.jdbc.duckdb.Queries",
        inputFiles={"data.json": "{{ outputs.extract.uri }}"},
        outputFiles=["products.json"],
        sql=(
            "COPY (SELECT coalesce(p.brand, 'N/A') AS brand, p.price AS price\n"
            "      FROM (SELECT unnest(products) AS p FROM read_json_auto('data.json')))\n"
            "TO '{{ outputFiles['products.json'] }}' (FORMAT JSON, ARRAY true);"
        ),
    )
    return yaml.safe_dump(flow, sort_keys=False)


def check_averages(
    harness: Harness, query: dict[str, object], payload: dict[str, object], tmp_path: Path
) -> None:
    """03's stored result equals what 03's SQL gives run by hand, and what arithmetic says."""
    assert set(query) == {"outputs", "outputFiles"} and query["outputFiles"] == {}
    [stored] = query["outputs"]  # type: ignore[misc]
    rows = ion.loads(harness.podium.storage.read(stored["uri"]).decode())
    assert stored["size"] == len(rows) == 6
    assert [r["avg_price"] for r in rows] == sorted((r["avg_price"] for r in rows), reverse=True)
    # By hand: 03's Python transform, then 03's SQL straight into DuckDB.
    filtered = [
        {column: product.get(column, "N/A") for column in ("brand", "price")}
        for product in payload["products"]  # type: ignore[attr-defined]
    ]
    (tmp_path / "products.json").write_text(json.dumps(filtered, indent=4))
    flow = yaml.safe_load(course_flow("03_getting_started_data_pipeline.yaml").read_text())
    select = flow["tasks"][2]["sql"].split("LOAD json;", 1)[1]
    by_hand = duckdb.connect().sql(select.replace("{{workingDir}}", str(tmp_path))).fetchall()
    assert {r["brand"]: r["avg_price"] for r in rows} == dict(by_hand)
    for row in rows:
        prices = [p["price"] for p in filtered if p["brand"] == row["brand"]]
        assert abs(row["avg_price"] - mean(prices)) <= 0.005 + 1e-9


async def test_flow_03_query_gives_the_averages_its_sql_gives_by_hand(
    harness: Harness, tmp_path: Path
) -> None:
    payload = products(60)

    async def serve_products(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload)

    async with serve({"/products": serve_products}) as server:
        outcome = await harness.run(flow_03_variant(server.base))
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    check_averages(harness, outcome.run("query").outputs, payload, tmp_path)
    messages = outcome.messages("query")
    assert any("extension json is built into DuckDB" in m for m in messages), messages


async def test_flow_03_as_written_runs_offline(real_time_harness: Harness, tmp_path: Path) -> None:
    """The whole of 03 with its Python transform (the scripts family's Process runner when
    no Docker is configured): only the download URL points at the local server."""
    payload = products(40)

    async def serve_products(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload)

    flow = yaml.safe_load(course_flow("03_getting_started_data_pipeline.yaml").read_text())
    async with serve({"/products": serve_products}) as server:
        flow["tasks"][0]["uri"] = server.base + "/products"
        source = yaml.safe_dump(flow, sort_keys=False)
        outcome = await real_time_harness.wait(await real_time_harness.start(source), timeout=120)
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    check_averages(real_time_harness, outcome.run("query").outputs, payload, tmp_path)


async def test_fetch_types_parameters_and_the_working_directory(harness: Harness) -> None:
    flow = (
        HEADER
        + """
inputs:
  - {id: cutoff, type: INT, defaults: 2}
tasks:
  - id: one
    type: io.kestra.plugin.jdbc.duckdb.Query
    fetchType: FETCH_ONE
    inputFiles:
      data/trips.csv: |
        id,city,fare
        1,Paris,10.5
        2,Oslo,
        3,Paris,7.25
    parameters: {cutoff: "{{ inputs.cutoff }}"}
    sql: |
      SELECT count(*) AS n, sum(fare) AS fares, '{{ workingDir }}' <> '' AS has_dir
      FROM read_csv_auto('data/trips.csv') WHERE id >= :cutoff
  - id: many
    type: io.kestra.plugin.jdbc.duckdb.Queries
    fetchType: FETCH
    sql: |
      CREATE TABLE t AS SELECT * FROM range(5) r(i);
      SELECT i, i::varchar || ':x' AS label, DATE '2019-01-01' + i::int AS day FROM t WHERE i < 2;
      INSERT INTO t VALUES (9) RETURNING i;
  - id: none
    type: io.kestra.plugin.jdbc.duckdb.Queries
    sql: SELECT 42 AS answer;
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    assert outcome.run("one").outputs == {
        "row": {"n": 2, "fares": 7.25, "has_dir": True},
        "size": 1,
        "outputFiles": {},
    }
    assert outcome.run("many").outputs["outputs"] == [
        {
            "rows": [
                {"i": 0, "label": "0:x", "day": "2019-01-01"},
                {"i": 1, "label": "1:x", "day": "2019-01-02"},
            ],
            "size": 2,
        },
        {"rows": [{"i": 9}], "size": 1},
    ]
    assert outcome.run("none").outputs == {"outputs": [], "outputFiles": {}}


async def test_output_files_and_the_database_file_travel_through_storage(
    harness: Harness,
) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: build
    type: io.kestra.plugin.jdbc.duckdb.Queries
    outputDbFile: true
    outputFiles: ["*.csv", report.txt]
    sql: |
      CREATE TABLE cities AS SELECT * FROM (VALUES ('Paris', 2.1), ('Oslo', 0.7)) v(name, pop);
      COPY (SELECT * FROM cities WHERE pop > 1) TO 'big.csv' (HEADER);
      COPY (SELECT * FROM cities WHERE pop <= 1) TO 'small.csv' (HEADER);
      COPY (SELECT 'done' AS status) TO '{{ outputFiles['report.txt'] }}' (HEADER false);
  - id: reopen
    type: io.kestra.plugin.jdbc.duckdb.Query
    databaseUri: "{{ outputs.build.databaseUri }}"
    fetchType: FETCH
    sql: SELECT name FROM cities ORDER BY pop DESC
  - id: read_back
    type: io.kestra.plugin.jdbc.duckdb.Query
    inputFiles:
      small.csv: "{{ outputs.build.outputFiles['small.csv'] }}"
    fetchType: FETCH_ONE
    sql: SELECT name FROM 'small.csv'
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    build = outcome.run("build").outputs
    assert sorted(build["outputFiles"]) == ["big.csv", "report.txt", "small.csv"]
    storage = harness.podium.storage
    assert storage.read(build["outputFiles"]["big.csv"]) == b"name,pop\nParis,2.1\n"
    assert storage.read(build["outputFiles"]["report.txt"]) == b"done\n"
    assert build["databaseUri"].endswith(".duckdb")
    assert outcome.run("reopen").outputs["rows"] == [{"name": "Paris"}, {"name": "Oslo"}]
    assert outcome.run("read_back").outputs["row"] == {"name": "Oslo"}


async def test_errors_name_the_statement_and_files_stay_in_the_working_dir(
    harness: Harness,
) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: bad_sql
    type: io.kestra.plugin.jdbc.duckdb.Queries
    allowFailure: true
    sql: |
      CREATE TABLE ok AS SELECT 1 AS x;
      SELECT * FROM missing_table;
  - id: escape
    type: io.kestra.plugin.jdbc.duckdb.Query
    allowFailure: true
    inputFiles: {"../../outside.txt": "no"}
    sql: SELECT 1
  - id: missing_output
    type: io.kestra.plugin.jdbc.duckdb.Query
    allowFailure: true
    outputFiles: [never.csv]
    sql: SELECT 1
"""
    )
    outcome = await harness.run(flow)
    error = outcome.run("bad_sql").error or ""
    assert "Catalog Error" in error and "missing_table" in error
    assert "in statement: SELECT * FROM missing_table" in error
    assert "would leave the working directory" in (outcome.run("escape").error or "")
    assert "'never.csv' was not written" in (outcome.run("missing_output").error or "")


async def test_a_long_query_is_interrupted_when_the_task_times_out(
    real_time_harness: Harness,
) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: endless
    type: io.kestra.plugin.jdbc.duckdb.Query
    timeout: PT1S
    fetchType: FETCH_ONE
    sql: SELECT count(*) FROM range(100000000000000) a
"""
    )
    started = asyncio.get_running_loop().time()
    outcome = await real_time_harness.run(flow)
    assert outcome.state == "FAILED"
    assert "timed out" in (outcome.run("endless").error or "")
    assert asyncio.get_running_loop().time() - started < 10
