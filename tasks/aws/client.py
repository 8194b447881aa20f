"""Connecting to S3: credentials, region, endpoint, network policy, errors, listings.

Every S3 task and the S3 trigger take the same connection properties (Kestra's):

    region             the AWS region (default us-east-1)
    endpointOverride   an S3-compatible endpoint (MinIO, moto, a VPC endpoint)
    accessKeyId        with secretKeyId (and sessionToken): static credentials; without
    secretKeyId        them, boto3's default chain, as Kestra uses the AWS SDK's
    sessionToken
    forcePathStyle     bucket in the path (http://host/bucket/key), not in the host name

The endpoint is checked against the HTTP tasks' network policy before any request.
The secret key is revealed as a secret and masked by the engine; errors of the SDK
name neither key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import TaskFailed
from engine.plugin import Model, lazy_import
from tasks.objectstore import ObjectFilter, check_endpoint

if TYPE_CHECKING:
    import boto3.session
    from botocore import config as botocore_config
    from botocore import exceptions as botocore_errors
else:  # the SDK is imported when a task first uses it: the catalog stays fast
    boto3 = lazy_import("boto3")
    botocore_config = lazy_import("botocore.config")
    botocore_errors = lazy_import("botocore.exceptions")

__all__ = ["AwsConnection", "S3Session", "describe_error", "list_objects", "object_to_dict"]

CONNECT_TIMEOUT, READ_TIMEOUT = 10, 60
"""Seconds: socket timeouts of every request of the SDK."""
MAX_LISTED = 100_000


class AwsConnection(Model):
    region: str | None = None
    endpointOverride: str | None = None
    accessKeyId: str | None = None
    secretKeyId: str | None = None
    sessionToken: str | None = None
    forcePathStyle: bool | str | None = None


@dataclass
class S3Session:
    client: Any
    secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return "<S3Session>"

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if len(secret) >= 3:
                text = text.replace(secret, "******")
        return text


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


async def open_session(connection: AwsConnection, render: Callable[[Any], Any]) -> S3Session:
    region = render(connection.region) if connection.region else "us-east-1"
    endpoint = render(connection.endpointOverride) if connection.endpointOverride else None
    if not re.fullmatch(r"[a-z0-9-]{2,32}", region):
        raise TaskFailed(f"region {region!r} is not an AWS region name")
    await check_endpoint(endpoint or f"https://s3.{region}.amazonaws.com")
    access = render(connection.accessKeyId) if connection.accessKeyId else None
    secret = render(connection.secretKeyId) if connection.secretKeyId else None
    token = render(connection.sessionToken) if connection.sessionToken else None
    if bool(access) != bool(secret):
        raise TaskFailed("accessKeyId and secretKeyId go together: set both or neither")
    path_style = connection.forcePathStyle is not None and _flag(render(connection.forcePathStyle))
    config = botocore_config.Config(
        region_name=region,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path" if path_style else "auto"},
    )
    try:
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=config,
        )
    except (botocore_errors.BotoCoreError, ValueError) as exc:
        raise TaskFailed(f"cannot connect to S3: {exc}") from None
    return S3Session(client, tuple(s for s in (secret, token) if s))


def describe_error(session: S3Session | None, exc: BaseException, what: str) -> TaskFailed:
    if isinstance(exc, botocore_errors.ClientError):
        error = exc.response.get("Error", {})
        text = f"{what}: {error.get('Code', '?')} {error.get('Message', '')}".rstrip()
    else:
        text = f"{what}: {type(exc).__name__}: {exc}"
    return TaskFailed(session.mask(text) if session is not None else text)


def is_missing(exc: BaseException) -> bool:
    if not isinstance(exc, botocore_errors.ClientError):
        return False
    return str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound")


def object_to_dict(bucket: str, item: dict[str, Any], uri: str | None = None) -> dict[str, Any]:
    """Kestra's io.kestra.plugin.aws.s3.models.S3Object."""
    modified = item.get("LastModified")
    owner = item.get("Owner")
    return {
        "uri": uri or f"s3://{bucket}/{item['Key']}",
        "bucket": bucket,
        "key": item["Key"],
        "etag": str(item.get("ETag", "")).strip('"'),
        "size": item.get("Size"),
        "lastModified": modified.isoformat() if modified is not None else None,
        "storageClass": item.get("StorageClass"),
        "owner": {"id": owner.get("ID"), "displayName": owner.get("DisplayName")}
        if owner
        else None,
    }


def _pages(client: Any, bucket: str, prefix: str, delimiter: str | None) -> Iterator[Any]:
    arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if delimiter:
        arguments["Delimiter"] = delimiter
    yield from client.get_paginator("list_objects_v2").paginate(**arguments)


def list_objects(
    client: Any, bucket: str, flt: ObjectFilter, delimiter: str | None, *, limit: int = MAX_LISTED
) -> list[dict[str, Any]]:
    """The S3Objects (and, with a delimiter, folders as keys ending in it) `flt` keeps.
    Kestra's S3 `regexp` matches the key (its GCS `regExp` the whole gs:// URI)."""
    found: list[dict[str, Any]] = []
    for page in _pages(client, bucket, flt.prefix, delimiter):
        for item in page.get("Contents", ()):
            if flt.wants(item["Key"], item["Key"]):
                found.append(object_to_dict(bucket, item))
        for common in page.get("CommonPrefixes", ()):
            key = common["Prefix"]
            if flt.wants(key, key):
                found.append({"uri": f"s3://{bucket}/{key}", "bucket": bucket, "key": key})
        if len(found) > limit:
            raise TaskFailed(
                f"s3://{bucket}/{flt.prefix} lists more than {limit} objects; narrow the "
                "prefix or regexp"
            )
    return found


def download_version(client: Any, bucket: str, key: str, etag: str, path: Any) -> None:
    """Write the object to `path` if it still is the version with `etag` (S3 answers
    412 otherwise: it was written again since it was listed)."""
    answer = client.get_object(Bucket=bucket, Key=key, IfMatch=f'"{etag}"')
    body = answer["Body"]
    try:
        with open(path, "wb") as handle:
            for chunk in body.iter_chunks(1024 * 1024):
                handle.write(chunk)
    finally:
        body.close()
