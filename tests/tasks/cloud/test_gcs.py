"""The GCS tasks and trigger against a real GCS API server (fake-gcs-server) through a
whole Podium: the examples of docs/plugins.md, run as written but for the endpoint
(a server-wide pluginDefault by the io.kestra.plugin.gcp prefix) and the bucket."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from tests.conftest import Harness
from tests.tasks.cloud.conftest import SERVICE_ACCOUNT_PRIVATE_KEY_ID
from tests.triggers.test_schedule_flow import executions, runner_asleep

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "plugins"
CSV = b"vendor,fare\n1,12.5\n2,7.0\n"


def client(endpoint: str) -> storage.Client:
    return storage.Client(
        project="p", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
    )


def bucket_name() -> str:
    return f"b-{uuid.uuid4().hex[:12]}"


async def test_every_gcs_task_of_the_example(cloud: Harness, gcs_endpoint: str) -> None:
    bucket = bucket_name()
    flow = await cloud.deploy((EXAMPLES / "gcs_roundtrip.yaml").read_text())
    request = await cloud.podium.intake.execute(
        flow.namespace, flow.id, inputs={"bucket": bucket}, files={"data": ("trips.csv", CSV)}
    )
    outcome = await cloud.wait(request.execution_id)
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    created = outcome.run("create_bucket").outputs
    assert created == {
        "bucket": bucket,
        "bucketUri": f"gs://{bucket}",
        "created": True,
        "updated": False,
    }
    assert outcome.run("upload").outputs == {"uri": f"gs://{bucket}/raw/trips.csv"}
    assert outcome.run("copy").outputs == {"uri": f"gs://{bucket}/archive/trips.csv"}
    listed = outcome.run("list").outputs["blobs"]
    assert sorted(b["name"] for b in listed) == ["archive/trips.csv", "raw/trips.csv"]
    assert {b["size"] for b in listed} == {len(CSV)}
    assert listed[0]["contentType"] == "text/csv"
    download = outcome.run("download").outputs
    assert download["bucket"] == bucket and download["path"] == "archive/trips.csv"
    storage_ = cloud.podium.storage
    assert storage_.read(download["uri"]) == CSV
    downloads = outcome.run("downloads").outputs
    assert [b["name"] for b in downloads["blobs"]] == ["raw/trips.csv"]
    assert storage_.read(downloads["outputFiles"]["raw/trips.csv"]) == CSV
    assert outcome.run("delete").outputs == {
        "uri": f"gs://{bucket}/archive/trips.csv",
        "deleted": True,
    }
    # MOVE put raw/trips.csv under done/; DeleteList removed it; the bucket went
    assert outcome.run("delete_list").outputs == {"count": 1, "size": len(CSV)}
    assert outcome.run("delete_bucket").outputs == {"bucket": bucket}
    assert client(gcs_endpoint).lookup_bucket(bucket) is None


async def test_errors_are_clear_and_keep_the_key_secret(cloud: Harness, gcs_endpoint: str) -> None:
    bucket = bucket_name()
    client(gcs_endpoint).create_bucket(bucket)
    flow = f"""
id: gcs_errors
namespace: tests.cloud
tasks:
  - id: missing
    type: io.kestra.plugin.gcp.gcs.Delete
    uri: gs://{bucket}/nothing.csv
  - id: exists
    type: io.kestra.plugin.gcp.gcs.CreateBucket
    name: {bucket}
    allowFailure: true
  - id: strict
    type: io.kestra.plugin.gcp.gcs.Delete
    uri: gs://{bucket}/nothing.csv
    errorOnMissing: true
    allowFailure: true
  - id: no_token
    type: io.kestra.plugin.gcp.gcs.List
    from: gs://{bucket}/
    serviceAccount: "{{{{ secret('GCP_BROKEN_ACCOUNT') }}}}"
    allowFailure: true
  - id: log_it
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ secret('GCP_BROKEN_ACCOUNT') }}}}"
"""
    outcome = await cloud.run(flow)
    assert outcome.run("missing").outputs == {"uri": f"gs://{bucket}/nothing.csv", "deleted": False}
    assert "already exists (ifExists: ERROR)" in (outcome.run("exists").error or "")
    assert "no such object" in (outcome.run("strict").error or "")
    error = outcome.run("no_token").error or ""
    assert error.startswith("serviceAccount: cannot get an access token"), error
    everything = " ".join(
        [*(str(r.error) for r in outcome.task_runs), *(str(r.outputs) for r in outcome.task_runs)]
        + outcome.messages()
    )
    assert SERVICE_ACCOUNT_PRIVATE_KEY_ID not in everything
    assert "PRIVATE KEY" not in everything and "BEGIN" not in everything


async def test_the_network_policy_applies(
    cloud: Harness, gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PODIUM_HTTP_ALLOWED_NETWORKS")
    outcome = await cloud.run(
        """
id: gcs_policy
namespace: tests.cloud
tasks:
  - id: list
    type: io.kestra.plugin.gcp.gcs.List
    from: gs://anything/
"""
    )
    assert outcome.state == "FAILED"
    error = outcome.run("list").error or ""
    assert "127.0.0.1 is a loopback address" in error and "PODIUM_HTTP_ALLOWED_NETWORKS" in error


async def test_unknown_properties_are_refused_at_load(cloud: Harness) -> None:
    from engine.errors import FlowDefinitionError

    with pytest.raises(FlowDefinitionError, match="listingTyp"):
        await cloud.deploy(
            """
id: typo
namespace: tests.cloud
tasks:
  - {id: list, type: io.kestra.plugin.gcp.gcs.List, from: "gs://b/", listingTyp: RECURSIVE}
"""
        )


@pytest.mark.e2e
async def test_the_trigger_fires_once_per_file_version_and_moves_it(
    cloud: Harness, gcs_endpoint: str
) -> None:
    bucket = bucket_name()
    gcs = client(gcs_endpoint)
    gcs.create_bucket(bucket)
    gcs.bucket(bucket).blob("in/a.csv").upload_from_string(CSV)
    gcs.bucket(bucket).blob("in/skip.txt").upload_from_string(b"x")
    source = (EXAMPLES / "gcs_trigger.yaml").read_text()
    source = source.replace("podium-example-landing", bucket)
    source = source.replace("    action: MOVE", "    action: MOVE\n    regExp: .*\\.csv")
    flow = await cloud.deploy(source)
    scope = f"{flow.namespace}/{flow.id}/landing"
    await runner_asleep(cloud, scope)
    [first] = await executions(cloud, flow.id, ended=1)
    outcome = await cloud.outcome(first.execution_id)
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    assert [r.outputs["value"] for r in outcome.runs("size")] == [str(len(CSV))]
    names = sorted(b.name for b in gcs.list_blobs(bucket))
    assert names == ["archive/a.csv", "in/skip.txt"]
    # a new version of the same name fires again; the archived one never does
    gcs.bucket(bucket).blob("in/a.csv").upload_from_string(CSV + b"3,1.0\n")
    assert cloud.clock is not None
    await cloud.clock.advance(60)
    found = await executions(cloud, flow.id, ended=2)
    second = await cloud.outcome(
        next(e for e in found if e.execution_id != first.execution_id).execution_id
    )
    assert [r.outputs["value"] for r in second.runs("size")] == [str(len(CSV) + 6)]
    await cloud.clock.advance(60)
    await runner_asleep(cloud, scope)
    assert len(await executions(cloud, flow.id)) == 2
