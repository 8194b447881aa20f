"""The runners of the local-folder triggers: where files are noticed and handed on.

    open_folder      render `from`, resolve it, check it against ctx.allowed_paths, wait
                     for it to exist. A folder outside the allowed paths (or none
                     configured) is logged as an error once, and the runner then parks:
                     it watches nothing until its flow changes. (Returning would make the
                     TriggerService start it again and log the same error every refresh.)
    RealtimeRunner   three tasks in one TaskGroup:
                       watch    watchfiles.awatch → Settler.saw (events only mark paths)
                       settle   looks at due paths (one thread hop), claims and fires
                                what is stable, in batches of BATCH
                       rescan   every RESCAN_SECONDS, because events can be lost
                     On start: recover the journal, then scan — files that arrived while
                     Podium was down fire now, the ones already claimed do not.
    PollingRunner    every `interval`: scan, settle, claim up to maxFiles, fire one batch,
                     then MOVE or DELETE.

Memory: `known` (path → last version handled) and the Settler hold at most one entry per
file of the folder; a file that leaves the folder leaves both.

Podium's own data folder is never watched, even inside a watched folder: its journal,
database and the copies made here change all the time.

Polling fallback: `forcePolling: true` on the trigger, or WATCHFILES_FORCE_POLLING in the
environment (watchfiles reads it), or automatically when the OS refuses an event watch
(e.g. the inotify watch limit).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import NoReturn

from watchfiles import Change, awatch

from engine.durations import is_template
from engine.errors import PodiumError
from engine.flow import Flow
from engine.plugin import Trigger
from triggers.base import TriggerContext
from triggers.files_firing import FileFirer
from triggers.files_models import FolderTrigger, PollingTrigger, RealtimeTrigger
from triggers.files_scan import (
    SETTLE_SECONDS,
    FileVersion,
    Folder,
    Settler,
    folder_problem,
    scan,
    stat_paths,
)

__all__ = ["PollingRunner", "RealtimeRunner", "open_folder"]

log = logging.getLogger("podium.triggers.files")

BATCH = 500
"""Versions claimed (one store round trip) and fired per round."""
RESCAN_SECONDS = 60.0
"""How often a realtime trigger lists its folder anyway: events can be dropped."""
FOLDER_RETRY_SECONDS = 5.0
"""How often a trigger looks again for a folder that does not exist yet."""
DEBOUNCE_MS, STEP_MS, POLL_DELAY_MS = 500, 50, 300
"""watchfiles: the longest it groups events, the quiet time that ends a group, and the
period of its polling mode."""


# -- the folder ------------------------------------------------------------------


def _where(flow: Flow, trigger: Trigger) -> str:
    return f"file trigger {trigger.id} of {flow.key}"


async def _park(where: str, problem: str) -> NoReturn:
    log.error("%s: %s; not watching until the flow changes or Podium restarts", where, problem)
    await asyncio.Event().wait()  # until cancelled: the service restarts us on a flow edit
    raise AssertionError("unreachable")


def _render(text: str, flow: Flow, ctx: TriggerContext) -> str:
    if not is_template(text):
        return text
    context = {
        "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
        "envs": dict(ctx.envs),
    }
    return ctx.renderer.render(text, context)


async def _allowed_dir(
    flow: Flow, trigger: Trigger, ctx: TriggerContext, text: str, what: str
) -> Path:
    """`text` rendered and resolved, if under an allowed path; parks otherwise."""
    where = _where(flow, trigger)
    try:
        rendered = _render(text, flow, ctx)
    except PodiumError as exc:
        await _park(where, f"cannot render the {what} {text!r}: {exc}")
    path = await asyncio.to_thread(lambda: Path(rendered).expanduser().resolve())
    problem = folder_problem(path, ctx.allowed_paths, what=what)
    if problem:
        await _park(where, problem)
    return path


async def open_folder(
    flow: Flow, trigger: FolderTrigger, ctx: TriggerContext, *, exclude: tuple[Path, ...] = ()
) -> Folder:
    """The trigger's folder, checked and existing. Parks (never returns) if not allowed."""
    where = _where(flow, trigger)
    pattern = None
    if trigger.regExp is not None:
        try:
            pattern = re.compile(_render(trigger.regExp, flow, ctx))
        except (PodiumError, re.error) as exc:
            await _park(where, f"invalid regExp {trigger.regExp!r}: {exc}")
    has_waited = False
    while True:
        root = await _allowed_dir(flow, trigger, ctx, trigger.folder, "folder")
        if await asyncio.to_thread(root.is_dir):
            break
        if not has_waited:
            log.warning("%s: the folder %s does not exist (yet); waiting for it", where, root)
            has_waited = True
        await ctx.clock.sleep(FOLDER_RETRY_SECONDS)
    if has_waited:
        log.info("%s: the folder %s appeared", where, root)
    # Podium's own data folder (the storage root's parent: journal, database, the copies
    # made here) changes all the time; watched, it would fire on its own writes forever.
    exclude = (*exclude, ctx.storage.root.parent)
    return Folder(root, trigger.recursive, pattern, trigger.glob, exclude)


