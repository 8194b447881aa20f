"""io.kestra.plugin.gcp.gcs.Trigger: every `interval`, list `from`; the objects not seen
yet are downloaded into internal storage and fire one execution (`trigger.blobs`), then
are moved or deleted (`action`).

A file version is `bucket/name#generation`: the same version never fires twice, across
restarts and schedulers (triggers/polling.py claims it); an object overwritten is a new
generation and fires again. Kestra relies on MOVE/DELETE to avoid firing twice and
fires again every poll with `action: NONE`; Podium fires each version once whatever the
action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from engine.plugin import PollContext, PolledItem, PolledTrigger, plugin
from tasks.gcp.client import REQUEST_TIMEOUT, GcpConnection, GcsSession, open_session
from tasks.gcp.gcs import act_on, list_blobs
from tasks.objectstore import Action, ObjectFilter, blocking, split_uri

__all__ = ["GcsTrigger"]

MAX_POLLED = 10_000
"""Objects one poll may list; more fails the poll (narrow `from` or `regExp`)."""


@plugin("io.kestra.plugin.gcp.gcs.Trigger")
class GcsTrigger(PolledTrigger, GcpConnection):
    """Wait for objects under a gs:// prefix."""

    from_: str = Field(alias="from")
    action: Action
    moveDirectory: str | None = None
    listingType: Literal["DIRECTORY", "RECURSIVE"] = "DIRECTORY"
    regExp: str | None = None
    maxFiles: int = Field(default=25, ge=1)

    @model_validator(mode="after")
    def _move_has_a_destination(self) -> Any:
        if self.action == "MOVE" and self.moveDirectory is None:
            raise ValueError("action MOVE needs moveDirectory")
        return self

    def max_items(self) -> int:
        return self.maxFiles

    async def _session(self, ctx: PollContext) -> GcsSession:
        return await open_session(self, ctx.render)

    async def poll(self, ctx: PollContext) -> Sequence[PolledItem]:
        source = ctx.render(self.from_)
        _, prefix = split_uri(source, "gs")
        reg_exp = ctx.render(self.regExp) if self.regExp else None
        flt = ObjectFilter.build(prefix, self.listingType, reg_exp, "FILES")
        session = await self._session(ctx)
        try:
            listed = await blocking(
                list_blobs, session.client, source, flt, all_versions=False, limit=MAX_POLLED
            )
        except Exception as exc:
            raise RuntimeError(session.mask(f"listing {source}: {exc}")) from None
        return [
            PolledItem(f"{d['bucket']}/{d['name']}#{d['generation']}", d)
            for blob, d in listed
            if blob is not None
        ]

    async def variables(
        self, ctx: PollContext, execution_id: str, items: Sequence[PolledItem]
    ) -> Mapping[str, Any]:
        session = await self._session(ctx)
        blobs = []
        for item in items:
            data = dict(item.data)
            path, uri = ctx.download_target(execution_id, item.id, data["name"].rsplit("/", 1)[-1])
            blob = session.client.bucket(data["bucket"]).blob(
                data["name"], generation=int(data["generation"])
            )
            try:
                await blocking(
                    lambda b=blob, p=path: b.download_to_filename(str(p), timeout=REQUEST_TIMEOUT)
                )
            except Exception as exc:
                raise RuntimeError(session.mask(f"download of {data['uri']}: {exc}")) from None
            blobs.append({**data, "uri": uri})
        return {"blobs": blobs}

    async def after_fire(self, ctx: PollContext, items: Sequence[PolledItem]) -> None:
        if self.action == "NONE":
            return
        session = await self._session(ctx)
        blobs = [
            session.client.bucket(i.data["bucket"]).blob(
                i.data["name"], generation=int(i.data["generation"])
            )
            for i in items
        ]
        moved = ctx.render(self.moveDirectory) if self.moveDirectory else None
        try:
            await act_on(session, blobs, self.action, moved, ctx.render(self.from_))
        except Exception as exc:
            raise RuntimeError(session.mask(f"{self.action}: {exc}")) from None
