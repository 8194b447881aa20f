"""The S3 tasks and trigger against a real S3 API server (moto in server mode) through a
whole Podium: the examples of docs/plugins.md, run as written but for the endpoint
(a server-wide pluginDefault by the io.kestra.plugin.aws prefix) and the bucket."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Harness
from tests.tasks.cloud.conftest import AWS_SECRET
from tests.triggers.test_schedule_flow import executions, runner_asleep

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "plugins"
CSV = b"vendor,fare\n1,12.5\n2,7.0\n"


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="AKIAPODIUMTESTS",
        aws_secret_access_key=AWS_SECRET,
    )


def bucket_name() -> str:
    return f"b-{uuid.uuid4().hex[:12]}"


def keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", ()))


async def test_every_s3_task_of_the_example(cloud: Harness, s3_endpoint: str) -> None:
    bucket = bucket_name()
    flow = await cloud.deploy((EXAMPLES / "s3_roundtrip.yaml").read_text())
    request = await cloud.podium.intake.execute(
        flow.namespace, flow.id, inputs={"bucket": bucket}, files={"data": ("trips.csv", CSV)}
    )
    outcome = await cloud.wait(request.execution_id)
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    assert outcome.run("create_bucket").outputs == {"bucket": bucket, "region": "eu-west-1"}
    upload = outcome.run("upload").outputs
    assert upload["bucket"] == bucket and upload["key"] == "raw/trips.csv" and upload["eTag"]
    assert outcome.run("copy").outputs["key"] == "archive/trips.csv"
    listed = outcome.run("list").outputs["objects"]
    assert [o["key"] for o in listed] == ["archive/trips.csv", "raw/trips.csv"]
    assert {o["size"] for o in listed} == {len(CSV)}
    download = outcome.run("download").outputs
    assert download["contentLength"] == len(CSV) and download["contentType"] == "text/csv"
    storage = cloud.podium.storage
    assert storage.read(download["uri"]) == CSV
    downloads = outcome.run("downloads").outputs
    assert [o["key"] for o in downloads["objects"]] == ["raw/trips.csv"]
    assert storage.read(downloads["outputFiles"]["raw/trips.csv"]) == CSV
    assert outcome.run("delete").outputs["deleteMarker"] is False
    # MOVE put raw/trips.csv under done/; DeleteList removed what was left
    assert outcome.run("delete_list").outputs == {"count": 1, "size": len(CSV)}
    assert keys(client(s3_endpoint), bucket) == []


async def test_errors_are_clear_and_keep_the_secret_key_secret(
    cloud: Harness, s3_endpoint: str
) -> None:
    bucket = bucket_name()
    client(s3_endpoint).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    outcome = await cloud.run(
        f"""
id: s3_errors
namespace: tests.cloud
pluginDefaults:
  - type: io.kestra.plugin.aws.s3
    values:
      region: eu-west-1
      accessKeyId: "{{{{ secret('AWS_ACCESS_KEY_ID') }}}}"
      secretKeyId: "{{{{ secret('AWS_SECRET_KEY_ID') }}}}"
tasks:
  - id: missing
    type: io.kestra.plugin.aws.s3.Download
    bucket: {bucket}
    key: nothing.csv
    allowFailure: true
  - id: half
    type: io.kestra.plugin.aws.s3.List
    bucket: {bucket}
    secretKeyId: null
    allowFailure: true
  - id: empty
    type: io.kestra.plugin.aws.s3.DeleteList
    bucket: {bucket}
    errorOnEmpty: true
    allowFailure: true
  - id: log_it
    type: io.kestra.plugin.core.log.Log
    message: "key {{{{ secret('AWS_SECRET_KEY_ID') }}}}"
"""
    )
    assert outcome.run("missing").error == f"s3://{bucket}/nothing.csv: no such object"
    assert "accessKeyId and secretKeyId go together" in (outcome.run("half").error or "")
    assert "no object to delete" in (outcome.run("empty").error or "")
    everything = " ".join(
        [*(str(r.error) for r in outcome.task_runs), *(str(r.outputs) for r in outcome.task_runs)]
        + outcome.messages()
    )
    assert AWS_SECRET not in everything and "key ******" in everything


async def test_the_network_policy_applies(cloud: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_HTTP_ALLOWED_NETWORKS", "10.0.0.0/8")
    outcome = await cloud.run(
        """
id: s3_policy
namespace: tests.cloud
tasks:
  - id: list
    type: io.kestra.plugin.aws.s3.List
    bucket: anything
"""
    )
    error = outcome.run("list").error or ""
    assert "127.0.0.1 is a loopback address" in error, error


@pytest.mark.e2e
async def test_the_trigger_fires_once_per_object_version_and_deletes_it(
    cloud: Harness, s3_endpoint: str
) -> None:
    bucket = bucket_name()
    s3 = client(s3_endpoint)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=CSV)
    s3.put_object(Bucket=bucket, Key="elsewhere/b.csv", Body=CSV)
    source = (EXAMPLES / "s3_trigger.yaml").read_text().replace("podium-example-landing", bucket)
    flow = await cloud.deploy(source)
    scope = f"{flow.namespace}/{flow.id}/landing"
    await runner_asleep(cloud, scope)
    [first] = await executions(cloud, flow.id, ended=1)
    outcome = await cloud.outcome(first.execution_id)
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    assert [r.outputs["value"] for r in outcome.runs("size")] == [str(len(CSV))]
    variables = (first.trigger or {}).get("variables") or {}
    assert [o["key"] for o in variables["objects"]] == ["in/a.csv"]
    assert keys(s3, bucket) == ["elsewhere/b.csv"]  # action: DELETE
    assert cloud.clock is not None
    await cloud.clock.advance(60)
    await runner_asleep(cloud, scope)
    assert len(await executions(cloud, flow.id)) == 1