# -- RealtimeTrigger ---------------------------------------------------------------


class RealtimeRunner:
    """TriggerRunner for io.kestra.plugin.fs.local.RealtimeTrigger."""

    def __repr__(self) -> str:
        return "<RealtimeRunner>"

    async def run(self, flow: Flow, trigger: Trigger, ctx: TriggerContext) -> None:
        if not isinstance(trigger, RealtimeTrigger):
            raise TypeError(f"RealtimeRunner cannot run {trigger!r}")
        folder = await open_folder(flow, trigger, ctx)
        await FolderWatch(flow, trigger, ctx, folder).run()


class FolderWatch:
    """One watched folder of one RealtimeTrigger, for as long as the runner lives."""

    def __init__(
        self, flow: Flow, trigger: RealtimeTrigger, ctx: TriggerContext, folder: Folder
    ) -> None:
        self.flow = flow
        self.trigger = trigger
        self.ctx = ctx
        self.folder = folder
        self.settler = Settler()
        self.known: dict[str, FileVersion] = {}
        self.firer = FileFirer(flow, trigger, ctx, on=trigger.on)
        self._wake = asyncio.Event()
        self._left: list[FileVersion] = []  # for `on: DELETE`

    def __repr__(self) -> str:
        return (
            f"<FolderWatch {self.folder.root} known={len(self.known)} settling={len(self.settler)}>"
        )

    async def run(self) -> None:
        await self.firer.recover()
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch(stop), name=f"watch {self.folder.root}")
            # The watcher registers with the OS in its first step, before it waits for
            # its thread: let it take that step before the scan, so no file falls
            # between the two (the periodic rescan would catch one anyway).
            await asyncio.sleep(0)
            try:
                await self._rescan()
                group.create_task(self._rescan_every(RESCAN_SECONDS), name="rescan")
                await self._settle_forever()
            finally:
                stop.set()  # the watcher's thread checks it every STEP_MS

    # -- noticing

    async def _watch(self, stop: asyncio.Event) -> None:
        forced = self.trigger.forcePolling
        try:
            await self._follow(stop, force_polling=forced)
        except OSError as exc:  # e.g. the inotify watch limit: polling needs no watches
            if forced or isinstance(exc, FileNotFoundError):
                raise  # the folder went away: the runner restarts and waits for it
            log.warning(
                "%s: cannot watch %s for events (%s); polling it instead",
                _where(self.flow, self.trigger),
                self.folder.root,
                exc,
            )
            await self._follow(stop, force_polling=True)

    async def _follow(self, stop: asyncio.Event, *, force_polling: bool | None) -> None:
        root, recursive = self.folder.root, self.folder.recursive
        prefix = str(root) + "/"
        async for changes in awatch(
            root,
            watch_filter=None,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=stop,
            recursive=recursive,
            force_polling=force_polling,
            poll_delay_ms=POLL_DELAY_MS,
            ignore_permission_denied=True,
        ):
            for change, path in changes:
                # Events only say "look at this path": a set of changes has no order
                # (deleted + added may both be there), so the look decides. A directory
                # that arrives whole brings files no event names: look at it too.
                is_new_dir = recursive and change == Change.added and path.startswith(prefix)
                if is_new_dir or self.folder.wants(path):
                    self.settler.saw(path)
            self._wake.set()

    async def _rescan(self) -> None:
        versions = await asyncio.to_thread(scan, self.folder)
        now = asyncio.get_running_loop().time()
        present = {v.path for v in versions}
        for path in [p for p in self.known if p not in present]:
            self._gone(path)
        for version in versions:
            if not version.is_same(self.known.get(version.path)):
                self.settler.seed(version, now)
        self._wake.set()

    async def _rescan_every(self, seconds: float) -> None:
        while True:
            await self.ctx.clock.sleep(seconds)
            await self._rescan()

    def _gone(self, path: str) -> None:
        self.settler.forget(path)
        version = self.known.pop(path, None)
        if version is not None:
            self.firer.left(path)
            if self.trigger.on == "DELETE":
                self._left.append(version)

    # -- firing

    async def _settle_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = self.settler.due(loop.time())
            if due:
                looks, arrived = await asyncio.to_thread(_look, due, self.folder)
                now = loop.time()
                for path, version in looks.items():
                    if version is None:
                        self._gone(path)
                for version in arrived:
                    self.settler.seed(version, now)
                stable = self.settler.update(looks, now)
                await self._fire([v for v in stable if not v.is_same(self.known.get(v.path))])
                await self.firer.finish()
            if self._left:
                left, self._left = self._left, []
                await self.firer.fire_deleted(left)
            await self.firer.flush_releases()
            await self._sleep(self.settler.wait_time(loop.time()))

    async def _fire(self, fresh: list[FileVersion]) -> None:
        for start in range(0, len(fresh), BATCH):
            chunk = fresh[start : start + BATCH]
            for version in chunk:
                self.known[version.path] = version
            await self.firer.fire_each(chunk)

    async def _sleep(self, timeout: float | None) -> None:
        if timeout is None or timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass
        else:
            await asyncio.sleep(0)
        self._wake.clear()


