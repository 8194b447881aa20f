"""The bus contract: topics of keyed records, consumer groups, commits.

Two implementations pass one contract test suite (tests/engine/test_bus_contract.py):
`MemoryBus` (embedded, optionally journaled to disk) and `KafkaBus` (aiokafka).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Self

__all__ = ["Bus", "PartitionListener", "Record", "Subscription", "Topics"]


@dataclass(slots=True)
class Record:
    """One record as a subscription delivers it. Treat it as read-only; it is not a
    frozen dataclass because one is built per record consumed and a frozen one's
    `__init__` sets each field through `object.__setattr__` (1.1 µs against 0.25)."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes

    def __repr__(self) -> str:
        return f"<Record {self.topic}[{self.partition}]@{self.offset} key={self.key!r}>"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names, prefixed so that several Podium installs can share one cluster."""

    prefix: str = "podium"
    # The names, made from the prefix once: the executor reads `events` for every event.
    requests: str = field(init=False, repr=False, compare=False)
    events: str = field(init=False, repr=False, compare=False)
    # changes of namespace KV entries (engine/kv/__init__.py), keyed by namespace/key
    kv: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("requests", "events", "kv"):
            object.__setattr__(self, name, f"{self.prefix}.{name}")

    def group(self, role: str) -> str:
        """A consumer group's name: `podium-executor`, `podium-projector`, …"""
        return f"{self.prefix}-{role}"


class PartitionListener(Protocol):
    """Told which partitions a subscription owns. `on_revoked` runs before the group
    rebalances: the last moment to finish or drop work and commit. Both run inside the
    consumer's rebalance (keep them short); aiokafka logs what they raise and goes on."""

    async def on_assigned(self, partitions: list[int]) -> None: ...
    async def on_revoked(self, partitions: list[int]) -> None: ...


class Subscription(Protocol):
    """One consumer in a group. Records of one key arrive in the order they were published."""

    async def fetch(self, *, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """The next records (possibly none after `timeout` seconds)."""

    async def commit(self, records: Sequence[Record]) -> None:
        """Mark these records, and everything before them in their partitions, as done.
        Records that share one stored record (a Kafka bundle: they have its offset) are
        done once its last one is committed; committing another marks what came before."""

    def pause(self) -> None:
        """Stop delivering records (fetch returns none) while staying in the group:
        backpressure that reaches the source without a rebalance."""

    def resume(self) -> None: ...

    def wake(self) -> None:
        """Make a fetch that waits now return at once, for a consumer told to stop (so a
        process stops without waiting out its poll timeouts); where the client cannot
        be interrupted (Kafka), the fetch returns at its timeout."""

    def rejoin(self) -> None:
        """Ask the group to assign partitions again (every member is told what it loses
        and gets): for a consumer that cannot tell whether it is still a member."""

    async def committed(self) -> dict[int, int]:
        """The next offset this group will read, by partition."""

    async def lag(self) -> int:
        """Records published but not yet committed by this group (stored records: a
        Kafka bundle counts once)."""

    async def close(self) -> None: ...


class Bus(Protocol):
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        """Returns once the record is accepted durably (as durable as this bus is)."""

    async def publish_many(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None: ...

    async def send(self, topic: str, key: str, value: bytes) -> None:
        """Queue a record without waiting for it to be durable: it keeps its place in
        the order of everything sent or published, and is durable once `flush()`
        returned. A record that could not be written makes the next `send` or `flush`
        raise TransientError. The executor's events go this way, so one walk's events
        travel in batches instead of one broker round trip each. A bus may store
        consecutive sends of one key as one record (Kafka's bundles): they are delivered
        one by one, in order, and share its offset."""

    async def flush(self) -> None:
        """Wait until every record sent so far is durable (raises what failed)."""

    @property
    def session_timeout(self) -> float | None:
        """Seconds a consumer may stay silent before its group gives its partitions to
        the others; None where partitions never move (one process)."""

    def discard_failed(self) -> None:
        """Forget a failed `send` (EventsLost) and drop what is still queued, for a caller
        that re-reads what is durable instead of going on from memory."""

    async def subscribe(
        self,
        topic: str,
        group: str,
        *,
        is_transient: bool = False,
        listener: PartitionListener | None = None,
    ) -> Subscription:
        """Join `group` on `topic`. A transient subscription (a live view) starts at the
        end of the topic and keeps no offsets. `listener` hears which partitions this
        consumer is given and loses."""

    async def end_offsets(self, topic: str) -> dict[int, int]: ...

    async def start_offsets(self, topic: str) -> dict[int, int]:
        """The oldest offset still retained, by partition (older records were deleted)."""

    async def group_offsets(self, topic: str, group: str) -> dict[int, int]:
        """The next offset `group` will read, by partition, whoever its members are: how
        one role waits for another (the executor for the projector)."""

    async def partition_of(self, topic: str, key: str) -> int:
        """The partition a record with `key` lands in."""

    def read_all(self, topic: str, *, batch: int = 2_000) -> AsyncIterator[list[Record]]:
        """Every retained record, from the start to the end as of the call, in batches;
        no group, no commits (a projection rebuild, an audit)."""
