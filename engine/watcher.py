"""`ExecutionWatcher`: wait for executions to end, without polling the store.

Every execution that reaches a terminal state resolves its waiters. Where the process
runs the projector, the watcher follows it (each applied batch: the end is then in the
store already); elsewhere it keeps one live (transient) subscription to the events topic.
Used where a caller asked to wait for the end (a webhook with `wait`, the API's
`wait=true`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from engine.bus.base import Bus, Topics
from engine.events import EventDocument, ExecutionChanged, decode_event
from engine.projector import Projector
from engine.states import TERMINAL_STATES
from engine.store.base import Store

__all__ = ["ExecutionWatcher"]

STORE_CHECK_SECONDS = 0.5


class ExecutionWatcher:
    def __init__(
        self,
        bus: Bus,
        store: Store,
        *,
        topics: Topics = Topics(),
        projector: Projector | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.topics = topics
        self.projector = projector
        self._waiters: dict[str, list[asyncio.Future[ExecutionChanged]]] = {}
        self._is_stopping = False
        self._stopped = asyncio.Event()
        self.is_ready = asyncio.Event()
        if projector is not None:  # before it runs: no batch goes by unseen
            projector.follow(self._on_applied)

    def __repr__(self) -> str:
        return f"<ExecutionWatcher waiting={sum(map(len, self._waiters.values()))}>"

    def stop(self) -> None:
        self._is_stopping = True
        self._stopped.set()

    async def run(self) -> None:
        if self.projector is not None:
            self.is_ready.set()
            try:
                await self._stopped.wait()
            finally:
                self._cancel_waiters()
            return
        subscription = await self.bus.subscribe(
            self.topics.events, "podium-watcher", is_transient=True
        )
        self.is_ready.set()
        try:
            while not self._is_stopping:
                for record in await subscription.fetch(max_records=2000, timeout=0.2):
                    if not self._waiters or b'"ExecutionChanged"' not in record.value:
                        continue
                    event = decode_event(record.value)
                    if isinstance(event, ExecutionChanged) and event.state.is_terminal:
                        self._resolve(event)
        finally:
            await subscription.close()
            self._cancel_waiters()

    async def _on_applied(self, events: Sequence[EventDocument]) -> None:
        if self._is_stopping or not self._waiters:
            return  # mostly no one waits: the pass would cost ~1,500 instructions an event
        for event in events:
            doc = event.doc
            if (
                doc["kind"] == "ExecutionChanged"
                and doc["execution_id"] in self._waiters
                and doc["state"] in TERMINAL_STATES
            ):
                self._resolve(ExecutionChanged.model_validate_json(event.raw))

    def _resolve(self, ended: ExecutionChanged) -> None:
        for future in self._waiters.pop(ended.execution_id, ()):
            if not future.done():
                future.set_result(ended)

    def _cancel_waiters(self) -> None:
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()

    async def wait(self, execution_id: str, timeout: float) -> ExecutionChanged | None:
        """The execution's final header, or None if it has not ended within `timeout`."""
        future: asyncio.Future[ExecutionChanged] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(execution_id, []).append(future)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                # It may have ended before we listened: its end event went by before the
                # waiter existed, and reaches the store only when the projector gets to
                # it. So look in the store now and then, not only at the start.
                known = await self.store.get_execution(execution_id)
                if known is not None and known.state.is_terminal:
                    return known
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(
                        asyncio.shield(future), min(remaining, STORE_CHECK_SECONDS)
                    )
        finally:
            waiters = self._waiters.get(execution_id)
            if waiters is not None and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiters[execution_id]
