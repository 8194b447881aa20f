"""io.kestra.plugin.gcp.gcs.*: objects and buckets of Google Cloud Storage.

    Upload        internal storage → gs://          outputs uri
    Download      gs:// → internal storage          outputs bucket, path, uri
    Downloads     a listing → internal storage, then MOVE/DELETE/NONE
                                                    outputs blobs, outputFiles
    List          a listing                         outputs blobs
    Delete        one object                        outputs uri, deleted
    DeleteList    a listing, deleted                outputs count, size
    Copy          gs:// → gs:// (delete: a move)    outputs uri
    CreateBucket  ifExists ERROR/UPDATE/SKIP        outputs bucket, bucketUri, created, updated
    DeleteBucket                                    outputs bucket

Every SDK call runs in a worker thread (`blocking`), with a socket timeout per request
and a wall-clock bound per call. Listings are capped at MAX_LISTED objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, lazy_import, plugin
from engine.storage import safe_name
from tasks.gcp.client import (
    REQUEST_TIMEOUT,
    GcpConnection,
    GcsSession,
    blob_to_dict,
    describe_error,
    directory_to_dict,
    open_session,
)
from tasks.objectstore import Action, ObjectFilter, blocking, moved_key, split_uri
from tasks.properties import masks_failures, render_flag, render_integer, render_mapping

if TYPE_CHECKING:
    # storage is untyped and google.cloud.bigquery typed: `from google.cloud import storage`
    # would make mypy see no storage in the shared namespace; imported so, it is Any.
    import google.cloud.storage as storage
    from google.api_core import exceptions as google_errors
else:  # the SDK is imported when a task first uses it: the catalog stays fast
    google_errors = lazy_import("google.api_core.exceptions")

__all__ = [
    "Copy",
    "CreateBucket",
    "Delete",
    "DeleteBucket",
    "DeleteList",
    "Download",
    "Downloads",
    "List",
    "Upload",
    "list_blobs",
]

MAX_LISTED = 100_000
"""Objects one listing may return; more fails the task (narrow `from` or `regExp`)."""


class GcsTask(Task, GcpConnection):
    async def session(self, ctx: RunContext) -> GcsSession:
        return await open_session(self, ctx.render)


def list_blobs(
    client: storage.Client, uri: str, flt: ObjectFilter, *, all_versions: bool, limit: int
) -> list[tuple[Any, dict[str, Any]]]:
    """(blob or None for a directory, its Kestra Blob) for each object `flt` keeps."""
    bucket, prefix = split_uri(uri, "gs")
    pages = client.list_blobs(
        bucket,
        prefix=prefix or None,
        delimiter=flt.delimiter,
        versions=all_versions,
        timeout=REQUEST_TIMEOUT,
    )
    found: list[tuple[Any, dict[str, Any]]] = []
    for blob in pages:
        if blob.name == prefix and prefix.endswith("/"):
            continue  # the folder placeholder itself
        if flt.wants(f"gs://{bucket}/{blob.name}", blob.name):
            found.append((blob, blob_to_dict(blob)))
        if len(found) > limit:
            raise TaskFailed(f"{uri} lists more than {limit} objects; narrow from or regExp")
    for directory in sorted(getattr(pages, "prefixes", ()) or ()):
        if flt.wants(f"gs://{bucket}/{directory}", directory):
            found.append((None, directory_to_dict(bucket, directory)))
    return found


def _object_filter(
    ctx: RunContext, source: str, listing: str, reg_exp: str | None, kind: str = "BOTH"
) -> ObjectFilter:
    _, prefix = split_uri(source, "gs")
    return ObjectFilter.build(prefix, listing, ctx.render(reg_exp) if reg_exp else None, kind)


async def act_on(
    session: GcsSession, blobs: list[Any], action: str, move_directory: str | None, source: str
) -> None:
    """MOVE (copy, then delete this generation) or DELETE listed blobs."""
    if action == "NONE":
        return
    target_bucket = target_prefix = ""
    if action == "MOVE":
        if not move_directory:
            raise TaskFailed("action MOVE needs a moveDirectory")
        target_bucket, target_prefix = split_uri(move_directory, "gs")
    _, source_prefix = split_uri(source, "gs")
    for blob in blobs:
        if action == "MOVE":
            destination = session.client.bucket(target_bucket)
            name = moved_key(blob.name, source_prefix, target_prefix)
            await blocking(
                lambda b=blob, n=name, d=destination: b.bucket.copy_blob(
                    b, d, n, source_generation=b.generation, timeout=REQUEST_TIMEOUT
                )
            )
        # Only the generation that was listed: a newer upload stays for the next look.
        await blocking(
            lambda b=blob: b.bucket.delete_blob(
                b.name, generation=b.generation, timeout=REQUEST_TIMEOUT
            )
        )


@plugin("io.kestra.plugin.gcp.gcs.Upload")
class Upload(GcsTask):
    """Upload a file of internal storage to a GCS bucket."""

    from_: str = Field(alias="from")
    to: str
    contentType: str | None = None
    contentEncoding: str | None = None
    contentDisposition: str | None = None
    cacheControl: str | None = None
    metadata: dict[str, str] | str | None = None

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = ctx.storage.local_path(ctx.render(self.from_))
        to = ctx.render(self.to)
        bucket, key = split_uri(to, "gs")
        if not key or key.endswith("/"):
            key += safe_name(source.name)
            to = f"gs://{bucket}/{key}"
        session = await self.session(ctx)
        blob = session.client.bucket(bucket).blob(key)
        for attribute, value in (
            ("content_encoding", self.contentEncoding),
            ("content_disposition", self.contentDisposition),
            ("cache_control", self.cacheControl),
        ):
            if value is not None:
                setattr(blob, attribute, ctx.render(value))
        if self.metadata is not None:
            blob.metadata = {
                str(k): str(v) for k, v in render_mapping(ctx, self.metadata, "metadata").items()
            }
        content_type = ctx.render(self.contentType) if self.contentType else None
        try:
            await blocking(
                lambda: blob.upload_from_filename(
                    str(source), content_type=content_type, timeout=REQUEST_TIMEOUT
                )
            )
        except FileNotFoundError:
            raise TaskFailed(f"no file in internal storage at {self.from_!r}") from None
        except Exception as exc:
            raise describe_error(session, exc, f"upload to {to}") from None
        size = source.stat().st_size
        ctx.metric("file.size", size)
        ctx.logger.info(f"uploaded {size} bytes to {to}")
        return {"uri": to}


@plugin("io.kestra.plugin.gcp.gcs.Download")
class Download(GcsTask):
    """Download one object into internal storage."""

    from_: str = Field(alias="from")

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = ctx.render(self.from_)
        bucket, key = split_uri(source, "gs")
        if not key or key.endswith("/"):
            raise TaskFailed(f"{source} names a folder, not an object")
        session = await self.session(ctx)
        blob = session.client.bucket(bucket).blob(key)
        part = ctx.working_dir() / f"{ctx.task_run_id}.download"
        try:
            await blocking(lambda: blob.download_to_filename(str(part), timeout=REQUEST_TIMEOUT))
        except Exception as exc:
            raise describe_error(session, exc, f"download of {source}") from None
        uri = await asyncio.to_thread(ctx.storage.put_file, key.rsplit("/", 1)[-1], part)
        await asyncio.to_thread(part.unlink, True)
        return {"bucket": bucket, "path": key, "uri": uri}


class _Listing(GcsTask):
    from_: str = Field(alias="from")
    listingType: Literal["DIRECTORY", "RECURSIVE"] = "DIRECTORY"
    regExp: str | None = None
    allVersions: bool | str = False

    async def listed(
        self, ctx: RunContext, session: GcsSession, kind: str = "BOTH", limit: int = MAX_LISTED
    ) -> list[tuple[Any, dict[str, Any]]]:
        source = ctx.render(self.from_)
        flt = _object_filter(ctx, source, self.listingType, self.regExp, kind)
        versions = bool(render_flag(ctx, self.allVersions, "allVersions"))
        try:
            return await blocking(
                list_blobs, session.client, source, flt, all_versions=versions, limit=limit
            )
        except TaskFailed:
            raise
        except Exception as exc:
            raise describe_error(session, exc, f"listing {source}") from None


@plugin("io.kestra.plugin.gcp.gcs.List")
class List(_Listing):
    """List the objects under a gs:// prefix."""

    filter: Literal["FILES", "DIRECTORY", "BOTH"] = "BOTH"

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        session = await self.session(ctx)
        listed = await self.listed(ctx, session, self.filter)
        return {"blobs": [described for _, described in listed]}


