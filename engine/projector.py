"""The projector: the only writer of execution state.

It consumes the events topic in batches and applies each batch to the store in one
transaction. Applying is idempotent (sequence-guarded upserts, event-id keys), so a batch
that is redelivered after a crash changes nothing. Offsets are committed only after the
store committed. Transient store errors are retried with backoff, never dropped.

Readers of the events in the same process (the execution watcher, the flow-trigger
listener, /metrics) `follow` the projector instead of consuming the topic again: each
gets every applied batch — the events that counted, fenced ones left out — after the
store committed it and before the offsets are committed, so a follower that acts on an
event (fires a flow trigger) is redelivered it after a crash, as with its own group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from engine.bus.base import Bus, Record, Subscription, Topics
from engine.errors import ConfigError, TransientError
from engine.events import EventDocument
from engine.store.base import Applied, Store

__all__ = ["Follower", "Projector", "ProjectorSettings", "rebuild", "wait_for_projection"]

log = logging.getLogger("podium.projector")

# Called with each applied batch (see the module's docstring).
Follower = Callable[[Sequence[EventDocument]], Awaitable[None]]


@dataclass(frozen=True)
class ProjectorSettings:
    group: str = "podium-projector"
    batch_size: int = 2_000
    fetch_timeout: float = 0.2
    max_backoff: float = 10.0
    # Lag costs broker round trips (end offsets, the group's commits; on a broker that
    # needs `exact_end_offsets`, a fetch and two metadata updates more): measured at most
    # this often, busy or idle (an idle projector fetches every `fetch_timeout`).
    lag_seconds: float = 1.0


class Projector:
    def __init__(
        self,
        bus: Bus,
        store: Store,
        *,
        topics: Topics = Topics(),
        settings: ProjectorSettings = ProjectorSettings(),
    ) -> None:
        self.bus = bus
        self.store = store
        self.topics = topics
        self.settings = settings
        self.applied = 0
        self.lag = 0
        self.last_error: str | None = None  # set while the store refuses (health says so)
        self._is_stopping = False
        self._subscription: Subscription | None = None
        self._progress = asyncio.Condition()
        self._followers: list[Follower] = []
        self.is_ready = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Projector applied={self.applied} lag={self.lag}>"

    def stop(self) -> None:
        self._is_stopping = True
        if self._subscription is not None:
            self._subscription.wake()

    def follow(self, follower: Follower) -> None:
        """Hand `follower` every batch applied from now on."""
        self._followers.append(follower)

    async def run(self) -> None:
        """Apply events until `stop()`, then finish the batch in hand and return."""
        self._subscription = subscription = await self.bus.subscribe(
            self.topics.events, self.settings.group
        )
        self.is_ready.set()
        loop = asyncio.get_running_loop()
        lag_measured = 0.0
        try:
            while not self._is_stopping:
                records = await subscription.fetch(
                    max_records=self.settings.batch_size, timeout=self.settings.fetch_timeout
                )
                if records:
                    events = parse_events(records)
                    applied = await self._apply(events)
                    for follower in self._followers:
                        await self._hand(follower, applied.events)
                    await subscription.commit(records)
                    self.applied += len(events)
                    async with self._progress:
                        self._progress.notify_all()
                if loop.time() - lag_measured >= self.settings.lag_seconds:
                    self.lag = await subscription.lag()
                    lag_measured = loop.time()
        finally:
            await subscription.close()

    async def _apply(self, events: list[EventDocument]) -> Applied:
        delay = 0.05
        while True:
            try:
                applied = await self.store.apply(events)
                self.last_error = None
                return applied
            except TransientError as exc:
                self.last_error = str(exc)
                log.warning("store unavailable (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.max_backoff)

    @staticmethod
    async def _hand(follower: Follower, events: Sequence[EventDocument]) -> None:
        try:
            await follower(events)
        except Exception:  # a follower's bug must not stop the projection
            log.exception("%r failed on a batch of %d events", follower, len(events))

    async def caught_up(self) -> None:
        """Wait until everything published before this call is in the store."""
        await self.is_ready.wait()
        assert self._subscription is not None
        targets = await self.bus.end_offsets(self.topics.events)
        async with self._progress:
            while not self._is_stopping:
                committed = await self._subscription.committed()
                if all(committed.get(p, 0) >= end for p, end in targets.items()):
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), 0.5)


def parse_events(records: Sequence[Record]) -> list[EventDocument]:
    """What can be applied; an event this version cannot read is logged and skipped (a
    poison record must not stop the projection)."""
    events = []
    for record in records:
        try:
            events.append(EventDocument.parse(record.value))
        except ValueError as exc:
            log.error("skipping an undecodable event at %r: %s", record, exc)
    return events


async def wait_for_projection(
    bus: Bus,
    topics: Topics = Topics(),
    *,
    group: str = ProjectorSettings.group,
    poll_seconds: float = 0.05,
    topic: str | None = None,
) -> None:
    """Wait until a projector (in any process) has stored everything published on the
    events topic (or `topic`) before this call: its group's commits reach the end
    offsets of now."""
    topic = topic or topics.events
    targets = await bus.end_offsets(topic)
    loop = asyncio.get_running_loop()
    started = next_report = loop.time()
    while True:
        done = await bus.group_offsets(topic, group)
        behind = sum(max(0, end - done.get(p, 0)) for p, end in targets.items())
        if not behind:
            return
        if loop.time() >= next_report + 10:
            next_report = loop.time()
            log.warning(
                "waiting %.0fs for the projector (%d events behind); is it running?",
                next_report - started,
                behind,
            )
        await asyncio.sleep(poll_seconds)


async def rebuild(
    bus: Bus,
    store: Store,
    *,
    topics: Topics = Topics(),
    batch_size: int = ProjectorSettings.batch_size,
    allow_partial: bool = False,
) -> int:
    """Empty the projection and apply every retained event again; returns how many.

    Safe beside a running projector: applying is idempotent and sequence-guarded, so
    whichever of the two applies an event first, the rows end the same. (One exception:
    an execution claimed by a new owner while the rebuild runs may lose the old owner's
    last events before the claim, which the live projector's fence already dropped for
    the rebuild; the new owner's events supersede them. Stop the projector to be exact.) Refuses (unless
    `allow_partial`) when the bus no longer holds the oldest events, since the rebuilt
    projection would silently lack what they said."""
    starts = await bus.start_offsets(topics.events)
    trimmed = {p: start for p, start in starts.items() if start > 0}
    if trimmed and not allow_partial:
        raise ConfigError(
            f"the events topic no longer starts at offset 0 (partition: first offset "
            f"{trimmed}); older events were deleted by retention, so a rebuild would lose "
            "what they said. Keep events longer, or rebuild anyway with --partial"
        )
    await store.reset_projection()
    applied = 0
    async for records in bus.read_all(topics.events, batch=batch_size):
        events = parse_events(records)
        await store.apply(events)
        applied += len(events)
    return applied
