"""Connecting to Google Cloud Storage: credentials, endpoint, network policy, errors.

Every GCS task and the GCS trigger take the same connection properties:

    projectId         the project buckets are created in (and billed to)
    serviceAccount    a service account's JSON key, as text (use `{{ secret('…') }}`);
                      without it, Google's application default credentials, or none at
                      all when `endpoint` is set (emulators need none)
    scopes            OAuth scopes of the credentials
    endpoint          Podium's own: the API root of an emulator (fake-gcs-server,
                      http://127.0.0.1:4443); Kestra has no such property

The endpoint and the key's token endpoint are checked against the HTTP tasks' network
policy before any request. A failure never repeats the key: its private parts are
masked here, the whole key by the engine (it was revealed as a secret).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import TaskFailed
from engine.plugin import Model, lazy_import

if TYPE_CHECKING:
    # storage is untyped and google.cloud.bigquery typed: `from google.cloud import storage`
    # would make mypy see no storage in the shared namespace; imported so, it is Any.
    import google.cloud.storage as storage
    from google.api_core import exceptions as google_errors
    from google.auth import credentials as auth_credentials
    from google.auth import exceptions as auth_errors
    from google.auth.transport import requests as auth_requests
    from google.oauth2 import service_account
else:  # the SDK is imported when a task first uses it: the catalog stays fast
    storage = lazy_import("google.cloud.storage")
    google_errors = lazy_import("google.api_core.exceptions")
    auth_credentials = lazy_import("google.auth.credentials")
    auth_errors = lazy_import("google.auth.exceptions")
    auth_requests = lazy_import("google.auth.transport.requests")
    service_account = lazy_import("google.oauth2.service_account")
from tasks.objectstore import blocking, check_endpoint

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_SCOPES",
    "GcpConnection",
    "Credentials",
    "GcsSession",
    "blob_to_dict",
    "describe_error",
    "masked",
    "open_session",
    "resolve_credentials",
]

DEFAULT_ENDPOINT = "https://storage.googleapis.com"
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REQUEST_TIMEOUT = 60.0
"""Socket timeout of one HTTP request of the SDK (connect and each read)."""


class GcpConnection(Model):
    """The connection properties every GCS task and trigger has (see the module)."""

    projectId: str | None = None
    serviceAccount: str | None = None
    scopes: tuple[str, ...] | str = DEFAULT_SCOPES
    endpoint: str | None = None


@dataclass
class GcsSession:
    client: storage.Client
    secrets: tuple[str, ...] = field(default=(), repr=False)  # parts of the key to mask

    def mask(self, text: str) -> str:
        return masked(self.secrets, text)


def masked(secrets: Sequence[str], text: str) -> str:
    for secret in secrets:
        text = text.replace(secret, "******")
    return text


def _key_parts(info: Mapping[str, Any]) -> tuple[str, ...]:
    parts = [str(info.get(k) or "") for k in ("private_key", "private_key_id")]
    found = [p for p in parts if len(p) >= 8]
    # The PEM body line by line too: an error may quote one line of it.
    for part in list(found):
        found.extend(line for line in part.splitlines() if len(line) >= 16)
    return tuple(sorted(set(found), key=len, reverse=True))


@dataclass
class Credentials:
    """What every Google client of a task is built from (GCS, BigQuery)."""

    project: str | None
    endpoint: str | None
    credentials: Any  # None: application default credentials
    secrets: tuple[str, ...] = field(default=(), repr=False)


async def resolve_credentials(
    connection: GcpConnection, render: Callable[[Any], Any], default_endpoint: str
) -> Credentials:
    """The rendered project, endpoint and credentials of `connection`, the endpoint and the
    key's token endpoint checked against the network policy (`default_endpoint` when no
    endpoint is set)."""
    project = render(connection.projectId) if connection.projectId else None
    endpoint = render(connection.endpoint) if connection.endpoint else None
    raw_scopes = render(connection.scopes)
    scopes: Sequence[str] = (
        [s.strip() for s in raw_scopes.split(",") if s.strip()]
        if isinstance(raw_scopes, str)
        else list(raw_scopes)
    )
    await check_endpoint(endpoint or default_endpoint)
    secrets: tuple[str, ...] = ()
    credentials: Any
    if connection.serviceAccount:
        text = render(connection.serviceAccount)
        try:
            info = json.loads(text)
            if not isinstance(info, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            raise TaskFailed("serviceAccount is not a service account JSON key") from None
        secrets = _key_parts(info)
        token_uri = str(info.get("token_uri") or "https://oauth2.googleapis.com/token")
        await check_endpoint(token_uri, what="serviceAccount token_uri")
        try:
            credentials = service_account.Credentials.from_service_account_info(info, scopes=scopes)
        except (ValueError, KeyError) as exc:
            message = masked(secrets, str(exc))
            raise TaskFailed(f"serviceAccount is not a usable key: {message}") from None
        try:
            # Get the token now, once: a refused key fails here with one clear error,
            # not after the SDK's retries of every call (minutes).
            await blocking(credentials.refresh, auth_requests.Request(), timeout=REQUEST_TIMEOUT)
        except TaskFailed:
            raise
        except Exception as exc:
            message = masked(secrets, f"{type(exc).__name__}: {exc}")
            raise TaskFailed(f"serviceAccount: cannot get an access token: {message}") from None
    elif endpoint:
        credentials = auth_credentials.AnonymousCredentials()
    else:
        credentials = None  # application default credentials, as Kestra
    return Credentials(project, endpoint, credentials, secrets)


async def open_session(connection: GcpConnection, render: Callable[[Any], Any]) -> GcsSession:
    """A storage client for `connection`, its templates rendered with `render`."""
    found = await resolve_credentials(connection, render, DEFAULT_ENDPOINT)
    options = {"api_endpoint": found.endpoint} if found.endpoint else None
    try:
        client = storage.Client(
            project=found.project or "podium", credentials=found.credentials, client_options=options
        )
    except auth_errors.GoogleAuthError as exc:
        raise TaskFailed(f"no Google credentials: {exc}; set serviceAccount") from None
    return GcsSession(client, found.secrets)


def describe_error(session: Any, exc: BaseException, what: str) -> TaskFailed:
    """One line saying what failed, the key's private parts masked (`session`: anything
    with a `mask(text)`, or None)."""
    if isinstance(exc, google_errors.NotFound):
        text = f"{what}: not found"
    elif isinstance(exc, google_errors.GoogleAPICallError):
        text = f"{what}: {exc.code} {exc.message}"
    else:
        text = f"{what}: {type(exc).__name__}: {exc}"
    return TaskFailed(session.mask(text) if session is not None else text)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def blob_to_dict(blob: Any, uri: str | None = None) -> dict[str, Any]:
    """Kestra's io.kestra.plugin.gcp.gcs.models.Blob."""
    return {
        "uri": uri or f"gs://{blob.bucket.name}/{blob.name}",
        "bucket": blob.bucket.name,
        "name": blob.name,
        "generatedId": blob.id,
        "generation": blob.generation,
        "metaGeneration": blob.metageneration,
        "size": blob.size,
        "contentType": blob.content_type,
        "contentEncoding": blob.content_encoding,
        "contentDisposition": blob.content_disposition,
        "contentLanguage": blob.content_language,
        "cacheControl": blob.cache_control,
        "etag": blob.etag,
        "md5": blob.md5_hash,
        "crc32c": blob.crc32c,
        "mediaLink": blob.media_link,
        "selfLink": blob.self_link,
        "metadata": dict(blob.metadata or {}),
        "storageClass": blob.storage_class,
        "createTime": _iso(blob.time_created),
        "updateTime": _iso(blob.updated),
        "isDirectory": blob.name.endswith("/"),
    }


def directory_to_dict(bucket: str, prefix: str) -> dict[str, Any]:
    return {"uri": f"gs://{bucket}/{prefix}", "bucket": bucket, "name": prefix, "isDirectory": True}