@plugin("io.kestra.plugin.gcp.gcs.Downloads")
class Downloads(_Listing):
    """Download every object of a listing, then MOVE, DELETE or keep them."""

    action: Action
    moveDirectory: str | None = None
    maxFiles: int | str = 25

    @model_validator(mode="after")
    def _move_has_a_destination(self) -> Any:
        if self.action == "MOVE" and self.moveDirectory is None:
            raise ValueError("action MOVE needs moveDirectory")
        return self

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        limit = render_integer(ctx, self.maxFiles, "maxFiles", minimum=1) or 25
        session = await self.session(ctx)
        listed = [(b, d) for b, d in await self.listed(ctx, session, "FILES") if b is not None]
        if len(listed) > limit:
            ctx.logger.warning(f"{len(listed)} objects found, only the first {limit} downloaded")
            listed = listed[:limit]
        blobs, output_files = [], {}
        for index, (blob, described) in enumerate(listed):
            part = ctx.working_dir() / f"{ctx.task_run_id}.{index}"
            try:
                await blocking(
                    lambda b=blob, p=part: b.download_to_filename(
                        str(p), timeout=REQUEST_TIMEOUT, if_generation_match=b.generation
                    )
                )
            except Exception as exc:
                raise describe_error(session, exc, f"download of {described['uri']}") from None
            uri = await asyncio.to_thread(ctx.storage.put_file, blob.name.rsplit("/", 1)[-1], part)
            await asyncio.to_thread(part.unlink, True)
            output_files[blob.name] = uri
            blobs.append({**described, "uri": uri})
        try:
            moved = ctx.render(self.moveDirectory) if self.moveDirectory else None
            await act_on(
                session, [b for b, _ in listed], self.action, moved, ctx.render(self.from_)
            )
        except TaskFailed:
            raise
        except Exception as exc:
            raise describe_error(session, exc, f"{self.action} after download") from None
        return {"blobs": blobs, "outputFiles": output_files}


