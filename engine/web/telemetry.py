"""`EventMetrics`: what /metrics learns from the events topic rather than from a role's
counters: task run durations (a histogram by final state) and executions ended by state.

It follows the projector where the process runs one, else reads a live (transient)
subscription, as the ExecutionWatcher does; either way it counts what this process sees
from the moment it starts, and Prometheus' rate() copes with restarts.
It runs for as long as the web application does (`cleanup_ctx`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from engine.bus.base import Bus, Topics
from engine.events import EventDocument
from engine.metrics import Registry
from engine.projector import Projector
from engine.states import TERMINAL_STATES

__all__ = ["EventMetrics"]

log = logging.getLogger("podium.metrics")


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


class EventMetrics:
    def __init__(
        self,
        bus: Bus,
        registry: Registry,
        *,
        topics: Topics = Topics(),
        projector: Projector | None = None,
    ) -> None:
        self.bus = bus
        self.topics = topics
        self.projector = projector
        self.task_runs = registry.histogram(
            "podium_task_run_duration_seconds",
            "Duration of ended task runs (start to end), by final state",
            ("state",),
        )
        self.ended = registry.counter(
            "podium_executions_ended_total", "Executions that reached a terminal state", ("state",)
        )
        self._is_stopping = False

    def __repr__(self) -> str:
        return "<EventMetrics>"

    def observe(self, raw: bytes) -> None:
        if b'"TaskRunChanged"' not in raw and b'"ExecutionChanged"' not in raw:
            return
        self._count(orjson.loads(raw))

    async def _on_applied(self, events: Sequence[EventDocument]) -> None:
        if not self._is_stopping:
            for event in events:
                self._count(event.doc)

    def _count(self, doc: Mapping[str, Any]) -> None:
        state = doc.get("state")
        if state not in TERMINAL_STATES:
            return
        if doc.get("kind") == "TaskRunChanged":
            seconds = _seconds(doc.get("started_at"), doc.get("ended_at"))
            if seconds is not None and seconds >= 0:
                self.task_runs.observe(seconds, state=state)
        elif doc.get("kind") == "ExecutionChanged":
            self.ended.inc(state=state)

    async def run(self) -> None:
        subscription = await self.bus.subscribe(
            self.topics.events, "podium-metrics", is_transient=True
        )
        me = asyncio.current_task()
        try:
            while not self._is_stopping:
                if me is not None and me.cancelling():
                    # a cancel that the bus's poll lost (wait_for's race in 3.11)
                    raise asyncio.CancelledError
                for record in await subscription.fetch(max_records=2000, timeout=0.5):
                    try:
                        self.observe(record.value)
                    except ValueError:
                        log.warning("an event that is not JSON was not counted")
        finally:
            await subscription.close()

    async def cleanup_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`: runs while the application runs."""
        self._is_stopping = False
        if self.projector is not None:
            self.projector.follow(self._on_applied)
            yield
            self._is_stopping = True
            return
        task = asyncio.get_running_loop().create_task(self.run(), name="event metrics")
        yield
        # a stop flag, not cancel(): the bus's fetch must end cleanly (it polls 0.5 s)
        self._is_stopping = True
        await task
