"""`TriggerService`: keeps one runner per live trigger, and listens for executions ending.

    flows (store) ──reconcile──▶ {(flow, trigger): runner task}   schedules, file watchers
    events topic  ──────────────▶ FlowTriggerListener              "run B when A ends"

Reconciling happens at start, whenever a flow is saved or deleted through this process's
FlowRepository, and every `refresh_seconds` (flows saved by other processes). A runner
that crashes is logged and restarted with backoff; it never takes the service down.

A trigger can also be disabled without editing its flow (the API's enable/disable, the
trigger.Toggle task, a `stopAfter` state reached): the set of disabled triggers is one
document in the store's trigger state, so it survives restarts and every process sees it
at its next reconcile. A disabled trigger has no runner, its webhook answers 404 and its
flow-trigger conditions are not watched. Enabling a schedule again starts it from now:
slots missed while disabled are not run (a backfill runs them on purpose), and the
executions a `stopAfter` watched are forgotten.

Backfills started through the API run in this service's task group, one at a time per
trigger; their progress is kept in the trigger state too (`<scope>#backfill`), so any
process can report it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from engine.bus.base import Bus, Topics
from engine.errors import PodiumError, TransientError
from engine.flow import Flow
from engine.flows import FlowRepository
from engine.plugin import Trigger
from engine.projector import Projector
from triggers.base import TriggerContext, TriggerRunner, trigger_scope
from triggers.cron import as_utc
from triggers.flow_trigger import FlowTriggerListener

__all__ = ["DISABLED_SCOPE", "BackfillBusy", "TriggerService", "backfill_scope"]

DISABLED_SCOPE = "podium:disabled-triggers"
PROGRESS_EVERY_SECONDS = 1.0


def backfill_scope(scope: str) -> str:
    return f"{scope}#backfill"


class BackfillBusy(PodiumError):
    """A backfill of this trigger is running already."""


log = logging.getLogger("podium.triggers")

MAX_BACKOFF = 60.0


class TriggerService:
    def __init__(
        self,
        flows: FlowRepository,
        ctx: TriggerContext,
        bus: Bus,
        *,
        runners: Mapping[type[Trigger], TriggerRunner],
        topics: Topics = Topics(),
        refresh_seconds: float = 5.0,
        projector: Projector | None = None,
    ) -> None:
        """With `projector` (one runs in this process), flow triggers follow it rather
        than consuming the events topic again."""
        self.flows = flows
        self.ctx = ctx
        self.runners = runners
        self.refresh_seconds = refresh_seconds
        self.listener = FlowTriggerListener(
            bus, ctx, topics=topics, group=topics.group("flow-triggers"), projector=projector
        )
        self._running: dict[tuple[str, str], tuple[int | None, asyncio.Task[None]]] = {}
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._disabled: frozenset[str] = frozenset()
        self._disabled_lock = asyncio.Lock()
        self._backfills: dict[str, asyncio.Task[None]] = {}
        self.is_ready = asyncio.Event()
        flows.on_change(self._changed.set)
        if ctx.disable is None:  # runners whose stopAfter state was reached use this
            ctx.disable = self.disable

    def __repr__(self) -> str:
        return f"<TriggerService runners={len(self._running)}>"

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            listener = group.create_task(self.listener.run(), name="flow triggers")
            try:
                await self._reconcile_patiently()
                self.is_ready.set()
                while not self._stopping.is_set():
                    try:
                        await asyncio.wait_for(self._changed.wait(), self.refresh_seconds)
                    except TimeoutError:
                        pass
                    self._changed.clear()
                    if not self._stopping.is_set():
                        await self._reconcile_patiently()
            finally:
                # also when cancelled: the listener polls with a timeout, and a stop flag
                # ends it even if a cancellation is lost in that poll (wait_for, 3.11)
                self.listener.stop()
                for _, task in self._running.values():
                    task.cancel()
                for task in self._backfills.values():
                    task.cancel()
            await listener
        self._group = None

    async def _reconcile_patiently(self) -> None:
        """A store that is briefly away (a database restart) delays the next look at the
        flows; the running triggers go on, and the service does not die."""
        delay = 0.1
        while not self._stopping.is_set():
            try:
                await self.reconcile()
                return
            except TransientError as exc:
                log.warning("cannot read flows (%s); retrying in %.1fs", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, self.refresh_seconds)

    async def reconcile(self) -> None:
        """Start runners for new triggers, restart changed ones, stop removed ones."""
        assert self._group is not None
        wanted: dict[tuple[str, str], tuple[Flow, Trigger]] = {}
        listened: list[tuple[Flow, Trigger]] = []
        disabled = await self.refresh_disabled()
        for record in await self.flows.list():
            flow = await self.flows.get(record.namespace, record.id, record.revision)
            if flow is None or flow.disabled:
                continue
            for trigger in flow.triggers:
                if trigger.disabled or trigger_scope(flow, trigger) in disabled:
                    continue
                if type(trigger) in self.runners:
                    wanted[(flow.key, trigger.id)] = (flow, trigger)
                elif self.listener.handles(trigger):
                    listened.append((flow, trigger))
        self.listener.watch(listened)
        for key, (revision, task) in list(self._running.items()):
            if key not in wanted or wanted[key][0].revision != revision or task.done():
                task.cancel()
                del self._running[key]
        for key, (flow, trigger) in wanted.items():
            if key not in self._running:
                task = self._group.create_task(
                    self._supervise(flow, trigger), name=f"trigger {key}"
                )
                self._running[key] = (flow.revision, task)

    async def _supervise(self, flow: Flow, trigger: Trigger) -> None:
        runner = self.runners[type(trigger)]
        backoff = 1.0
        while True:
            try:
                await runner.run(flow, trigger, self.ctx)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "trigger %s of %s failed; restarting in %.0fs", trigger.id, flow.key, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    # -- disabling without editing the flow -------------------------------------------

    async def refresh_disabled(self) -> frozenset[str]:
        data = await self.ctx.state.get_trigger_state(DISABLED_SCOPE) or {}
        self._disabled = frozenset(str(s) for s in data.get("scopes") or ())
        return self._disabled

    def is_disabled(self, scope: str) -> bool:
        """Whether the API disabled this trigger (as of the last reconcile in this process,
        or a change made through it)."""
        return scope in self._disabled

    async def set_disabled(self, scope: str, disabled: bool) -> None:
        async with self._disabled_lock:
            current = set(await self.refresh_disabled())
            if not disabled:
                await self._start_afresh(scope, was_disabled=scope in current)
            if disabled == (scope in current):
                return
            if disabled:
                current.add(scope)
            else:
                current.discard(scope)
            await self.ctx.state.set_trigger_state(DISABLED_SCOPE, {"scopes": sorted(current)})
            self._disabled = frozenset(current)
        self._changed.set()

    async def disable(self, scope: str) -> None:
        await self.set_disabled(scope, True)

    async def set_enabled(
        self, namespace: str, flow_id: str, trigger_id: str, *, enabled: bool
    ) -> bool:
        """engine.plugin.TriggerSwitch, for trigger.Toggle: the API's switch, by name."""
        flow = await self.flows.get(namespace, flow_id)
        if flow is None:
            raise PodiumError(f"flow {namespace}.{flow_id} not found")
        trigger = next((t for t in flow.triggers if t.id == trigger_id), None)
        if trigger is None:
            known = ", ".join(t.id for t in flow.triggers) or "none"
            raise PodiumError(
                f"flow {namespace}.{flow_id} has no trigger {trigger_id!r} (its triggers: {known})"
            )
        await self.set_disabled(trigger_scope(flow, trigger), not enabled)
        return enabled and not (flow.disabled or trigger.disabled)

    async def _start_afresh(self, scope: str, *, was_disabled: bool) -> None:
        """A trigger enabled again starts from now, not from where it was disabled: a
        schedule skips the slots it missed, and the executions stopAfter watched (one of
        which stopped it) are forgotten. A trigger that runs is left alone."""
        state = await self.ctx.state.get_trigger_state(scope)
        if not state or not (was_disabled or state.get("stopped")):
            return
        fresh = {**state, "watch": [], "stopped": None}
        if "last" in state:
            now = as_utc(self.ctx.clock.now())
            try:
                last = as_utc(datetime.fromisoformat(str(state["last"])))
            except ValueError:
                last = now
            fresh.update(last=max(last, now).isoformat(), pending=None)
        if fresh != state:
            await self.ctx.state.set_trigger_state(scope, fresh)

    # -- backfills started from the API ---------------------------------------------------

    async def backfill_progress(self, scope: str) -> dict[str, Any] | None:
        return await self.ctx.state.get_trigger_state(backfill_scope(scope))

    async def start_backfill(
        self,
        flow: Flow,
        trigger: Trigger,
        start: datetime,
        end: datetime | None,
        *,
        inputs: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Start a backfill in the background; returns its first progress report.
        Raises BackfillBusy, or RuntimeError when the service is not running."""
        if self._group is None:
            raise RuntimeError("the trigger service is not running in this process")
        scope = trigger_scope(flow, trigger)
        running = self._backfills.get(scope)
        if running is not None and not running.done():
            raise BackfillBusy(f"a backfill of {scope} is running already")
        progress: dict[str, Any] = {
            "start": start.isoformat(),
            "end": end.isoformat() if end else None,
            "currentDate": None,
            "done": 0,
            "total": None,
            "running": True,
            "fired": 0,
            "error": None,
            "startedAt": datetime.now(UTC).isoformat(),
        }
        await self.ctx.state.set_trigger_state(backfill_scope(scope), progress)
        self._backfills[scope] = self._group.create_task(
            self._run_backfill(flow, trigger, scope, progress, start, end, inputs, labels),
            name=f"backfill {scope}",
        )
        return progress

    async def _run_backfill(
        self,
        flow: Flow,
        trigger: Trigger,
        scope: str,
        progress: dict[str, Any],
        start: datetime,
        end: datetime | None,
        inputs: Mapping[str, Any] | None,
        labels: Mapping[str, str] | None,
    ) -> None:
        from triggers.backfill import backfill  # schedules' slots: only when asked for

        key = backfill_scope(scope)
        last_saved = [time.monotonic()]

        async def report(done: int, total: int, slot: datetime) -> None:
            progress.update(done=done, total=total, currentDate=slot.isoformat())
            if done == total or time.monotonic() - last_saved[0] >= PROGRESS_EVERY_SECONDS:
                last_saved[0] = time.monotonic()
                await self.ctx.state.set_trigger_state(key, progress)

        try:
            result = await backfill(
                self.flows,
                self.ctx,
                flow.namespace,
                flow.id,
                trigger.id,
                start,
                end,
                inputs=inputs,
                labels=labels,
                on_slot=report,
            )
            progress.update(fired=len(result.fired), total=result.total, done=result.total)
            if result.failed:
                progress["error"] = f"{len(result.failed)} slots failed: {result.failed[0][1]}"
        except asyncio.CancelledError:
            progress.update(running=False, error="interrupted: the server stopped")
            await asyncio.shield(self.ctx.state.set_trigger_state(key, progress))
            raise
        except (PodiumError, ValueError) as exc:
            progress["error"] = str(exc)
        except Exception as exc:  # a bug must not take the trigger service down
            log.exception("backfill of %s failed", scope)
            progress["error"] = f"{type(exc).__name__}: {exc}"
        progress["running"] = False
        await self.ctx.state.set_trigger_state(key, progress)