@plugin("io.kestra.plugin.gcp.gcs.Delete")
class Delete(GcsTask):
    """Delete one object."""

    uri: str
    errorOnMissing: bool | str = False

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri = ctx.render(self.uri)
        bucket, key = split_uri(uri, "gs")
        session = await self.session(ctx)
        try:
            await blocking(
                lambda: session.client.bucket(bucket).delete_blob(key, timeout=REQUEST_TIMEOUT)
            )
            deleted = True
        except google_errors.NotFound:
            if render_flag(ctx, self.errorOnMissing, "errorOnMissing"):
                raise TaskFailed(f"{uri}: no such object") from None
            deleted = False
        except Exception as exc:
            raise describe_error(session, exc, f"delete of {uri}") from None
        return {"uri": uri, "deleted": deleted}


@plugin("io.kestra.plugin.gcp.gcs.DeleteList")
class DeleteList(_Listing):
    """Delete every object of a listing."""

    concurrent: int | None = Field(default=None, ge=2)
    errorOnEmpty: bool | str = False

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        session = await self.session(ctx)
        blobs = [b for b, _ in await self.listed(ctx, session, "FILES") if b is not None]
        if not blobs and render_flag(ctx, self.errorOnEmpty, "errorOnEmpty"):
            raise TaskFailed(f"no object to delete under {ctx.render(self.from_)}")
        slots = asyncio.Semaphore(self.concurrent or 1)

        async def delete(blob: Any) -> None:
            async with slots:
                await blocking(
                    lambda: blob.bucket.delete_blob(
                        blob.name, generation=blob.generation, timeout=REQUEST_TIMEOUT
                    )
                )

        try:
            async with asyncio.TaskGroup() as group:
                for blob in blobs:
                    group.create_task(delete(blob))
        except* Exception as failures:
            raise describe_error(session, failures.exceptions[0], "delete") from None
        size = sum(b.size or 0 for b in blobs)
        ctx.metric("count", len(blobs))
        ctx.metric("size", size)
        return {"count": len(blobs), "size": size}


