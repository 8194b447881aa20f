"""How `KafkaBus` hands records to its producer: `send` and `publish_many` share one
outbox, drained as whole batches per partition. A stand-in for aiokafka's batch API
(`create_batch`, `send_batch`) shows what reached the producer and makes it fail on
demand; the contract suite (test_bus_contract.py) covers the same calls on a broker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from engine.bus.kafka import KafkaBus
from engine.errors import EventsLost, TransientError


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, ...]] = []

    def append(
        self, *, key: bytes, value: bytes, timestamp: None, headers: list[tuple[str, bytes]]
    ) -> object:
        assert isinstance(headers, list)  # aiokafka's C builder refuses anything else
        self.records.append((key, value, *headers))
        return object()  # aiokafka's metadata; None would mean "full"

    def close(self) -> None:
        pass


class FakeProducer:
    """Acknowledges every batch at once, or refuses those of `failing` topics."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, int, list[tuple[bytes, ...]]]] = []
        self.failing: set[str] = set()
        self._ends: dict[tuple[str, int], int] = {}

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        if topic in self.failing:
            raise KafkaConnectionError("refused by the test")
        self.batches.append((topic, partition, batch.records))
        first = self._ends.get((topic, partition), 0)
        self._ends[(topic, partition)] = first + len(batch.records)
        acknowledged = asyncio.get_running_loop().create_future()
        acknowledged.set_result(SimpleNamespace(partition=partition, offset=first))
        return acknowledged


@pytest.fixture
def bus() -> KafkaBus:
    """An open bus on a stand-in producer (no broker: nothing else is called)."""
    bus = KafkaBus.from_url("kafka://127.0.0.1:9", enable_idempotence=False)
    bus._state = "open"
    bus._producer = FakeProducer()
    for topic in ("requests", "events"):
        bus._partitions[topic] = 3
    return bus


def producer(bus: KafkaBus) -> FakeProducer:
    assert isinstance(bus._producer, FakeProducer)
    return bus._producer


async def test_requests_published_together_travel_in_one_batch_per_partition(
    bus: KafkaBus,
) -> None:
    keys = [f"bench/flow{i % 7}" for i in range(100)]
    await asyncio.gather(
        *(bus.publish("requests", key, f"{i}".encode()) for i, key in enumerate(keys))
    )
    batches = producer(bus).batches
    assert len(batches) == len({await bus.partition_of("requests", k) for k in keys})
    for _, partition, records in batches:
        expected = [
            (k.encode(), f"{i}".encode())
            for i, k in enumerate(keys)
            if await bus.partition_of("requests", k) == partition
        ]
        assert records == expected  # in publish order
    # read-your-writes: what was acknowledged counts in the end offsets
    assert sum(bus._acked.values()) == 100


async def test_published_records_follow_what_was_sent_before(bus: KafkaBus) -> None:
    await bus.send("events", "k", b"sent")
    await bus.publish("events", "k", b"published")
    [(_, _, records)] = producer(bus).batches
    assert records == [(b"k", b"sent"), (b"k", b"published")]


async def test_a_failed_publish_raises_and_leaves_send_alone(bus: KafkaBus) -> None:
    producer(bus).failing.add("requests")
    with pytest.raises(TransientError) as raised:
        await bus.publish("requests", "k", b"x")
    assert not isinstance(raised.value, EventsLost)
    await bus.send("events", "k", b"y")  # not poisoned: no event was lost
    await bus.flush()


async def test_a_failed_round_holding_sent_records_makes_send_raise(bus: KafkaBus) -> None:
    producer(bus).failing.add("requests")
    await bus.send("events", "k", b"sent")
    with pytest.raises(EventsLost):
        await bus.publish_many("requests", [("a", b"1"), ("b", b"2")])
    with pytest.raises(EventsLost):
        await bus.send("events", "k", b"next")
    bus.discard_failed()
    producer(bus).failing.clear()
    await bus.send("events", "k", b"after")
    await bus.flush()


async def test_discarding_the_outbox_releases_a_waiting_publish(bus: KafkaBus) -> None:
    publishing = asyncio.get_running_loop().create_task(bus.publish("requests", "k", b"x"))
    await asyncio.sleep(0)  # queued, waiting for the drainer, which has not run yet
    bus.discard_failed()
    with pytest.raises(TransientError):
        await publishing
    assert producer(bus).batches == []
