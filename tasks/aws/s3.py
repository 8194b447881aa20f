"""io.kestra.plugin.aws.s3.*: objects and buckets of S3 (and S3-compatible stores).

Upload        internal storage → bucket/key     outputs bucket, key, eTag, versionId
Download      bucket/key → internal storage     outputs uri, contentLength, contentType,
                                                metadata, versionId
Downloads     a listing → internal storage, then MOVE (moveTo)/DELETE/NONE
                                                outputs objects, outputFiles
List          a listing                         outputs objects
Delete        one object                        outputs deleteMarker, versionId
DeleteList    a listing, deleted                outputs count, size
Copy          from {bucket,key} → to {bucket,key} (delete: a move)
                                                outputs bucket, key, eTag, versionId
CreateBucket                                    outputs bucket, region
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from engine.errors import TaskFailed
from engine.plugin import Model, RunContext, Task, plugin
from tasks.aws.client import (
    AwsConnection,
    S3Session,
    describe_error,
    is_missing,
    list_objects,
    open_session,
)
from tasks.objectstore import Action, ObjectFilter, blocking, moved_key
from tasks.properties import (
    masks_failures,
    render_flag,
    render_integer,
    render_mapping,
    render_strings,
)

__all__ = [
    "Copy",
    "CreateBucket",
    "Delete",
    "DeleteList",
    "Download",
    "Downloads",
    "List",
    "MoveTo",
    "Upload",
    "act_on",
]


class MoveTo(Model):
    """Where MOVE puts objects: `key` is a prefix; `bucket` defaults to the source's."""

    key: str
    bucket: str | None = None


class ObjectRef(Model):
    bucket: str
    key: str
    versionId: str | None = None


class S3Task(Task, AwsConnection):
    async def session(self, ctx: RunContext) -> S3Session:
        return await open_session(self, ctx.render)


async def act_on(
    session: S3Session,
    bucket: str,
    keys: list[str],
    action: str,
    move_to: tuple[str, str] | None,
    prefix: str,
) -> None:
    """MOVE (copy, then delete) or DELETE listed keys."""
    if action == "NONE":
        return
    if action == "MOVE" and move_to is None:
        raise TaskFailed("action MOVE needs moveTo")
    client = session.client
    for key in keys:
        if action == "MOVE" and move_to is not None:
            target_bucket, target_prefix = move_to
            target = moved_key(key, prefix, target_prefix)
            await blocking(
                lambda k=key, t=target, b=target_bucket: client.copy_object(
                    Bucket=b, Key=t, CopySource={"Bucket": bucket, "Key": k}
                )
            )
        await blocking(lambda k=key: client.delete_object(Bucket=bucket, Key=k))


@plugin("io.kestra.plugin.aws.s3.Upload")
class Upload(S3Task):
    """Upload one file (or several, under `key` as a folder) of internal storage."""

    bucket: str
    key: str
    from_: str | list[str] = Field(alias="from")
    contentType: str | None = None
    metadata: dict[str, str] | str | None = None
    storageClass: str | None = None
    cacheControl: str | None = None
    contentEncoding: str | None = None
    contentDisposition: str | None = None

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        bucket, key = ctx.render(self.bucket), ctx.render(self.key)
        sources = render_strings(ctx, self.from_, "from")
        if not sources:
            raise TaskFailed("from names no file")
        extra: dict[str, Any] = {}
        for name, value in (
            ("ContentType", self.contentType),
            ("StorageClass", self.storageClass),
            ("CacheControl", self.cacheControl),
            ("ContentEncoding", self.contentEncoding),
            ("ContentDisposition", self.contentDisposition),
        ):
            if value is not None:
                extra[name] = ctx.render(value)
        if self.metadata is not None:
            extra["Metadata"] = {
                str(k): str(v) for k, v in render_mapping(ctx, self.metadata, "metadata").items()
            }
        session = await self.session(ctx)
        answer: dict[str, Any] = {}
        for source in sources:
            path = ctx.storage.local_path(source)
            target = key
            if len(sources) > 1 or key.endswith("/"):
                target = key.rstrip("/") + "/" + path.name
            try:
                size = (await asyncio.to_thread(path.stat)).st_size
            except FileNotFoundError:
                raise TaskFailed(f"no file in internal storage at {source!r}") from None
            try:
                # upload_file streams (multipart above 8 MiB); head_object says what came of it
                await blocking(
                    lambda t=target, p=path: session.client.upload_file(
                        str(p), bucket, t, ExtraArgs=extra
                    )
                )
                answer = await blocking(
                    lambda t=target: session.client.head_object(Bucket=bucket, Key=t)
                )
            except Exception as exc:
                raise describe_error(session, exc, f"upload to s3://{bucket}/{target}") from None
            ctx.logger.info(f"uploaded {size} bytes to s3://{bucket}/{target}")
            key_out = target
        return {
            "bucket": bucket,
            "key": key_out if len(sources) == 1 else key,
            "eTag": str(answer.get("ETag", "")).strip('"'),
            "versionId": answer.get("VersionId"),
        }


