"""The event bus behind the `Bus` protocol: `MemoryBus` (embedded, journaled) and
`KafkaBus` (aiokafka), chosen by URL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from engine.bus.base import Bus, PartitionListener, Record, Subscription, Topics
from engine.bus.memory import MemoryBus
from engine.errors import ConfigError

__all__ = ["Bus", "MemoryBus", "PartitionListener", "Record", "Subscription", "Topics", "open_bus"]


def open_bus(
    url: str,
    *,
    journal: Path | None = None,
    fsync: bool = False,
    segment_bytes: int = 64 << 20,
    topics: Sequence[str] = (),
    topic_retention: Mapping[str, timedelta] | None = None,
) -> Bus:
    """A bus for a URL: `memory://` (journaled under `journal` when given) or
    `kafka://host:port[,host:port][?option=value…]` (topics created on start, with
    `topic_retention`'s periods as their `retention.ms`; the memory bus trims what every
    group has read instead)."""
    if url.startswith("memory://"):
        return MemoryBus(journal, fsync=fsync, segment_bytes=segment_bytes)
    if url.startswith("kafka://"):
        from engine.bus.kafka import KafkaBus  # lazy: aiokafka takes a while to import

        return KafkaBus.from_url(url, topics=topics, topic_retention=topic_retention)
    raise ConfigError(f"unknown bus URL {url!r}: expected memory:// or kafka://host:port")
