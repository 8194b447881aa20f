"""The KV projector: the only writer of namespace KV entries.

It runs in the projector role beside the execution projector, consuming the `kv` topic
(engine/kv/__init__.py's `KvChanged`, keyed by namespace/key, so the changes of one key arrive in
the order they were published) and applying each batch in one store transaction; offsets
are committed after the store committed. A change carries a whole value (or the URI of a
file written completely before the change was published), so a crash anywhere leaves the
old value or the new one, never half of one. Values a change replaced in internal storage
are removed once the transaction committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from engine.bus.base import Bus, Record, Subscription, Topics
from engine.errors import StorageError, TransientError
from engine.kv import KvChanged, KvRows
from engine.storage import LocalStorage

__all__ = ["KvProjector", "KvProjectorSettings"]

log = logging.getLogger("podium.kv")


@dataclass(frozen=True)
class KvProjectorSettings:
    group: str = "podium-kv"
    batch_size: int = 500
    fetch_timeout: float = 0.2
    max_backoff: float = 10.0


class KvProjector:
    def __init__(
        self,
        bus: Bus,
        store: KvRows,
        storage: LocalStorage,
        *,
        topics: Topics = Topics(),
        settings: KvProjectorSettings = KvProjectorSettings(),
    ) -> None:
        self.bus = bus
        self.store = store
        self.storage = storage
        self.topics = topics
        self.settings = settings
        self.applied = 0
        self.last_error: str | None = None
        self.is_ready = asyncio.Event()
        self._is_stopping = False
        self._subscription: Subscription | None = None
        self._progress = asyncio.Condition()

    def __repr__(self) -> str:
        return f"<KvProjector applied={self.applied}>"

    def stop(self) -> None:
        self._is_stopping = True
        if self._subscription is not None:
            self._subscription.wake()

    async def run(self) -> None:
        """Apply changes until `stop()`, then finish the batch in hand and return."""
        self._subscription = subscription = await self.bus.subscribe(
            self.topics.kv, self.settings.group
        )
        self.is_ready.set()
        try:
            while not self._is_stopping:
                records = await subscription.fetch(
                    max_records=self.settings.batch_size, timeout=self.settings.fetch_timeout
                )
                if not records:
                    continue
                replaced = await self._apply(parse_changes(records))
                await subscription.commit(records)
                self.applied += len(records)
                async with self._progress:
                    self._progress.notify_all()
                await asyncio.to_thread(self._remove, replaced)
        finally:
            await subscription.close()

    async def caught_up(self) -> None:
        """Wait until every change published before this call is in the store."""
        await self.is_ready.wait()
        assert self._subscription is not None
        targets = await self.bus.end_offsets(self.topics.kv)
        async with self._progress:
            while not self._is_stopping:
                committed = await self._subscription.committed()
                if all(committed.get(p, 0) >= end for p, end in targets.items()):
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), 0.5)

    async def _apply(self, changes: list[KvChanged]) -> list[str]:
        delay = 0.05
        while True:
            try:
                replaced = await self.store.apply_kv(changes)
                self.last_error = None
                return replaced
            except TransientError as exc:
                self.last_error = str(exc)
                log.warning("store unavailable (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.max_backoff)

    def _remove(self, uris: Sequence[str]) -> None:
        for uri in uris:
            try:
                self.storage.delete(uri)
            except (OSError, StorageError) as exc:  # a leftover file, not a wrong value
                log.warning("cannot remove the replaced KV value %s: %s", uri, exc)


def parse_changes(records: Sequence[Record]) -> list[KvChanged]:
    """The changes of a batch; a record this version cannot read is logged and skipped."""
    changes = []
    for record in records:
        try:
            changes.append(KvChanged.model_validate_json(record.value))
        except ValidationError as exc:
            log.error("skipping an unreadable KV change at offset %s: %s", record.offset, exc)
    return changes
