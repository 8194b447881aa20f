"""The embedded bus: topics in memory, optionally journaled to disk.

With a journal directory every published record is appended (one `write` per publish,
so it survives `kill -9`; `fsync=True` also survives power loss) and each group's
committed offset is saved atomically. On start the journal is read back, so records
accepted before a crash are delivered again to every group that had not committed them.
Segments every group has moved past are deleted; memory holds only uncommitted records.

One partition per topic: one process owns everything in embedded mode, and a single
partition keeps every key's records in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Self

import orjson

from engine.bus.base import PartitionListener, Record

__all__ = ["MemoryBus"]

log = logging.getLogger("podium.bus")

_HEADER = struct.Struct(">IH")  # value length, key length
MAX_VIEW_LAG = 100_000
OFFSETS_FLUSH_SECONDS = 0.05


class _Topic:
    def __init__(self, name: str) -> None:
        self.name = name
        self.base = 0  # offset of records[0]
        self.records: list[tuple[str, bytes]] = []
        self.committed: dict[str, int] = {}  # group -> next offset to deliver
        self.arrived = asyncio.Event()
        self.segment: _Segment | None = None
        self.views: set[_MemorySubscription] = set()  # transient subscriptions

    @property
    def end(self) -> int:
        return self.base + len(self.records)

    def trim(self) -> None:
        """Forget records every group has committed and every live view has read.

        A live (transient) view holds records back too, but never by more than
        MAX_VIEW_LAG: one that falls that far behind skips ahead (and says so)."""
        if not self.committed:
            return
        low = min(self.committed.values())
        for view in self.views:
            if low - view.position > MAX_VIEW_LAG:
                log.warning(
                    "a live view of %s fell %d records behind; it skips ahead",
                    self.name,
                    low - view.position,
                )
                view.position = low
            low = min(low, view.position)
        drop = low - self.base
        if drop > 0:
            del self.records[:drop]
            self.base = low


class _Segment:
    """The journal file a topic appends to; named by the offset of its first record."""

    def __init__(self, directory: Path, topic: str, base: int, *, fsync: bool) -> None:
        self.path = directory / f"{topic}.{base:020d}.log"
        self.base = base
        self.fsync = fsync
        self.file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - owned by the bus
        self.size = self.file.tell()

    def append(self, items: Sequence[tuple[str, bytes]]) -> None:
        chunks = []
        for key, value in items:
            raw_key = key.encode()
            chunks.append(_HEADER.pack(len(value), len(raw_key)) + raw_key + value)
        data = b"".join(chunks)
        self.file.write(data)
        if self.fsync:
            os.fsync(self.file.fileno())
        self.size += len(data)

    def close(self) -> None:
        self.file.close()


def _read_segment(path: Path) -> list[tuple[str, bytes]]:
    """Every whole record in a segment; a torn tail (killed mid-write) is cut off."""
    data = path.read_bytes()
    records: list[tuple[str, bytes]] = []
    pos = 0
    while pos + _HEADER.size <= len(data):
        value_len, key_len = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + key_len + value_len
        if end > len(data):
            break
        key = data[pos + _HEADER.size : pos + _HEADER.size + key_len].decode()
        records.append((key, data[pos + _HEADER.size + key_len : end]))
        pos = end
    if pos < len(data):
        with open(path, "r+b") as f:
            f.truncate(pos)
    return records


class MemoryBus:
    def __init__(
        self, journal: Path | None = None, *, segment_bytes: int = 64 << 20, fsync: bool = False
    ) -> None:
        self.journal = journal
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self._topics: dict[str, _Topic] = {}
        self._is_open = False
        self._subscribed: set[tuple[str, str]] = set()
        self._offsets_flush: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        where = f" journal={self.journal}" if self.journal else ""
        return f"<MemoryBus topics={len(self._topics)}{where}>"

    async def __aenter__(self) -> Self:
        if self.journal is not None:
            self.journal.mkdir(parents=True, exist_ok=True)
            self._load_journal()
        self._is_open = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if not self._is_open:
            return
        if self._offsets_flush is not None:
            self._offsets_flush.cancel()
            self._offsets_flush = None
        if self.journal is not None:
            self._save_offsets()
        self._is_open = False
        for topic in self._topics.values():
            if topic.segment is not None:
                topic.segment.close()
                topic.segment = None
            topic.arrived.set()

    # -- publishing ---------------------------------------------------------

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic(name)
        return topic

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        self._append(topic, ((key, value),))

    async def publish_many(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
        self._append(topic, items)

    def _append(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
        """Publishing, in one synchronous step: nothing here waits (the executor sends
        every event through it, a coroutine less per event)."""
        if not self._is_open:
            raise RuntimeError("the bus is closed")
        if not items:
            return
        t = self._topic(topic)
        if self.journal is not None:
            self._segment_for(t).append(items)
        t.records.extend(items)
        t.arrived.set()

    async def send(self, topic: str, key: str, value: bytes) -> None:
        self._append(topic, ((key, value),))  # written at once: nothing to wait for

    @property
    def session_timeout(self) -> float | None:
        return None  # one process: partitions never move

    def discard_failed(self) -> None:
        """Nothing to forget: `send` writes the journal at once, and raises if it cannot."""

    async def flush(self) -> None:
        return None

    def _segment_for(self, topic: _Topic) -> _Segment:
        assert self.journal is not None
        segment = topic.segment
        if segment is None or segment.size >= self.segment_bytes:
            if segment is not None:
                segment.close()
            segment = topic.segment = _Segment(
                self.journal, topic.name, topic.end, fsync=self.fsync
            )
        return segment

    # -- consuming ------------------------------------------------------------

    async def subscribe(
        self,
        topic: str,
        group: str,
        *,
        is_transient: bool = False,
        listener: PartitionListener | None = None,
    ) -> _MemorySubscription:
        if (topic, group) in self._subscribed:
            raise RuntimeError(f"group {group!r} already has a consumer on {topic!r}")
        t = self._topic(topic)
        if is_transient:
            # A live view: starts at the end, keeps no offsets, holds nothing back.
            t.committed.pop(group, None)
            self._subscribed.add((topic, group))
            view = _MemorySubscription(self, t, group, start=t.end, is_transient=True)
            t.views.add(view)
            return view
        if listener is not None:
            await listener.on_assigned([0])  # the one partition is this consumer's
        if group not in t.committed:
            t.committed[group] = t.base
            self._save_offsets()
        self._subscribed.add((topic, group))
        return _MemorySubscription(self, t, group, start=t.committed[group], listener=listener)

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return {0: self._topic(topic).end}

    async def start_offsets(self, topic: str) -> dict[int, int]:
        return {0: self._topic(topic).base}

    async def group_offsets(self, topic: str, group: str) -> dict[int, int]:
        t = self._topic(topic)
        return {0: t.committed.get(group, t.base)}

    async def partition_of(self, topic: str, key: str) -> int:
        return 0

    async def read_all(self, topic: str, *, batch: int = 2_000) -> AsyncIterator[list[Record]]:
        """Only what the bus still holds: records every group committed are trimmed."""
        t = self._topic(topic)
        position, end = t.base, t.end
        while position < end:
            start = max(position, t.base)  # trimmed meanwhile: those are gone
            stop = min(end, start + batch)
            yield [
                Record(t.name, 0, offset, *t.records[offset - t.base])
                for offset in range(start, stop)
            ]
            position = stop
            await asyncio.sleep(0)

    def _commit(self, topic: _Topic, group: str, offset: int) -> None:
        if offset <= topic.committed.get(group, 0):
            return
        topic.committed[group] = offset
        topic.trim()
        if self.journal is not None and self._offsets_flush is None:
            # Offsets are saved at most every OFFSETS_FLUSH_SECONDS: after a crash a group
            # re-reads at most that much, which every consumer here handles (idempotent).
            loop = asyncio.get_running_loop()
            self._offsets_flush = loop.call_later(OFFSETS_FLUSH_SECONDS, self._flush_offsets)

    def _flush_offsets(self) -> None:
        self._offsets_flush = None
        if not self._is_open:
            return
        self._save_offsets()
        for topic in self._topics.values():
            self._drop_consumed_segments(topic)

    # -- the journal ------------------------------------------------------------

    @property
    def _offsets_path(self) -> Path:
        assert self.journal is not None
        return self.journal / "offsets.json"

    def _save_offsets(self) -> None:
        if self.journal is None:
            return
        state = {name: t.committed for name, t in self._topics.items()}
        tmp = self._offsets_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(state))
        os.replace(tmp, self._offsets_path)

    def _load_journal(self) -> None:
        offsets: dict[str, dict[str, int]] = {}
        if self._offsets_path.exists():
            offsets = orjson.loads(self._offsets_path.read_bytes())
        segments: dict[str, list[Path]] = {}
        for path in sorted(self._journal_files()):
            name, base, _ = path.name.rsplit(".", 2)
            segments.setdefault(name, []).append(path)
        for name in set(segments) | set(offsets):
            topic = self._topic(name)
            paths = segments.get(name, [])
            if paths:
                topic.base = int(paths[0].name.rsplit(".", 2)[1])
            for path in paths:
                topic.records.extend(_read_segment(path))
            # a group is never behind the oldest record the journal still has
            topic.committed = {g: max(o, topic.base) for g, o in offsets.get(name, {}).items()}
            topic.trim()

    def _journal_files(self) -> list[Path]:
        assert self.journal is not None
        return [p for p in self.journal.glob("*.log") if p.name.count(".") >= 2]

    def _drop_consumed_segments(self, topic: _Topic) -> None:
        low = min(topic.committed.values(), default=0)
        paths = sorted(p for p in self._journal_files() if p.name.rsplit(".", 2)[0] == topic.name)
        active = topic.segment.path if topic.segment else None
        for path, following in zip(paths, paths[1:], strict=False):
            next_base = int(following.name.rsplit(".", 2)[1])
            if next_base <= low and path != active:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


class _MemorySubscription:
    def __init__(
        self,
        bus: MemoryBus,
        topic: _Topic,
        group: str,
        *,
        start: int,
        is_transient: bool = False,
        listener: PartitionListener | None = None,
    ) -> None:
        self._listener = listener
        self._is_paused = False
        self._bus = bus
        self._topic = topic
        self._group = group
        self.position = start
        self._is_transient = is_transient
        self._is_closed = False

    def __repr__(self) -> str:
        return f"<MemorySubscription {self._topic.name} group={self._group} at={self.position}>"

    def pause(self) -> None:
        self._is_paused = True

    def resume(self) -> None:
        self._is_paused = False
        self._topic.arrived.set()

    def wake(self) -> None:
        self._topic.arrived.set()  # the other fetches waiting on the topic just look again

    def rejoin(self) -> None:
        """Nothing to do: this process holds every partition for good."""

    async def fetch(self, *, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        topic = self._topic
        if self._is_paused:
            await asyncio.sleep(timeout)
            return []
        if self.position >= topic.end and not self._is_closed:
            topic.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(topic.arrived.wait(), timeout)
        if self._is_closed or not self._bus._is_open:
            return []
        start = max(self.position, topic.base)
        stop = min(topic.end, start + max_records)
        out = [
            Record(topic.name, 0, offset, *topic.records[offset - topic.base])
            for offset in range(start, stop)
        ]
        self.position = stop
        return out

    async def commit(self, records: Sequence[Record]) -> None:
        if records and not self._is_transient:
            self._bus._commit(self._topic, self._group, max(r.offset for r in records) + 1)

    async def committed(self) -> dict[int, int]:
        return {0: self._topic.committed.get(self._group, self.position)}

    async def lag(self) -> int:
        return self._topic.end - self._topic.committed.get(self._group, self.position)

    async def close(self) -> None:
        if self._is_closed:
            return
        self._is_closed = True
        self._bus._subscribed.discard((self._topic.name, self._group))
        self._topic.views.discard(self)
        if self._listener is not None:
            await self._listener.on_revoked([0])
        self._topic.arrived.set()
