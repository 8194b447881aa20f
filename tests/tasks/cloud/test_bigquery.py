"""The BigQuery tasks against a real BigQuery API server (crucible-emulator, DuckDB-backed)
through a whole Podium: the example of docs/plugins.md, run as written but for the
endpoint (a server-wide pluginDefault by the io.kestra.plugin.gcp.bigquery prefix).

crucible-emulator pins DuckDB 1.5.6 and sqlglot 30.22; Podium runs DuckDB 2.0 (the
DuckDB tasks, dbt-duckdb). So the server lives in its own virtualenv, built once under
the user's cache folder and reused, and is spoken to over HTTP on a free loopback port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from engine.clock import FakeClock
from engine.errors import FlowDefinitionError
from engine.ion import loads
from tests.conftest import Harness, running_podium
from tests.support.crucible import crucible_venv
from tests.tasks.cloud.conftest import (
    SERVICE_ACCOUNT_PRIVATE_KEY_ID,
    _free_port,
    _serving,
    b64,
    service_account_json,
    token_server,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "plugins"
CSV = b"vendor,fare\n1,12.5\n2,7.0\n1,3.5\n"


@pytest.fixture(scope="session")
def bigquery_endpoint() -> Iterator[str]:
    venv = crucible_venv()  # scripts/test builds it first, with its time shown
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    python = str(venv / "bin" / "python")
    command = [
        python, "-c", "import sys; from crucible.cli import main; sys.exit(main())",
        "serve", "--dialect", "bigquery", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with _serving(command, f"{url}/_crucible/health"):
        yield url


def client(endpoint: str) -> bigquery.Client:
    return bigquery.Client(
        project="my-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoint},
    )


@pytest.fixture
async def bq(tmp_path: Path, bigquery_endpoint: str) -> AsyncIterator[Harness]:
    clock = FakeClock()
    async with token_server() as token_uri:
        environ = {"SECRET_GCP_SERVICE_ACCOUNT": b64(service_account_json(token_uri))}
        defaults = [
            {"type": "io.kestra.plugin.gcp.bigquery", "values": {"endpoint": bigquery_endpoint}}
        ]
        async with running_podium(
            tmp_path / "data", clock=clock, environ=environ, plugin_defaults=defaults
        ) as podium:
            yield Harness(podium, clock)


def dataset_name() -> str:
    return f"d_{uuid.uuid4().hex[:12]}"


async def test_every_bigquery_task_of_the_example(bq: Harness, bigquery_endpoint: str) -> None:
    dataset = dataset_name()
    flow = await bq.deploy((EXAMPLES / "bigquery_trips.yaml").read_text())
    request = await bq.podium.intake.execute(
        flow.namespace, flow.id, inputs={"dataset": dataset}, files={"data": ("trips.csv", CSV)}
    )
    outcome = await bq.wait(request.execution_id)
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    created = outcome.run("create_dataset").outputs
    assert created["dataset"] == dataset and created["project"] == "my-project"
    assert created["description"] == "Yellow taxi trips"
    table = outcome.run("create_table").outputs
    assert (table["projectId"], table["datasetId"], table["table"]) == (
        "my-project",
        dataset,
        "trips",
    )
    assert [f["name"] for f in table["schema"]["fields"]] == ["vendor", "fare"]
    load = outcome.run("load").outputs
    assert load["rows"] == 3 and load["jobId"]
    assert load["destinationTable"] == {
        "project": "my-project",
        "dataset": dataset,
        "table": "trips",
    }
    assert outcome.run("insert").outputs["jobId"]
    fetched = outcome.run("fetch").outputs
    assert fetched["size"] == 3
    assert fetched["rows"] == [
        {"vendor": 1, "total": 16.0},
        {"vendor": 2, "total": 7.0},
        {"vendor": 3, "total": 20.0},
    ]
    assert outcome.run("fetch_one").outputs["row"] == {"trips": 4, "top_fare": 20.0}
    stored = outcome.run("store").outputs
    assert stored["size"] == 4
    rows = loads(bq.podium.storage.read(stored["uri"]).decode())
    assert [(r["vendor"], r["fare"]) for r in rows] == [(1, 12.5), (1, 3.5), (2, 7.0), (3, 20.0)]
    assert outcome.run("delete_table").outputs == {
        "projectId": "my-project",
        "datasetId": dataset,
        "table": "trips",
    }
    assert [t.table_id for t in client(bigquery_endpoint).list_tables(dataset)] == []


async def test_errors_are_clear_and_keep_the_key_secret(
    bq: Harness, bigquery_endpoint: str
) -> None:
    dataset = dataset_name()
    client(bigquery_endpoint).create_dataset(dataset)
    flow = f"""
id: bq_errors
namespace: tests.cloud
pluginDefaults:
  - {{type: io.kestra.plugin.gcp.bigquery, values: {{projectId: my-project}}}}
