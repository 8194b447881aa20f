"""dbt.cli.DbtCLI end to end: a small dbt project (a seed, a staging view, a model, tests)
in a git repository on a loopback git server → git.SyncNamespaceFiles → `dbt build`
against DuckDB and against a fresh PostgreSQL database; then a failing dbt test."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.kv.service import TaskKvStore
from tests.conftest import Harness, running_podium
from tests.support.git_server import PASSWORD, GitServer, running_git_server
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.e2e

PG_PASSWORD = "pg-pw-never-shown-41"

PROJECT = {
    "dbt/dbt_project.yml": (
        "name: taxi\nversion: '1.0'\nprofile: taxi\nconfig-version: 2\n"
        "seeds:\n  taxi:\n    +column_types: {zone_id: integer}\n"
    ),
    "dbt/seeds/zones.csv": "zone_id,borough\n1,Manhattan\n2,Queens\n3,Queens\n",
    "dbt/models/staging/stg_zones.sql": "select zone_id, borough from {{ ref('zones') }}\n",
    "dbt/models/boroughs.sql": (
        "select borough, count(*) as zones from {{ ref('stg_zones') }} group by borough\n"
    ),
    "dbt/models/schema.yml": (
        "version: 2\nmodels:\n  - name: boroughs\n    columns:\n"
        "      - name: borough\n        data_tests: [unique, not_null]\n"
    ),
}

FLOW = """
id: dbt_flow
namespace: taxi
tasks:
  - id: sync
    type: io.kestra.plugin.git.SyncNamespaceFiles
    url: {url}
    username: podium
    password: "{{{{ secret('GIT_PASSWORD') }}}}"
    namespace: taxi
    gitDirectory: dbt
    delete: true
  - id: both  # dbt starts slowly: the two builds run side by side
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: duckdb
        type: io.kestra.plugin.dbt.cli.DbtCLI
        taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
        namespaceFiles: {{enabled: true}}
        storeManifest: {{key: manifest.json}}
        loadManifest: {{key: manifest.json}}
        commands: [dbt build]
        profiles: |
          taxi:
            target: dev
            outputs:
              dev: {{type: duckdb, path: "{{{{ workingDir }}}}/dev.duckdb", threads: 1}}
      - id: postgres
        type: io.kestra.plugin.dbt.cli.Build
        taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
        namespaceFiles: {{enabled: true}}
        env: {{DBT_CACHE_SELECTED_ONLY: "true"}}
        profiles: |
          taxi:
            target: dev
            outputs:
              dev:
                type: postgres
                host: 127.0.0.1
                port: 5432
                user: postgres
                password: "{{{{ secret('PG_PASSWORD') }}}}"
                dbname: {database}
                schema: analytics
                threads: 1
"""


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with fresh_database("podium_dbt") as name:
        yield name


@pytest.fixture
async def podium_and_git(tmp_path: Path) -> AsyncIterator[tuple[Harness, GitServer]]:
    environ = {
        "SECRET_GIT_PASSWORD": base64.b64encode(PASSWORD.encode()).decode(),
        "SECRET_PG_PASSWORD": base64.b64encode(PG_PASSWORD.encode()).decode(),
    }
    (tmp_path / "git").mkdir()
    async with (
        running_git_server(tmp_path / "git") as server,
        running_podium(tmp_path / "data", environ=environ) as podium,
    ):
        yield Harness(podium, None), server


async def test_git_to_dbt_build_on_duckdb_and_postgres_then_a_failing_test(
    podium_and_git: tuple[Harness, GitServer], database: str
) -> None:
    harness, server = podium_and_git
    server.create("taxi", PROJECT)
    flow = FLOW.format(url=server.url("taxi"), database=database)
    outcome = await harness.wait(await harness.start(flow), timeout=240)
    assert outcome.state == "SUCCESS", outcome.messages()

    for task in ("duckdb", "postgres"):
        results = {r["uniqueId"]: r for r in outcome.run(task).outputs["runResults"]}
        assert results["model.taxi.boroughs"]["status"] == "success"
        assert results["model.taxi.stg_zones"]["status"] == "success"
        assert results["seed.taxi.zones"]["status"] == "success"
        tests = {k: r["status"] for k, r in results.items() if k.startswith("test.taxi.")}
        assert sorted(tests.values()) == ["pass", "pass"], tests
        assert all(r["startedAt"] and r["executionTime"] >= 0 for r in results.values())
    messages = outcome.messages("duckdb")
    assert any("Completed successfully" in m for m in messages), messages
    levels = {line.level for line in outcome.logs if line.task_id == "duckdb"}
    assert "INFO" in levels
    files = outcome.run("duckdb").outputs["outputFiles"]
    assert sorted(files) == ["manifest.json", "run_results.json"]
    found, manifest = await TaskKvStore(harness.podium.kv, "taxi").get("manifest.json")
    assert found and "model.taxi.boroughs" in manifest["nodes"]

    shown = json.dumps([line.message for line in outcome.logs])
    shown += json.dumps([r.outputs for r in outcome.task_runs], default=str)
    assert PG_PASSWORD not in shown and PASSWORD not in shown

    # a failing dbt test: the task is FAILED and names it
    server.commit(
        "taxi",
        {"dbt/models/boroughs.sql": "select borough from {{ ref('stg_zones') }}\n"},
    )
    only_duckdb = flow.replace(
        "      - id: postgres", "      - id: postgres\n        disabled: true"
    )
    failing = await harness.wait(await harness.start(only_duckdb), timeout=240)
    assert failing.state == "FAILED"
    assert any("loaded dbt's manifest" in m for m in failing.messages("duckdb"))
    error = failing.run("duckdb").error or ""
    assert "test.taxi.unique_boroughs_borough" in error and "(fail)" in error, error
    results = {r["uniqueId"]: r["status"] for r in failing.run("duckdb").outputs["runResults"]}
    assert results["model.taxi.boroughs"] == "success"
    errors = [line.message for line in failing.logs if line.level == "ERROR"]
    assert any("unique_boroughs_borough" in m for m in errors), errors  # dbt's level kept
