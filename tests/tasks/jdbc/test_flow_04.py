"""The course's 04_postgres_taxi flow, as written, against the local PostgreSQL.

Only what needs the internet changes: the `extract` step (wget from GitHub in a shell)
becomes an http.Download from a local server holding generated CSV files in the NY taxi
schemas, and `vars.data` points at its output. Everything the PostgreSQL tasks do — the
tables, TRUNCATE, CopyIn with mixed-case column lists, the md5 UPDATE, MERGE — runs
unchanged, with its connection coming from the flow's `pluginDefaults`.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import yaml
from aiohttp import web

from tests.conftest import Harness, course_flow
from tests.support.postgres import admin
from tests.support.taxi import GREEN, YELLOW
from tests.tasks.http.receiver import serve


def taxi_csv(columns: list[str], rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for i in range(rows):
        values: dict[str, Any] = {
            "VendorID": 1 + i % 2,
            "passenger_count": "" if i % 10 == 0 else 1 + i % 4,
            "trip_distance": f"{0.5 + i % 17 * 0.3:.2f}",
            "RatecodeID": 1,
            "store_and_fwd_flag": "N",
            "PULocationID": 100 + i % 50,
            "DOLocationID": 200 + i % 40,
            "payment_type": 1 + i % 3,
            "fare_amount": f"{5 + i % 23:.2f}",
            "extra": "0.5",
            "mta_tax": "0.5",
            "tip_amount": f"{i % 4:.2f}",
            "tolls_amount": "0",
            "ehail_fee": "",
            "improvement_surcharge": "0.3",
            "total_amount": f"{6.3 + i % 23 + i % 4:.2f}",
            "trip_type": 1,
            "congestion_surcharge": "" if i % 7 == 0 else "2.5",
        }
        pickup = f"2019-01-{1 + i // 1440 % 28:02d} {i // 60 % 24:02d}:{i % 60:02d}:00"
        dropoff = f"2019-01-{1 + i // 1440 % 28:02d} {i // 60 % 24:02d}:{i % 60:02d}:30"
        for prefix in ("tpep", "lpep"):
            values[f"{prefix}_pickup_datetime"] = pickup
            values[f"{prefix}_dropoff_datetime"] = dropoff
        writer.writerow([values[c] for c in columns])
    return out.getvalue().encode()


def flow_04(base_url: str, pg_url: str) -> str:
    flow = yaml.safe_load(course_flow("04_postgres_taxi.yaml").read_text())
    [extract] = [t for t in flow["tasks"] if t["id"] == "extract"]
    extract.clear()
    extract.update(
        id="extract",
        type="io.kestra.plugin.core.http.Download",
        uri=base_url + "/{{inputs.taxi}}/{{render(vars.file)}}",
    )
    flow["variables"]["data"] = "{{ outputs.extract.uri }}"
    [defaults] = flow["pluginDefaults"]
    assert defaults["type"] == "io.kestra.plugin.jdbc.postgresql"
    defaults["values"] = {"url": pg_url, "username": "postgres", "password": ""}
    return yaml.safe_dump(flow, sort_keys=False)


async def test_flow_04_loads_yellow_and_green_taxi_data(harness: Harness, pg_url: str) -> None:
    files = {"yellow": taxi_csv(YELLOW, 300), "green": taxi_csv(GREEN, 120)}

    async def taxi_file(request: web.Request) -> web.StreamResponse:
        return web.Response(body=files[request.match_info["taxi"]], content_type="text/csv")

    database = pg_url.rsplit("/", 1)[1]
    async with serve({"/{taxi}/{name}": taxi_file}) as server:
        source = flow_04(server.base, pg_url)
        yellow = await harness.run(source, {"taxi": "yellow", "year": "2019", "month": "01"})
        again = await harness.run(source, {"taxi": "yellow", "year": "2019", "month": "01"})
        green = await harness.run(source, {"taxi": "green", "year": "2019", "month": "01"})

    for outcome in (yellow, again, green):
        assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    assert yellow.run("yellow_copy_in_to_staging_table").outputs == {"rowCount": 300}
    assert yellow.execution.labels["file"] == "yellow_tripdata_2019-01.csv"
    assert not yellow.runs("green_create_table")
    assert yellow.run("purge_files").outputs["uris"]  # the downloaded file was removed
    [counts] = await admin(
        """SELECT count(*) AS n, count(DISTINCT unique_row_id) AS ids,
                  count(*) FILTER (WHERE filename = 'yellow_tripdata_2019-01.csv') AS named,
                  count(passenger_count) AS with_passengers, sum(fare_amount) AS fares
           FROM public.yellow_tripdata""",
        database,
    )
    # Loaded twice, merged once: MERGE on the md5 id keeps every trip exactly once.
    assert dict(counts) == {
        "n": 300,
        "ids": 300,
        "named": 300,
        "with_passengers": 270,
        "fares": sum(5 + i % 23 for i in range(300)),
    }
    [green_counts] = await admin(
        "SELECT count(*) AS n, count(ehail_fee) AS fees FROM public.green_tripdata", database
    )
    assert dict(green_counts) == {"n": 120, "fees": 0}