tasks:
  - id: failing
    type: io.kestra.plugin.core.flow.Sequential
    allowFailure: true
    tasks:
      - id: exists
        type: io.kestra.plugin.gcp.bigquery.CreateDataset
        name: {dataset}
        serviceAccount: "{{{{ secret('GCP_SERVICE_ACCOUNT') }}}}"
  - id: bad_sql
    type: io.kestra.plugin.gcp.bigquery.Query
    allowFailure: true
    sql: SELECT * FROM `{dataset}.missing`
    serviceAccount: "{{{{ secret('GCP_SERVICE_ACCOUNT') }}}}"
  - id: missing_table
    type: io.kestra.plugin.gcp.bigquery.DeleteTable
    allowFailure: true
    dataset: {dataset}
    table: missing
  - id: skip
    type: io.kestra.plugin.gcp.bigquery.CreateDataset
    name: {dataset}
    ifExists: SKIP
"""
    outcome = await bq.run(flow)
    assert "already exists (ifExists: ERROR)" in (outcome.run("exists").error or "")
    assert "missing" in (outcome.run("bad_sql").error or "")
    assert "not found" in (outcome.run("missing_table").error or "")
    assert outcome.run("skip").outputs["dataset"] == dataset
    everything = " ".join(
        [*(str(r.error) for r in outcome.task_runs), *(str(r.outputs) for r in outcome.task_runs)]
        + outcome.messages()
    )
    assert SERVICE_ACCOUNT_PRIVATE_KEY_ID not in everything
    assert "PRIVATE KEY" not in everything and "BEGIN" not in everything


async def test_skip_truncate_and_an_empty_fetch_one(bq: Harness, bigquery_endpoint: str) -> None:
    dataset = dataset_name()
    flow = f"""
id: bq_update
namespace: tests.cloud
inputs:
  - {{id: data, type: FILE}}
pluginDefaults:
  - {{type: io.kestra.plugin.gcp.bigquery, values: {{projectId: my-project}}}}
tasks:
  - {{id: create, type: io.kestra.plugin.gcp.bigquery.CreateDataset, name: {dataset}}}
  - id: skip
    type: io.kestra.plugin.gcp.bigquery.CreateDataset
    name: {dataset}
    ifExists: SKIP
    description: not applied
  - id: load
    type: io.kestra.plugin.gcp.bigquery.Load
    from: "{{{{ inputs.data }}}}"
    destinationTable: {dataset}.fares
    csvOptions: {{skipLeadingRows: 1}}
    schema: {{fields: [{{name: vendor, type: INT64}}, {{name: fare, type: FLOAT64, description: in USD}}]}}
  - id: truncate
    type: io.kestra.plugin.gcp.bigquery.Load
    from: "{{{{ inputs.data }}}}"
    destinationTable: {dataset}.fares
    writeDisposition: WRITE_TRUNCATE
    csvOptions: {{skipLeadingRows: 1}}
    schema: {{fields: [{{name: vendor, type: INT64}}, {{name: fare, type: FLOAT64, description: in USD}}]}}
  - id: count
    type: io.kestra.plugin.gcp.bigquery.Query
    fetchType: FETCH_ONE
    sql: SELECT COUNT(*) AS n FROM `{dataset}.fares`
  - id: none
    type: io.kestra.plugin.gcp.bigquery.Query
    fetchType: FETCH_ONE
    sql: SELECT fare FROM `{dataset}.fares` WHERE vendor = 99
"""
    deployed = await bq.deploy(flow)
    request = await bq.podium.intake.execute(
        deployed.namespace, deployed.id, files={"data": ("fares.csv", CSV)}
    )
    outcome = await bq.wait(request.execution_id)
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    assert outcome.run("create").outputs["description"] is None
    assert outcome.run("skip").outputs["description"] is None
    assert outcome.run("count").outputs == {
        "jobId": outcome.run("count").outputs["jobId"],
        "row": {"n": 3},
        "size": 1,
    }
    assert outcome.run("none").outputs["row"] is None
    assert outcome.run("none").outputs["size"] == 0


async def test_load_from_gcs_and_unknown_properties_are_refused_at_load(bq: Harness) -> None:
    with pytest.raises(FlowDefinitionError, match="no load from gs:// URIs") as refused:
        await bq.deploy(
            """
id: bq_refused
namespace: tests.cloud
tasks:
  - id: load
    type: io.kestra.plugin.gcp.bigquery.LoadFromGcs
    from: [gs://b/trips.csv]
    destinationTable: d.trips
"""
        )
    assert "gcs.Download" in str(refused.value)
    with pytest.raises(FlowDefinitionError, match="ifExists UPDATE is not available"):
        await bq.deploy(
            """
id: bq_update
namespace: tests.cloud
tasks:
  - {id: d, type: io.kestra.plugin.gcp.bigquery.CreateDataset, name: d, ifExists: UPDATE}
"""
        )
    with pytest.raises(FlowDefinitionError, match="destinationTable"):
        await bq.deploy(
            """
id: bq_unknown
namespace: tests.cloud
tasks:
  - {id: q, type: io.kestra.plugin.gcp.bigquery.Query, sql: "SELECT 1", destinationTable: d.t}
"""
        )


async def test_the_network_policy_applies(bq: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODIUM_HTTP_ALLOWED_NETWORKS")
    outcome = await bq.run(
        """
id: bq_policy
namespace: tests.cloud
tasks:
  - {id: query, type: io.kestra.plugin.gcp.bigquery.Query, sql: "SELECT 1"}
"""
    )
    assert outcome.state == "FAILED"
    error = outcome.run("query").error or ""
    assert "127.0.0.1 is a loopback address" in error and "PODIUM_HTTP_ALLOWED_NETWORKS" in error