@plugin("io.kestra.plugin.aws.s3.Download")
class Download(S3Task):
    """Download one object into internal storage."""

    bucket: str
    key: str
    versionId: str | None = None

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        bucket, key = ctx.render(self.bucket), ctx.render(self.key)
        session = await self.session(ctx)
        part = ctx.working_dir() / f"{ctx.task_run_id}.download"
        extra = {"VersionId": ctx.render(self.versionId)} if self.versionId else {}
        try:
            head = await blocking(
                lambda: session.client.head_object(Bucket=bucket, Key=key, **extra)
            )
            await blocking(
                lambda: session.client.download_file(bucket, key, str(part), ExtraArgs=extra)
            )
        except Exception as exc:
            if is_missing(exc):
                raise TaskFailed(f"s3://{bucket}/{key}: no such object") from None
            raise describe_error(session, exc, f"download of s3://{bucket}/{key}") from None
        uri = await asyncio.to_thread(ctx.storage.put_file, key.rsplit("/", 1)[-1], part)
        await asyncio.to_thread(part.unlink, True)
        return {
            "uri": uri,
            "contentLength": head.get("ContentLength"),
            "contentType": head.get("ContentType"),
            "metadata": head.get("Metadata") or {},
            "versionId": head.get("VersionId"),
        }


class _Listing(S3Task):
    bucket: str
    prefix: str | None = None
    delimiter: str | None = None
    regexp: str | None = None
    filter: Literal["FILES", "DIRECTORY", "BOTH"] = "BOTH"
    maxKeys: int | str = 1000

    async def listed(
        self, ctx: RunContext, session: S3Session, kind: str | None = None
    ) -> list[dict[str, Any]]:
        bucket = ctx.render(self.bucket)
        prefix = ctx.render(self.prefix) if self.prefix else ""
        delimiter = ctx.render(self.delimiter) if self.delimiter else None
        flt = ObjectFilter.build(
            prefix,
            "RECURSIVE",
            ctx.render(self.regexp) if self.regexp else None,
            kind or self.filter,
        )
        max_keys = render_integer(ctx, self.maxKeys, "maxKeys", minimum=1) or 1000
        try:
            # maxKeys bounds what is returned, as Kestra's (one page of S3's listing)
            listed = await blocking(list_objects, session.client, bucket, flt, delimiter)
            return listed[:max_keys]
        except TaskFailed:
            raise
        except Exception as exc:
            raise describe_error(session, exc, f"listing s3://{bucket}/{prefix}") from None


@plugin("io.kestra.plugin.aws.s3.List")
class List(_Listing):
    """List the objects of a bucket (under `prefix`)."""

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        session = await self.session(ctx)
        return {"objects": await self.listed(ctx, session)}


@plugin("io.kestra.plugin.aws.s3.Downloads")
class Downloads(_Listing):
    """Download every object of a listing, then MOVE, DELETE or keep them."""

    action: Action
    moveTo: MoveTo | None = None

    @model_validator(mode="after")
    def _move_has_a_destination(self) -> Any:
        if self.action == "MOVE" and self.moveTo is None:
            raise ValueError("action MOVE needs moveTo")
        return self

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        session = await self.session(ctx)
        bucket = ctx.render(self.bucket)
        listed = [o for o in await self.listed(ctx, session, "FILES") if "size" in o]
        objects, output_files = [], {}
        for index, item in enumerate(listed):
            part = ctx.working_dir() / f"{ctx.task_run_id}.{index}"
            try:
                await blocking(
                    lambda k=item["key"], p=part: session.client.download_file(bucket, k, str(p))
                )
            except Exception as exc:
                raise describe_error(session, exc, f"download of {item['uri']}") from None
            uri = await asyncio.to_thread(
                ctx.storage.put_file, item["key"].rsplit("/", 1)[-1], part
            )
            await asyncio.to_thread(part.unlink, True)
            output_files[item["key"]] = uri
            objects.append({**item, "uri": uri})
        move_to = None
        if self.moveTo is not None:
            target_bucket = ctx.render(self.moveTo.bucket) if self.moveTo.bucket else bucket
            move_to = (target_bucket, ctx.render(self.moveTo.key))
        prefix = ctx.render(self.prefix) if self.prefix else ""
        try:
            await act_on(session, bucket, [o["key"] for o in listed], self.action, move_to, prefix)
        except TaskFailed:
            raise
        except Exception as exc:
            raise describe_error(session, exc, f"{self.action} after download") from None
        return {"objects": objects, "outputFiles": output_files}


