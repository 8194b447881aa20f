"""`TriggerService`: keeps one runner per live trigger, and listens for executions ending.

    flows (store) ──reconcile──▶ {(flow, trigger): runner task}   schedules, file watchers
    events topic  ──────────────▶ FlowTriggerListener              "run B when A ends"

Reconciling happens at start, whenever a flow is saved or deleted through this process's
FlowRepository, and every `refresh_seconds` (flows saved by other processes). A runner
that crashes is logged and restarted with backoff; it never takes the service down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from engine.bus.base import Bus, Topics
from engine.flow import Flow
from engine.flows import FlowRepository
from engine.plugin import Trigger
from triggers.base import TriggerContext, TriggerRunner
from triggers.flow_trigger import FlowTriggerListener

__all__ = ["TriggerService"]

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
    ) -> None:
        self.flows = flows
        self.ctx = ctx
        self.runners = dict(runners)
        self.refresh_seconds = refresh_seconds
        self.listener = FlowTriggerListener(bus, ctx, topics=topics)
        self._running: dict[tuple[str, str], tuple[int | None, asyncio.Task[None]]] = {}
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self.is_ready = asyncio.Event()
        flows.on_change(self._changed.set)

    def __repr__(self) -> str:
        return f"<TriggerService runners={len(self._running)}>"

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            listener = group.create_task(self.listener.run(), name="flow triggers")
            await self.reconcile()
            self.is_ready.set()
            while not self._stopping.is_set():
                try:
                    await asyncio.wait_for(self._changed.wait(), self.refresh_seconds)
                except TimeoutError:
                    pass
                self._changed.clear()
                if not self._stopping.is_set():
                    await self.reconcile()
            self.listener.stop()
            for _, task in self._running.values():
                task.cancel()
            await listener
        self._group = None

    async def reconcile(self) -> None:
        """Start runners for new triggers, restart changed ones, stop removed ones."""
        assert self._group is not None
        wanted: dict[tuple[str, str], tuple[Flow, Trigger]] = {}
        listened: list[tuple[Flow, Trigger]] = []
        for record in await self.flows.list():
            flow = await self.flows.get(record.namespace, record.id, record.revision)
            if flow is None or flow.disabled:
                continue
            for trigger in flow.triggers:
                if trigger.disabled:
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
