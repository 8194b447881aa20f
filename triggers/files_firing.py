"""From settled file versions to executions: claim, journal, copy, fire.

`FileFirer` (one per runner) is the only part of the file triggers that writes: claims
and the journal in the trigger's state, copies in internal storage, requests on the bus.

    fire_each(versions)           RealtimeTrigger: one execution per version won
    fire_batch(versions, max)     polling Trigger: one execution for up to `max` won,
                                  then MOVE or DELETE them
    fire_deleted(versions)        RealtimeTrigger `on: DELETE`
    recover()                     on start: fire what an earlier run journaled
    left(path) / flush_releases   a file left the folder

Why each step:

- **Claims** (`ctx.state.claim`, one round trip per batch) make a version fire once,
  across restarts and whoever asks: the version key is size + mtime_ns + path. The
  file's path is claimed in the same call; winning it means the file is new (CREATE),
  losing it means an earlier version fired (UPDATE). A file that leaves the folder gives
  its path claim back, so one created there again is new again.
- **The journal** (the trigger's state) lists what was claimed and is owed an
  execution. It is written by the claim's own store transaction (`claim(…,
  journal=…)`): a version is claimed and journaled, or neither. A runner restarted
  in between (its flow was edited, the process died) fires it on start, if the
  trigger's conditions hold then; the execution id derives from the version key (or
  the batch), so firing twice runs once.
- **The copy** goes under the execution's own storage folder
  (`<ns>/<flow>/executions/<id>/trigger/<name>`), so tasks read it through its
  `kestra:///` URI after the source was moved or deleted, and purging the execution's
  files removes it. It is made before firing: the execution id, hence the place, is
  known before the execution exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from engine.errors import PodiumError
from engine.flow import Flow
from engine.storage import safe_name
from triggers.base import TriggerContext, slot_id, trigger_scope
from triggers.files_models import FolderTrigger
from triggers.files_scan import FileVersion, copy_version, describe, has_copy, move_or_delete

__all__ = ["COPY_THREADS", "FileFirer"]

log = logging.getLogger("podium.triggers.files")

COPY_THREADS = 4
"""Threads copying files into internal storage, shared by every file trigger."""

# Their own pool: a big file must not hold the default executor's threads, which the
# rest of the process (the runners' looks and scans included) shares.
_COPIERS = ThreadPoolExecutor(max_workers=COPY_THREADS, thread_name_prefix="podium-file-copy")

CREATE, UPDATE = "CREATE", "UPDATE"
T = TypeVar("T")


def path_key(path: str) -> str:
    return f"path:{path}"


async def _even_if_cancelled(step: Coroutine[Any, Any, T]) -> T:
    """Run `step` to its end even if we are cancelled meanwhile, then let the
    cancellation go on: a runner stopped while claiming leaves what it won journaled
    and copied, for the next runner to fire."""
    task = asyncio.ensure_future(step)  # owned here: awaited on every path below
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():  # bounded: the claims (journal included), one batch copied
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                continue  # cancelled again: still wait
            except Exception:
                break
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "file trigger: a claim failed as its runner stopped", exc_info=task.exception()
            )
        raise


async def _in_copier(fn: Callable[[Any], T], arg: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_COPIERS, fn, arg)


@dataclass(slots=True)
class _Planned:
    """A claimed version on its way to an execution."""

    version: FileVersion
    change: str
    relative: str = ""  # its copy's place in internal storage …
    uri: str = ""  # … and the URI tasks read it by

    def entry(self) -> list[Any]:
        v = self.version
        return [v.key, self.change, v.atime_ns, v.created_ns, v.ino, v.dev]

    @staticmethod
    def parse(entry: list[Any]) -> tuple[FileVersion, str]:
        key, change, atime_ns, created_ns, ino, dev = entry
        size, mtime_ns, path = key.split(":", 2)
        return FileVersion(path, int(size), int(mtime_ns), atime_ns, created_ns, ino, dev), change

    def variables(self) -> dict[str, Any]:
        return describe(self.version, self.uri)


class FileFirer:
    """Claims, journals, copies and fires for one trigger of one flow."""

    def __init__(
        self,
        flow: Flow,
        trigger: FolderTrigger,
        ctx: TriggerContext,
        *,
        on: str,
        action: str = "NONE",
        move_to: Path | None = None,
    ) -> None:
        self.flow = flow
        self.trigger = trigger
        self.ctx = ctx
        self.on = on
        self.action = action
        self.move_to = move_to
        self.scope = trigger_scope(flow, trigger)
        self.fired = 0
        self._releases: list[str] = []
        self._is_journaled = False

    def __repr__(self) -> str:
        return f"<FileFirer {self.scope} fired={self.fired}>"

    def wants(self, change: str) -> bool:
        """Whether `on` asks for executions of this kind of change."""
        return self.on in (change, "CREATE_OR_UPDATE")

    # -- claims ------------------------------------------------------------------

    async def claim(
        self,
        versions: Sequence[FileVersion],
        journal: Callable[[list[tuple[FileVersion, str]]], dict[str, Any] | None] | None = None,
    ) -> list[tuple[FileVersion, str]]:
        """Claim versions (and their paths) in one round trip; return those won, each
        with its change type. Lost ones fired before, here or in an earlier run. With
        `journal`, what it makes of those won (or None) becomes the journal's pending
        entry in the same store transaction."""
        if not versions:
            return []
        items = [v.key for v in versions] + [path_key(v.path) for v in versions]

        def changes(items_won: list[str]) -> list[tuple[FileVersion, str]]:
            recorded = set(items_won)
            return [
                (v, CREATE if path_key(v.path) in recorded else UPDATE)
                for v in versions
                if v.key in recorded
            ]

        if journal is None:
            return changes(await self.ctx.state.claim(self.scope, items))
        won: list[tuple[FileVersion, str]] = []
        pending: dict[str, Any] | None = None

        def write(state: dict[str, Any] | None, items_won: list[str]) -> dict[str, Any] | None:
            # in the store's transaction (and maybe its thread): only computes
            nonlocal pending
            won[:] = changes(items_won)
            pending = journal(won)
            return None if pending is None else {"pending": pending}

        await self.ctx.state.claim(self.scope, items, journal=write)
        if pending is not None:
            self._is_journaled = True
        return won

    def left(self, path: str) -> None:
        """`path` left the folder: a file created there again will be new."""
        self._releases.append(path_key(path))

    async def flush_releases(self) -> None:
        if self._releases:
            releases, self._releases = self._releases, []
            await self.ctx.state.release(self.scope, releases)

    # -- firing ------------------------------------------------------------------

    async def fire_each(self, versions: Sequence[FileVersion]) -> int:
        """Claim `versions`; fire one execution per version won (RealtimeTrigger).

        The journal is cleared by `finish`, not here: in a burst the next batch's entry
        replaces this one, a store round trip saved per batch (a recovery may then fire
        some versions again, under the same execution ids: they run once)."""
        plan = await _even_if_cancelled(self._take_each(versions))
        return await self._fire_each(plan)

    async def fire_batch(self, versions: Sequence[FileVersion], max_files: int) -> int:
        """Claim versions in order until `max_files` are won; fire one execution for
        them (the polling Trigger), then MOVE or DELETE them. Returns how many of
        `versions` were claimed (the rest wait for the next poll)."""
        claimed, item, plan = await _even_if_cancelled(self._take_batch(versions, max_files))
        if item is not None:
            await self._act_and_fire_batch(item, plan)
        return claimed

    async def fire_deleted(self, versions: Sequence[FileVersion]) -> int:
        """RealtimeTrigger `on: DELETE`: one execution per file that left, no copy (and
        no journal: a deletion missed while Podium is down is not seen either)."""
        items = {f"deleted:{v.key}": v for v in versions}
        won = await self.ctx.state.claim(self.scope, list(items)) if items else []
        fired = 0
        for item in won:
            variables = {"file": describe(items[item], None), "changeType": "DELETE"}
            if self._holds(variables):
                fired += await self._fire(variables, item=item, uris=[])
        return fired

    async def recover(self) -> int:
        """Fire what an earlier run journaled but may not have fired."""
        state = await self.ctx.state.get_trigger_state(self.scope) or {}
        pending = state.get("pending") or {}
        entries = pending.get("entries") or []
        if not entries:
            return 0
        log.info(
            "file trigger %s of %s: firing %d file(s) an earlier run claimed",
            self.trigger.id,
            self.flow.key,
            len(entries),
        )
        self._is_journaled = True
        item: str | None = pending.get("item")
        plan = [
            self._plan(v, change, item=item or v.key, nested=item is not None)
            for v, change in map(_Planned.parse, entries)
        ]
        # journaled as claimed: the conditions decide now, as they would have then
        if item is None:
            plan = [p for p in plan if self._holds({"file": p.variables(), "changeType": p.change})]
        elif not self._holds(_batch_variables(plan)):
            plan = []
        plan = await self._copy(plan, is_retry=True)
        if item is not None:
            return await self._act_and_fire_batch(item, plan)
        fired = await self._fire_each(plan)
        await self.finish()
        return fired

    async def finish(self) -> None:
        """Everything journaled was fired: clear the journal."""
        if self._is_journaled:
            await self.ctx.state.set_trigger_state(self.scope, {})
            self._is_journaled = False

    # -- the steps ---------------------------------------------------------------

    async def _take_each(self, versions: Sequence[FileVersion]) -> list[_Planned]:
        def journal(won: list[tuple[FileVersion, str]]) -> dict[str, Any] | None:
            entries = [_Planned(v, change).entry() for v, change in won if self.wants(change)]
            return {"item": None, "entries": entries} if entries else None

        won = await self.claim(versions, journal)
        plan = [self._plan(v, change, item=v.key) for v, change in won if self.wants(change)]
        plan = [p for p in plan if self._holds({"file": p.variables(), "changeType": p.change})]
        return await self._copy(plan) if plan else []

    async def _take_batch(
        self, versions: Sequence[FileVersion], max_files: int
    ) -> tuple[int, str | None, list[_Planned]]:
        won: list[tuple[FileVersion, str]] = []
        claimed = 0

        def journal(fresh: list[tuple[FileVersion, str]]) -> dict[str, Any] | None:
            # the batch so far: each chunk's claim journals every version won until then
            wanted = won + [(v, change) for v, change in fresh if self.wants(change)]
            if not wanted:
                return None
            return {
                "item": _batch_item(wanted),
                "entries": [_Planned(v, change).entry() for v, change in wanted],
            }

        while claimed < len(versions) and len(won) < max_files:
            chunk = versions[claimed : claimed + max_files - len(won)]
            claimed += len(chunk)
            fresh = await self.claim(chunk, journal)
            won.extend((v, change) for v, change in fresh if self.wants(change))
        if not won:
            return claimed, None, []
        item = _batch_item(won)
        plan = [self._plan(v, change, item=item, nested=True) for v, change in won]
        if not self._holds(_batch_variables(plan)):
            await self.finish()  # claimed, and owed nothing
            return claimed, None, []
        return claimed, item, await self._copy(plan)

    def _plan(
        self, version: FileVersion, change: str, *, item: str, nested: bool = False
    ) -> _Planned:
        execution_id = slot_id(self.scope, item)
        # One level fewer than Kestra's (…/trigger/<trigger id>/…): an execution has
        # one trigger, and each new directory is a costly mkdir per file in a burst.
        relative = (
            f"{self.flow.namespace.replace('.', '/')}/{self.flow.id}/executions/"
            f"{execution_id}/trigger"
        )
        if nested:  # several files in one execution may share a name
            relative += "/" + hashlib.blake2b(version.key.encode(), digest_size=6).hexdigest()
        relative += "/" + safe_name(version.name)
        return _Planned(version, change, relative, self.ctx.storage.uri_for(relative))

    def _holds(self, variables: dict[str, Any]) -> bool:
        """The trigger's conditions, on what the execution would get as `trigger`."""
        if not self.trigger.conditions:
            return True
        facts = {
            "trigger": variables,
            "flow": {"namespace": self.flow.namespace, "id": self.flow.id},
            "envs": dict(self.ctx.envs),
        }
        try:
            return all(c.test(facts, self.ctx.renderer) for c in self.trigger.conditions)
        except (PodiumError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "file trigger %s of %s: a condition failed (%s); not firing",
                self.trigger.id,
                self.flow.key,
                exc,
            )
            return False

    async def _copy(self, plan: list[_Planned], *, is_retry: bool = False) -> list[_Planned]:
        """Copy every planned file; drop and unclaim those that changed or vanished
        since they settled: their next version is new, not an update. A retry first
        looks for the copy an earlier attempt made."""
        # Built from checked parts (namespace, flow and trigger ids, an execution id,
        # safe_name), so joined without LocalStorage.path_of's resolve(): that costs a
        # dozen system calls per file, and under load each one waits for the GIL.
        root = self.ctx.storage.root

        def copy_all(part: list[_Planned]) -> list[bool]:
            return [
                (is_retry and has_copy(p.version, root / p.relative))
                or copy_version(p.version, root / p.relative)
                for p in part
            ]

        # Several threads: a thread back from a system call waits for the GIL while the
        # event loop is busy; meanwhile the others keep the disk busy (measured under
        # load: 4 threads copy 2.4 times as fast as one).
        parts = [plan[i::COPY_THREADS] for i in range(min(COPY_THREADS, len(plan)))]
        async with asyncio.TaskGroup() as group:
            copies = [group.create_task(_in_copier(copy_all, part)) for part in parts]
        is_copied = {
            id(p): ok
            for part, copy in zip(parts, copies, strict=True)
            for p, ok in zip(part, copy.result(), strict=True)
        }
        failed = [p for p in plan if not is_copied[id(p)]]
        if failed:
            unclaim = [p.version.key for p in failed]
            unclaim += [path_key(p.version.path) for p in failed if p.change == CREATE]
            await self.ctx.state.release(self.scope, unclaim)
            log.debug("file trigger %s: %d file(s) changed or left", self.trigger.id, len(failed))
        return [p for p in plan if is_copied[id(p)]]

    async def _fire_each(self, plan: list[_Planned]) -> int:
        fired = 0
        for p in plan:
            variables = {"file": p.variables(), "changeType": p.change}
            fired += await self._fire(variables, item=p.version.key, uris=[p.uri])
        return fired

    async def _act_and_fire_batch(self, item: str, plan: list[_Planned]) -> int:
        if self.action != "NONE" and plan:
            action, move_to = self.action, self.move_to
            acted = await asyncio.to_thread(
                lambda: [move_or_delete(p.version, action, move_to) for p in plan]
            )
            for p, ok in zip(plan, acted, strict=True):
                if ok:
                    self.left(p.version.path)
        fired = 0
        if plan:
            fired = await self._fire(_batch_variables(plan), item=item, uris=[p.uri for p in plan])
        await self.finish()
        return fired

    async def _fire(self, variables: dict[str, Any], *, item: str, uris: Sequence[str]) -> int:
        try:
            await self.ctx.fire(self.flow, self.trigger, variables=variables, item=item)
        except PodiumError as exc:  # bad trigger inputs, a deleted flow: say so, go on
            log.warning(
                "file trigger %s of %s did not fire: %s", self.trigger.id, self.flow.key, exc
            )
            for uri in uris:
                self.ctx.storage.delete(uri)
            return 0
        self.fired += 1
        return 1


def _batch_item(won: Sequence[tuple[FileVersion, str]]) -> str:
    """The item of one batch firing: named by its versions, whatever their order."""
    keys = "\n".join(sorted(v.key for v, _ in won)).encode()
    return f"batch:{hashlib.blake2b(keys, digest_size=12).hexdigest()}"


def _batch_variables(plan: Sequence[_Planned]) -> dict[str, Any]:
    files = [{**p.variables(), "changeType": p.change} for p in plan]
    return {"files": files, "count": len(files)}