def _look(
    paths: list[str], folder: Folder
) -> tuple[dict[str, FileVersion | None], list[FileVersion]]:
    """The current version of each path, and the files of directories among them."""
    looks = stat_paths(paths, folder)
    arrived: list[FileVersion] = []
    if not folder.recursive:
        return looks, arrived
    for path, version in looks.items():
        if version is not None or not os.path.isdir(path) or os.path.realpath(path) != path:
            continue  # a file, gone, or a symlink to a directory (never followed)
        if folder.is_excluded(path):
            continue
        try:
            # Walk it unfiltered, then apply the whole folder's rules (a glob with a `/`
            # is relative to the folder, not to this directory).
            found = scan(Folder(Path(path), recursive=True, exclude=folder.exclude))
        except OSError:
            continue
        arrived.extend(v for v in found if folder.wants(v.path))
    return looks, arrived


# -- the polling Trigger ---------------------------------------------------------


class PollingRunner:
    """TriggerRunner for io.kestra.plugin.fs.local.Trigger."""

    def __repr__(self) -> str:
        return "<PollingRunner>"

    async def run(self, flow: Flow, trigger: Trigger, ctx: TriggerContext) -> None:
        if not isinstance(trigger, PollingTrigger):
            raise TypeError(f"PollingRunner cannot run {trigger!r}")
        move_to = None
        if trigger.action == "MOVE" and trigger.moveDirectory:
            move_to = await _allowed_dir(flow, trigger, ctx, trigger.moveDirectory, "moveDirectory")
        # A MOVE target inside the folder is not part of it, or moved files would fire again.
        folder = await open_folder(flow, trigger, ctx, exclude=(move_to,) if move_to else ())
        firer = FileFirer(flow, trigger, ctx, on=trigger.on, action=trigger.action, move_to=move_to)
        await firer.recover()
        known: dict[str, FileVersion] = {}
        while True:
            await _poll(folder, firer, known, trigger.maxFiles)
            await ctx.clock.sleep(trigger.interval.total_seconds())


async def _poll(
    folder: Folder, firer: FileFirer, known: dict[str, FileVersion], max_files: int
) -> None:
    versions = await asyncio.to_thread(scan, folder)
    present = {v.path for v in versions}
    for path in [p for p in known if p not in present]:
        del known[path]
        firer.left(path)
    await firer.flush_releases()
    fresh = [v for v in versions if not v.is_same(known.get(v.path))]
    if not fresh:
        return
    await asyncio.sleep(SETTLE_SECONDS)  # real time on purpose: it measures the writer
    looks = await asyncio.to_thread(stat_paths, [v.path for v in fresh], folder)
    stable = sorted(
        (v for v in fresh if v.is_same(looks[v.path])), key=lambda v: (v.mtime_ns, v.path)
    )  # oldest first; files still changing wait for the next poll
    claimed = await firer.fire_batch(stable, max_files)
    for version in stable[:claimed]:
        known[version.path] = version
    if claimed < len(stable):
        log.info(
            "file trigger %s: %d more file(s) wait for the next poll (maxFiles %d)",
            firer.trigger.id,
            len(stable) - claimed,
            max_files,
        )
