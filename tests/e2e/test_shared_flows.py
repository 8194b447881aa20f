"""The course's real Kestra flows (from PODIUM_COURSE_FLOWS, read with `course_flow()`), run
unchanged but for the internet addresses they fetch, which point at local servers here.

- 02_python: its script runs in a container (the Docker runner on Podman) whose image
  `python:slim` has Python, `requests` and `kestra` preinstalled (scripts/build-test-images);
  Docker Hub's API is a local server, reached with host networking (a server-wide forced
  pluginDefault on the Docker runner, as an operator would set it).
- 03_getting_started_data_pipeline: a local copy of the products JSON; the transform runs
  in `python:3.11-alpine` through the Docker runner (Kestra's default when Docker is
  configured); DuckDB's averages must equal 03's SQL run by hand.
- 04_postgres_taxi: the shell extract (wget | gunzip) from a local HTTP server serving
  generated NY-taxi-like CSV.gz files, then the PostgreSQL tasks against the machine's
  running PostgreSQL (server-wide forced pluginDefaults point the flow's
  `jdbc:postgresql://pgdatabase:5432/ny_taxi` at a fresh database, as an operator would).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from engine.server import Podium
from tests.conftest import Harness, course_flow, running_podium
from tests.support.postgres import SERVER, fresh_database
from tests.support.taxi import make_csv_gz
from tests.tasks.http.receiver import serve
from tests.tasks.jdbc.test_duckdb import check_averages, products

pytestmark = pytest.mark.e2e

ROWS, DUPLICATES = 3000, 150


@pytest.fixture(scope="module")
def taxi_database() -> Iterator[str]:
    with fresh_database("podium_taxi") as name:
        yield name


@pytest.fixture
async def files_server() -> AsyncIterator[str]:
    """Serves /DataTalksClub/nyc-tlc-data/releases/download/{taxi}/{file}.csv.gz."""
    cache: dict[str, bytes] = {}

    async def download(request: web.Request) -> web.Response:
        taxi, name = request.match_info["taxi"], request.match_info["name"]
        stem = name.removesuffix(".csv.gz")  # yellow_tripdata_2019-01
        year, month = stem.rsplit("_", 1)[1].split("-")
        if name not in cache:
            cache[name] = make_csv_gz(taxi, int(year), int(month), rows=ROWS, duplicates=DUPLICATES)
        return web.Response(body=cache[name], content_type="application/gzip")

    app = web.Application()
    app.router.add_get("/DataTalksClub/nyc-tlc-data/releases/download/{taxi}/{name}", download)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def podium_for_taxi(tmp_path: Path, taxi_database: str) -> AsyncIterator[Podium]:
    defaults = [
        {
            "type": "io.kestra.plugin.jdbc.postgresql",
            "forced": True,
            "values": {
                "url": f"jdbc:postgresql://127.0.0.1:5432/{taxi_database}",
                "username": "postgres",
                "password": "",
            },
        }
    ]
    async with running_podium(tmp_path / "data", plugin_defaults=defaults) as podium:
        yield podium


async def count(database: str, sql: str) -> int:
    connection = await asyncpg.connect(f"{SERVER}/{database}", timeout=10)
    try:
        return int(await connection.fetchval(sql))
    finally:
        await connection.close()


async def test_04_postgres_taxi_loads_and_merges_without_duplicates(
    podium_for_taxi: Podium, files_server: str, taxi_database: str
) -> None:
    source = course_flow("04_postgres_taxi.yaml").read_text()
    source = source.replace("https://github.com", files_server)
    harness = Harness(podium_for_taxi, None)
    first = await harness.wait(
        await harness.start(source, {"taxi": "yellow", "year": "2019", "month": "01"}), timeout=120
    )
    assert first.state == "SUCCESS", [(r.task_id, r.state, r.error) for r in first.task_runs]
    assert first.execution.labels["file"] == "yellow_tripdata_2019-01.csv"
    assert first.execution.labels["taxi"] == "yellow"
    staging = await count(taxi_database, "SELECT count(*) FROM public.yellow_tripdata_staging")
    assert staging == ROWS + DUPLICATES
    final = await count(taxi_database, "SELECT count(*) FROM public.yellow_tripdata")
    distinct = await count(
        taxi_database, "SELECT count(DISTINCT unique_row_id) FROM public.yellow_tripdata"
    )
    assert distinct == ROWS
    assert (
        await count(
            taxi_database,
            "SELECT count(*) FROM public.yellow_tripdata WHERE filename <> 'yellow_tripdata_2019-01.csv'",
        )
        == 0
    )
    assert not first.runs("green_create_table")
    assert first.run("purge_files").outputs["uris"], "the extracted CSV was purged"

    again = await harness.wait(
        await harness.start(source, {"taxi": "yellow", "year": "2019", "month": "01"}), timeout=120
    )
    assert again.state == "SUCCESS"
    assert (
        await count(taxi_database, "SELECT count(*) FROM public.yellow_tripdata") == final
    )  # MERGE added nothing

    green = await harness.wait(
        await harness.start(source, {"taxi": "green", "year": "2020", "month": "03"}), timeout=120
    )
    assert green.state == "SUCCESS", [(r.task_id, r.state, r.error) for r in green.task_runs]
    assert (
        await count(
            taxi_database, "SELECT count(DISTINCT unique_row_id) FROM public.green_tripdata"
        )
        == ROWS
    )


DOCKER_HOST_NETWORK = [
    {
        "type": "io.kestra.plugin.scripts.runner.docker.Docker",
        "forced": True,
        "values": {"networkMode": "host"},
    }
]


async def test_02_python_runs_in_a_container_with_the_kestra_library(
    tmp_path: Path, docker_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_DOCKER_HOST", docker_host)
    seen: list[str] = []

    async def repository(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"name": "kestra", "pull_count": 123456789})

    source = course_flow("02_python.yaml").read_text()
    async with serve({"/v2/repositories/{name:.*}": repository}) as hub:
        source = source.replace("https://hub.docker.com", hub.base)
        async with running_podium(tmp_path / "data", plugin_defaults=DOCKER_HOST_NETWORK) as podium:
            harness = Harness(podium, None)
            outcome = await harness.wait(await harness.start(source), timeout=300)
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    assert seen == ["/v2/repositories/kestra/kestra/"]
    stats = outcome.run("collect_stats").outputs
    assert stats["vars"] == {"downloads": 123456789}  # Kestra.outputs(...) inside the container
    assert stats["exitCode"] == 0


async def test_03_pipeline_with_its_transform_in_a_container(
    tmp_path: Path, docker_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_DOCKER_HOST", docker_host)
    payload = products(40)

    async def serve_products(request: web.Request) -> web.Response:
        return web.json_response(payload)

    source = course_flow("03_getting_started_data_pipeline.yaml").read_text()
    async with serve({"/products": serve_products}) as server:
        source = source.replace("https://dummyjson.com", server.base)
        async with running_podium(tmp_path / "data", plugin_defaults=DOCKER_HOST_NETWORK) as podium:
            harness = Harness(podium, None)
            outcome = await harness.wait(await harness.start(source), timeout=300)
            assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
            assert "products.json" in outcome.run("transform").outputs["outputFiles"]
            assert not any("falling back" in m for m in outcome.messages("transform"))
            check_averages(harness, outcome.run("query").outputs, payload, tmp_path)