@plugin("io.kestra.plugin.gcp.gcs.Copy")
class Copy(GcsTask):
    """Copy an object (with `delete: true`, move it)."""

    from_: str = Field(alias="from")
    to: str
    delete: bool | str = False

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source, target = ctx.render(self.from_), ctx.render(self.to)
        source_bucket, source_key = split_uri(source, "gs")
        target_bucket, target_key = split_uri(target, "gs")
        if not target_key or target_key.endswith("/"):
            target_key += source_key.rsplit("/", 1)[-1]
            target = f"gs://{target_bucket}/{target_key}"
        session = await self.session(ctx)
        client = session.client
        try:
            blob = await blocking(
                lambda: client.bucket(source_bucket).get_blob(source_key, timeout=REQUEST_TIMEOUT)
            )
            if blob is None:
                raise TaskFailed(f"{source}: no such object")
            await blocking(
                lambda: blob.bucket.copy_blob(
                    blob, client.bucket(target_bucket), target_key, timeout=REQUEST_TIMEOUT
                )
            )
            if render_flag(ctx, self.delete, "delete"):
                await blocking(
                    lambda: blob.bucket.delete_blob(
                        blob.name, generation=blob.generation, timeout=REQUEST_TIMEOUT
                    )
                )
        except TaskFailed:
            raise
        except Exception as exc:
            raise describe_error(session, exc, f"copy of {source} to {target}") from None
        return {"uri": target}


@plugin("io.kestra.plugin.gcp.gcs.CreateBucket")
class CreateBucket(GcsTask):
    """Create a bucket (or update or keep one that exists, by `ifExists`)."""

    name: str
    location: str | None = None
    storageClass: str | None = None
    labels: dict[str, str] | str | None = None
    versioningEnabled: bool | str | None = None
    requesterPays: bool | str | None = None
    ifExists: Literal["ERROR", "UPDATE", "SKIP"] = "ERROR"

    def _configure(self, ctx: RunContext, bucket: storage.Bucket) -> None:
        if self.storageClass:
            bucket.storage_class = ctx.render(self.storageClass)
        if self.labels is not None:
            labels = render_mapping(ctx, self.labels, "labels")
            bucket.labels = {str(k): str(v) for k, v in labels.items()}
        for attribute, value, name in (
            ("versioning_enabled", self.versioningEnabled, "versioningEnabled"),
            ("requester_pays", self.requesterPays, "requesterPays"),
        ):
            if value is not None:
                setattr(bucket, attribute, render_flag(ctx, value, name))

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        name = ctx.render(self.name)
        session = await self.session(ctx)
        client = session.client
        created = updated = False
        try:
            bucket = await blocking(lambda: client.lookup_bucket(name, timeout=REQUEST_TIMEOUT))
            if bucket is None:
                bucket = client.bucket(name)
                self._configure(ctx, bucket)
                location = ctx.render(self.location) if self.location else None
                await blocking(
                    lambda: client.create_bucket(bucket, location=location, timeout=REQUEST_TIMEOUT)
                )
                created = True
            elif self.ifExists == "ERROR":
                raise TaskFailed(f"bucket {name} already exists (ifExists: ERROR)")
            elif self.ifExists == "UPDATE":
                self._configure(ctx, bucket)
                await blocking(lambda: bucket.patch(timeout=REQUEST_TIMEOUT))
                updated = True
        except TaskFailed:
            raise
        except Exception as exc:
            raise describe_error(session, exc, f"creating bucket {name}") from None
        return {"bucket": name, "bucketUri": f"gs://{name}", "created": created, "updated": updated}


@plugin("io.kestra.plugin.gcp.gcs.DeleteBucket")
class DeleteBucket(GcsTask):
    """Delete an empty bucket."""

    name: str

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        name = ctx.render(self.name)
        session = await self.session(ctx)
        try:
            await blocking(lambda: session.client.bucket(name).delete(timeout=REQUEST_TIMEOUT))
        except Exception as exc:
            raise describe_error(session, exc, f"deleting bucket {name}") from None
        return {"bucket": name}
