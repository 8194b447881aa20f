"""The runner of every `PolledTrigger` (engine/plugin.py): cloud buckets today, a
query or an HTTP endpoint tomorrow. The model says what is there; this module makes
each thing fire once.

    every `interval`:
      poll          trigger.poll(ctx) → items, each with a stable id (a file version)
      claim         ctx.state.claim(scope, ids), in chunks, until max_items() are won:
                    an id wins once, whoever asks (another scheduler, a restart) …
      journal       … and in the same store transaction the won items go into the
                    trigger state: claimed and journaled, or neither …
      fire          … then one execution (batch) or one per item; the execution id
                    derives from the item ids, so firing twice runs once
      act           trigger.after_fire(ctx, items) (MOVE, DELETE, nothing)
      forget        the journal entry; the claims of ids no longer listed are released,
                    so the claims table holds what is still there (ids name versions:
                    a new version has a new id and fires anyway)

On start, what the journal still holds (a runner stopped between claim and action)
fires and is acted on again; its execution ids are the same, so it runs once.

stopAfter and exclusive triggers
    A trigger with `stopAfter`, or one whose model `is_exclusive()` (the HTTP trigger
    without `allowConcurrent`: Kestra does not evaluate a polling trigger again while an
    execution it started runs), keeps the ids of the executions it fired in its state
    (`watch`). Before each poll their states are read: one that ended in a `stopAfter`
    state disables the trigger as the API does (`ctx.disable`; enabling it again starts
    it afresh), and an exclusive trigger skips the poll while one still runs. An id the
    store never shows (a request refused before it became an execution) is forgotten
    after LOST_AFTER.

A poll that fails (the bucket is away, credentials refused) is logged, masked, and
tried again at the next interval; items whose firing failed are released so they fire
on a later poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.flow import Flow
from engine.plugin import LevelMethods, PolledItem, PolledTrigger, TaskLogger, Trigger
from engine.storage import safe_name
from triggers.base import TriggerContext, slot_id, trigger_scope
from triggers.schedule import ExecutionReader

__all__ = ["CLAIM_CHUNK", "PollRunner", "Poller", "TriggerPollContext", "firing_key"]

log = logging.getLogger("podium.triggers.polling")

CLAIM_CHUNK = 500
"""Ids claimed in one store round trip."""
LOST_AFTER = timedelta(minutes=10)
"""A watched execution the store still does not show after this is forgotten."""
MAX_WATCHED = 100


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

    def render(self, value: Any, *, extra: Mapping[str, Any] | None = None) -> Any:
        context = {**self._context, **extra} if extra else self._context
        return self._ctx.renderer.render_value(value, context)

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
            if not await poller.is_held():
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
        reader = ctx.state if isinstance(ctx.state, ExecutionReader) else None
        wants = bool(trigger.stopAfter) or trigger.is_exclusive()
        self.reader = reader if wants else None
        if wants and reader is None:
            log.warning(
                "%s: this store cannot report execution states; stopAfter and the wait "
                "for running executions are ignored",
                self.poll_ctx.where,
            )

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
        entries = await self._claim(items)
        for entry in entries:
            await self._fire(*_parse(entry))
        return len(entries)

    async def is_held(self) -> bool:
        """Read the executions this trigger fired: disable it when one ended in a
        `stopAfter` state; True when it must not poll now (disabled, or exclusive with an
        execution still running)."""
        if self.reader is None:
            return False
        state = await self.ctx.state.get_trigger_state(self.scope) or {}
        watched = [dict(w) for w in state.get("watch") or ()]
        if not watched:
            return False
        found = await self.reader.existing_executions([str(w["id"]) for w in watched])
        now = self.ctx.clock.now()
        running: list[dict[str, Any]] = []
        for entry in watched:
            execution = found.get(str(entry["id"]))
            if execution is None:
                if now - datetime.fromisoformat(str(entry["at"])) < LOST_AFTER:
                    running.append(entry)
            elif not execution.state.is_terminal:
                running.append(entry)
            elif execution.state in self.trigger.stopAfter:
                log.warning(
                    "%s disabled: execution %s is %s (stopAfter)",
                    self.poll_ctx.where,
                    execution.execution_id,
                    execution.state.value,
                )
                await self._set_watch([])
                if self.ctx.disable is not None:
                    await self.ctx.disable(self.scope)
                return True
        if running != watched:
            await self._set_watch(running)
        return self.trigger.is_exclusive() and bool(running)

    async def _set_watch(self, watched: list[dict[str, Any]]) -> None:
        state = await self.ctx.state.get_trigger_state(self.scope) or {}
        await self.ctx.state.set_trigger_state(
            self.scope, {**state, "watch": watched[-MAX_WATCHED:]}
        )

    async def recover(self) -> None:
        """Fire and act on what an earlier run journaled and did not finish."""
        state = await self.ctx.state.get_trigger_state(self.scope) or {}
        for entry in list(state.get("pending") or ()):
            key, items = _parse(entry)
            log.info(
                "%s: firing %d item(s) an earlier run claimed", self.poll_ctx.where, len(items)
            )
            await self._fire(key, items)

    async def _claim(self, items: Sequence[PolledItem]) -> list[dict[str, Any]]:
        """Claim in chunks until max_items() are won; each chunk's store transaction
        journals what it won. Returns this poll's journal entries, one per firing."""
        limit = max(1, self.trigger.max_items())
        by_id = {i.id: i for i in items}
        ids = list(by_id)
        batch = self.trigger.batch
        won: list[PolledItem] = []
        entries: list[dict[str, Any]] = []  # journaled so far
        made: list[dict[str, Any]] = []  # by the last chunk's transaction

        def journal(state: dict[str, Any] | None, ids_won: list[str]) -> dict[str, Any] | None:
            # in the claim's store transaction: what it won joins the journal
            made.clear()
            if not ids_won:
                return None
            fresh = [by_id[i] for i in ids_won]
            pending = list((state or {}).get("pending") or ())
            if batch:  # one firing: the batch so far gives way to the larger one
                before = {e["key"] for e in entries}
                pending = [e for e in pending if e.get("key") not in before]
                firings = [[*won, *fresh]]
            else:
                firings = [[i] for i in fresh]
            made.extend(_entry(firing_key(f, batch=batch), f) for f in firings)
            return {**(state or {}), "pending": pending + made}

        start = 0
        while start < len(ids) and len(won) < limit:
            chunk = ids[start : start + min(CLAIM_CHUNK, limit - len(won))]
            start += len(chunk)
            won.extend(
                by_id[i] for i in await self.ctx.state.claim(self.scope, chunk, journal=journal)
            )
            entries = made[:] if batch and made else entries + made
        if start < len(ids):
            log.info(
                "%s: more items wait for the next poll (%d per poll)", self.poll_ctx.where, limit
            )
        return entries

    async def _fire(self, key: str, items: list[PolledItem]) -> None:
        execution_id = slot_id(self.scope, key)
        try:
            variables = await self.trigger.variables(self.poll_ctx, execution_id, items)
            if self._holds(variables):
                await self.ctx.fire(self.flow, self.trigger, variables=variables, item=key)
                if self.reader is not None:
                    await self._watch(execution_id)
            else:  # claimed and kept: the same versions are not looked at again
                log.info("%s: conditions not met for %d item(s)", self.poll_ctx.where, len(items))
                await self._journal_remove(key)
                return
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

    async def _watch(self, execution_id: str) -> None:
        state = await self.ctx.state.get_trigger_state(self.scope) or {}
        entry = {"id": execution_id, "at": self.ctx.clock.now().isoformat()}
        await self._set_watch([*(state.get("watch") or ()), entry])

    def _holds(self, variables: Mapping[str, Any]) -> bool:
        """The trigger's conditions, on what the execution would get as `trigger`."""
        if not self.trigger.conditions:
            return True
        facts = {
            "trigger": dict(variables),
            "flow": {"namespace": self.flow.namespace, "id": self.flow.id},
            "envs": dict(self.ctx.envs),
        }
        return all(c.test(facts, self.ctx.renderer) for c in self.trigger.conditions)

    async def _journal_remove(self, key: str) -> None:
        state = await self.ctx.state.get_trigger_state(self.scope) or {}
        pending = [e for e in state.get("pending") or () if e.get("key") != key]
        await self.ctx.state.set_trigger_state(self.scope, {**state, "pending": pending})