@plugin("io.kestra.plugin.aws.s3.Delete")
class Delete(S3Task):
    """Delete one object."""

    bucket: str
    key: str

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        bucket, key = ctx.render(self.bucket), ctx.render(self.key)
        session = await self.session(ctx)
        try:
            answer = await blocking(lambda: session.client.delete_object(Bucket=bucket, Key=key))
        except Exception as exc:
            raise describe_error(session, exc, f"delete of s3://{bucket}/{key}") from None
        return {
            "deleteMarker": bool(answer.get("DeleteMarker")),
            "versionId": answer.get("VersionId"),
        }


@plugin("io.kestra.plugin.aws.s3.DeleteList")
class DeleteList(_Listing):
    """Delete every object of a listing."""

    concurrent: int | None = Field(default=None, ge=2)
    errorOnEmpty: bool | str = False

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        session = await self.session(ctx)
        bucket = ctx.render(self.bucket)
        listed = [o for o in await self.listed(ctx, session, "FILES") if "size" in o]
        if not listed and render_flag(ctx, self.errorOnEmpty, "errorOnEmpty"):
            raise TaskFailed(f"no object to delete in s3://{bucket}/{self.prefix or ''}")
        slots = asyncio.Semaphore(self.concurrent or 1)

        async def delete(key: str) -> None:
            async with slots:
                await blocking(lambda: session.client.delete_object(Bucket=bucket, Key=key))

        try:
            async with asyncio.TaskGroup() as group:
                for item in listed:
                    group.create_task(delete(item["key"]))
        except* Exception as failures:
            raise describe_error(session, failures.exceptions[0], "delete") from None
        size = sum(int(o.get("size") or 0) for o in listed)
        ctx.metric("s3.objects.deleted.count", len(listed))
        ctx.metric("s3.objects.deleted.size", size)
        return {"count": len(listed), "size": size}


@plugin("io.kestra.plugin.aws.s3.Copy")
class Copy(S3Task):
    """Copy an object (with `delete: true`, move it)."""

    from_: ObjectRef = Field(alias="from")
    to: ObjectRef
    delete: bool | str = False

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source_bucket, source_key = ctx.render(self.from_.bucket), ctx.render(self.from_.key)
        bucket, key = ctx.render(self.to.bucket), ctx.render(self.to.key)
        source: dict[str, Any] = {"Bucket": source_bucket, "Key": source_key}
        if self.from_.versionId:
            source["VersionId"] = ctx.render(self.from_.versionId)
        session = await self.session(ctx)
        try:
            answer = await blocking(
                lambda: session.client.copy_object(Bucket=bucket, Key=key, CopySource=source)
            )
            if render_flag(ctx, self.delete, "delete"):
                await blocking(
                    lambda: session.client.delete_object(Bucket=source_bucket, Key=source_key)
                )
        except Exception as exc:
            if is_missing(exc):
                raise TaskFailed(f"s3://{source_bucket}/{source_key}: no such object") from None
            raise describe_error(session, exc, f"copy to s3://{bucket}/{key}") from None
        result = answer.get("CopyObjectResult") or {}
        return {
            "bucket": bucket,
            "key": key,
            "eTag": str(result.get("ETag", "")).strip('"'),
            "versionId": answer.get("VersionId"),
        }


@plugin("io.kestra.plugin.aws.s3.CreateBucket")
class CreateBucket(S3Task):
    """Create a bucket."""

    bucket: str
    acl: str | None = None
    objectLockEnabledForBucket: bool | str | None = None

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        bucket = ctx.render(self.bucket)
        region = ctx.render(self.region) if self.region else "us-east-1"
        arguments: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":  # S3 refuses a location constraint naming us-east-1
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if self.acl:
            arguments["ACL"] = ctx.render(self.acl)
        if self.objectLockEnabledForBucket is not None:
            arguments["ObjectLockEnabledForBucket"] = bool(
                render_flag(ctx, self.objectLockEnabledForBucket, "objectLockEnabledForBucket")
            )
        session = await self.session(ctx)
        try:
            await blocking(lambda: session.client.create_bucket(**arguments))
        except Exception as exc:
            raise describe_error(session, exc, f"creating bucket {bucket}") from None
        return {"bucket": bucket, "region": region}
