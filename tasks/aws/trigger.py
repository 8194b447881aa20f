"""io.kestra.plugin.aws.s3.Trigger: every `interval`, list the bucket (under `prefix`);
the objects not seen yet are downloaded into internal storage and fire one execution
(`trigger.objects`), then are moved (`moveTo`) or deleted (`action`).

An object version is `bucket/key#etag@lastModified`: the same version never fires twice,
across restarts and schedulers (triggers/polling.py claims it); an object written again
is a new version and fires again, whatever the action (Kestra fires again every poll
with `action: NONE`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, model_validator

from engine.plugin import PollContext, PolledItem, PolledTrigger, plugin
from tasks.aws.client import (
    AwsConnection,
    S3Session,
    download_version,
    list_objects,
    open_session,
)
from tasks.aws.s3 import MoveTo, act_on
from tasks.objectstore import Action, ObjectFilter, blocking

__all__ = ["S3Trigger"]

MAX_POLLED = 10_000
"""Objects one poll may list; more fails the poll (narrow `prefix` or `regexp`)."""


@plugin("io.kestra.plugin.aws.s3.Trigger")
class S3Trigger(PolledTrigger, AwsConnection):
    """Wait for objects in an S3 bucket."""

    bucket: str
    prefix: str | None = None
    delimiter: str | None = None
    regexp: str | None = None
    action: Action
    moveTo: MoveTo | None = None
    maxKeys: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _move_has_a_destination(self) -> Any:
        if self.action == "MOVE" and self.moveTo is None:
            raise ValueError("action MOVE needs moveTo")
        return self

    def max_items(self) -> int:
        return self.maxKeys

    async def _session(self, ctx: PollContext) -> S3Session:
        return await open_session(self, ctx.render)

    async def poll(self, ctx: PollContext) -> Sequence[PolledItem]:
        bucket = ctx.render(self.bucket)
        prefix = ctx.render(self.prefix) if self.prefix else ""
        regexp = ctx.render(self.regexp) if self.regexp else None
        flt = ObjectFilter.build(prefix, "RECURSIVE", regexp, "FILES")
        delimiter = ctx.render(self.delimiter) if self.delimiter else None
        session = await self._session(ctx)
        try:
            listed = await blocking(
                list_objects, session.client, bucket, flt, delimiter, limit=MAX_POLLED
            )
        except Exception as exc:
            raise RuntimeError(session.mask(f"listing s3://{bucket}/{prefix}: {exc}")) from None
        return [
            PolledItem(f"{o['bucket']}/{o['key']}#{o['etag']}@{o['lastModified']}", o)
            for o in listed
            if "size" in o
        ]

    async def variables(
        self, ctx: PollContext, execution_id: str, items: Sequence[PolledItem]
    ) -> Mapping[str, Any]:
        session = await self._session(ctx)
        objects = []
        for item in items:
            data = dict(item.data)
            path, uri = ctx.download_target(execution_id, item.id, data["key"].rsplit("/", 1)[-1])
            try:
                # IfMatch: exactly the version that was listed, or the download fails and
                # the item is tried again at the next poll (as its new version).
                await blocking(
                    download_version,
                    session.client,
                    data["bucket"],
                    data["key"],
                    data["etag"],
                    path,
                )
            except Exception as exc:
                raise RuntimeError(session.mask(f"download of {data['uri']}: {exc}")) from None
            objects.append({**data, "uri": uri})
        return {"objects": objects}

    async def after_fire(self, ctx: PollContext, items: Sequence[PolledItem]) -> None:
        if self.action == "NONE":
            return
        session = await self._session(ctx)
        bucket = ctx.render(self.bucket)
        move_to = None
        if self.moveTo is not None:
            target = ctx.render(self.moveTo.bucket) if self.moveTo.bucket else bucket
            move_to = (target, ctx.render(self.moveTo.key))
        prefix = ctx.render(self.prefix) if self.prefix else ""
        try:
            await act_on(
                session, bucket, [i.data["key"] for i in items], self.action, move_to, prefix
            )
        except Exception as exc:
            raise RuntimeError(session.mask(f"{self.action}: {exc}")) from None
