"""The runner of every `PolledTrigger` (engine/plugin.py): cloud buckets today, a
query or an HTTP endpoint tomorrow. The model says what is there; this module makes
each thing fire once.

    every `interval`:
      poll          trigger.poll(ctx) → items, each with a stable id (a file version)
      claim         ctx.state.claim(scope, ids), in chunks, until max_items() are won:
                    an id wins once, whoever asks (another scheduler, a restart)
      journal       the won items go into the trigger state before anything else …
      fire          … then one execution (batch) or one per item; the execution id
                    derives from the item ids, so firing twice runs once
      act           trigger.after_fire(ctx, items) (MOVE, DELETE, nothing)
      forget        the journal entry; the claims of ids no longer listed are released,
                    so the claims table holds what is still there (ids name versions:
                    a new version has a new id and fires anyway)

On start, what the journal still holds (a runner stopped between claim and action)
fires and is acted on again; its execution ids are the same, so it runs once.

A poll that fails (the bucket is away, credentials refused) is logged, masked, and
tried again at the next interval; items whose firing failed are released so they fire
on a later poll. Only a process dying between the claim and the journal write loses
items (claimed, never fired), as for the file triggers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.flow import Flow
from engine.plugin import LevelMethods, PolledItem, PolledTrigger, TaskLogger, Trigger
from engine.storage import safe_name
from triggers.base import TriggerContext, slot_id, trigger_scope

__all__ = ["CLAIM_CHUNK", "PollRunner", "Poller", "TriggerPollContext", "firing_key"]

log = logging.getLogger("podium.triggers.polling")

CLAIM_CHUNK = 500
"""Ids claimed in one store round trip."""


class _Logger(LevelMethods):
    def __init__(self, where: str, mask: Any) -> None:
        self._where = where
        self._mask = mask

    def log(self, level: str, message: str) -> None:
        number = logging.getLevelName("WARNING" if level == "WARN" else level)
        if not isinstance(number, int):
            number = logging.DEBUG  # TRACE
        log.log(number, "%s: %s", self._where, self._mask(message))


class TriggerPollContext:
    """The PollContext a polling trigger gets: renders with the flow, `envs` and
    secrets; masks what those secrets revealed."""

    def __init__(self, flow: Flow, trigger: Trigger, ctx: TriggerContext) -> None:
        self.namespace = flow.namespace
        self.flow_id = flow.id
        self._ctx = ctx
        self._context = {
            "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
            "envs": dict(ctx.envs),
        }
        self.where = f"trigger {trigger.id} of {flow.key}"
        self.logger: TaskLogger = _Logger(self.where, self.mask)

    def __repr__(self) -> str:
        return f"<TriggerPollContext {self.where}>"

    def render(self, value: Any) -> Any:
        return self._ctx.renderer.render_value(value, self._context)

    def mask(self, text: str) -> str:
        secrets = self._ctx.renderer.secrets
        return secrets.mask(text) if secrets is not None else text

    def download_target(self, execution_id: str, item_id: str, name: str) -> tuple[Path, str]:
        # One folder per item: two items may share a name (same key, two buckets).
        digest = hashlib.blake2b(item_id.encode(), digest_size=6).hexdigest()
        relative = (
            f"{self.namespace.replace('.', '/')}/{self.flow_id}/executions/"
            f"{execution_id}/trigger/{digest}/{safe_name(name)}"
        )
        storage = self._ctx.storage
        uri = storage.uri_for(relative)
        path = storage.path_of(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, uri


def firing_key(items: Sequence[PolledItem], *, batch: bool) -> str:
    """What names one firing (its execution id derives from it)."""
    if not batch:
        return items[0].id
    joined = "\x1f".join(sorted(i.id for i in items))
    return "batch:" + hashlib.blake2b(joined.encode(), digest_size=16).hexdigest()


def _entry(key: str, items: Sequence[PolledItem]) -> dict[str, Any]:
    return {"key": key, "items": [{"id": i.id, "data": dict(i.data)} for i in items]}


def _parse(entry: Mapping[str, Any]) -> tuple[str, list[PolledItem]]:
    return str(entry["key"]), [PolledItem(str(i["id"]), i["data"]) for i in entry["items"]]


class PollRunner:
    """TriggerRunner for every PolledTrigger subclass."""

    def __repr__(self) -> str:
        return "<PollRunner>"

    async def run(self, flow: Flow, trigger: Trigger, ctx: TriggerContext) -> None:
        if not isinstance(trigger, PolledTrigger):
            raise TypeError(f"PollRunner cannot run {trigger!r}")
        poller = Poller(flow, trigger, ctx)
        await poller.recover()
        while True:
            await poller.poll_once()
            await ctx.clock.sleep(trigger.interval.total_seconds())


class Poller:
    """One polling trigger of one flow, for as long as its runner lives."""

    def __init__(self, flow: Flow, trigger: PolledTrigger, ctx: TriggerContext) -> None:
        self.flow = flow
        self.trigger = trigger
        self.ctx = ctx
        self.scope = trigger_scope(flow, trigger)
        self.poll_ctx = TriggerPollContext(flow, trigger, ctx)
        self.seen: set[str] = set()  # ids listed by the last poll: bounded by the listing
        self.fired = 0

    def __repr__(self) -> str:
        return f"<Poller {self.scope} seen={len(self.seen)} fired={self.fired}>"

    async def poll_once(self) -> int:
        """One look; returns the number of executions requested."""
        try:
            items = list(await self.trigger.poll(self.poll_ctx))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: poll failed: %s", self.poll_ctx.where, self.poll_ctx.mask(str(exc)))
            return 0
        listed = {i.id for i in items}
        gone = sorted(self.seen - listed)
        self.seen = listed
        if gone:
            await self.ctx.state.release(self.scope, gone)
        won = await self._claim(items)
        if not won:
            return 0
        firings = [won] if self.trigger.batch else [[i] for i in won]
        entries = [_entry(firing_key(f, batch=self.trigger.batch), f) for f in firings]
        await asyncio.shield(self._journal_add(entries))  # what was won must be journaled
        for entry in entries:
            await self._fire(*_parse(entry))
        return len(entries)

    async def recover(self) -> None:
        """Fire and act on what an earlier run journaled and did not finish."""
        state = await self.ctx.state.get_trigger_state(self.scope) or {}
        for entry in list(state.get("pending") or ()):
            key, items = _parse(entry)
            log.info(
                "%s: firing %d item(s) an earlier run claimed", self.poll_ctx.where, len(items)
            )
            await self._fire(key, items)

    async def _claim(self, items: Sequence[PolledItem]) -> list[PolledItem]:
        limit = max(1, self.trigger.max_items())
        by_id = {i.id: i for i in items}
        ids = list(by_id)
        won: list[PolledItem] = []
        start = 0
        while start < len(ids) and len(won) < limit:
            chunk = ids[start : start + min(CLAIM_CHUNK, limit - len(won))]
            start += len(chunk)
            won.extend(by_id[i] for i in await self.ctx.state.claim(self.scope, chunk))
        if start < len(ids):
            log.info(
                "%s: more items wait for the next poll (%d per poll)", self.poll_ctx.where, limit
            )
        return won

    async def _fire(self, key: str, items: list[PolledItem]) -> None:
        execution_id = slot_id(self.scope, key)
        try:
            variables = await self.trigger.variables(self.poll_ctx, execution_id, items)
            await self.ctx.fire(self.flow, self.trigger, variables=variables, item=key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Nothing was requested: give the ids back so a later poll tries again.
            log.warning(
                "%s: cannot fire for %d item(s): %s",
                self.poll_ctx.where,
                len(items),
                self.poll_ctx.mask(str(exc)),
            )
            await self.ctx.state.release(self.scope, [i.id for i in items])
            self.seen -= {i.id for i in items}
            await self._journal_remove(key)
            return
        self.fired += 1
        try:
            await self.trigger.after_fire(self.poll_ctx, items)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the execution runs; the files stay and never refire
            log.warning(
                "%s: the action after firing failed: %s",
                self.poll_ctx.where,
                self.poll_ctx.mask(str(exc)),
            )
        await self._journal_remove(key)

    async def _journal_add(self, entries: list[dict[str, Any]]) -> None:
        state = await self.ctx.state.get_trigger_state(self.scope) or {}
        pending = [*(state.get("pending") or ()), *entries]
        await self.ctx.state.set_trigger_state(self.scope, {**state, "pending": pending})

    async def _journal_remove(self, key: str) -> None:
        state = await self.ctx.state.get_trigger_state(self.scope) or {}
        pending = [e for e in state.get("pending") or () if e.get("key") != key]
        await self.ctx.state.set_trigger_state(self.scope, {**state, "pending": pending})
