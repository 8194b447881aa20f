"""The event bus: `MemoryBus` (embedded, journaled) behind the `Bus` protocol."""

from __future__ import annotations

from pathlib import Path

from engine.bus.base import Bus, Record, Subscription, Topics
from engine.bus.memory import MemoryBus
from engine.errors import ConfigError

__all__ = ["Bus", "MemoryBus", "Record", "Subscription", "Topics", "open_bus"]


def open_bus(
    url: str, *, journal: Path | None = None, fsync: bool = False, segment_bytes: int = 64 << 20
) -> Bus:
    """A bus for a URL: `memory://` (journaled under `journal` when given)."""
    if url.startswith("memory://"):
        return MemoryBus(journal, fsync=fsync, segment_bytes=segment_bytes)
    if url.startswith("kafka://"):
        raise ConfigError("the kafka:// bus is not available in this build yet; use memory://")
    raise ConfigError(f"unknown bus URL {url!r}: expected memory:// or kafka://host:port")
