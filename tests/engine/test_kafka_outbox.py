"""How `KafkaBus` hands records to its producer: `send` and `publish_many` share one
outbox, drained as whole batches per partition; consecutive sends of one key become one
record (a bundle), which subscriptions unpack. A stand-in for aiokafka's batch API
(`create_batch`, `send_batch`) shows what reached the producer and makes it fail on
demand; the contract suite (test_bus_contract.py) covers the same calls on a broker."""

from __future__ import annotations

import asyncio
from array import array
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from engine.bus.kafka import (
    BUNDLE_HEADER,
    BundledRecord,
    KafkaBus,
    KafkaSubscription,
    _commit_end,
    _lengths,
    _Rebalance,
    _unpack,
)
from engine.errors import EventsLost, TransientError


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []

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
        self.batches: list[tuple[str, int, list[tuple[Any, ...]]]] = []
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


# -- bundles: consecutive sends of one key, one record ----------------------------------


def bundle_of(record: tuple[Any, ...]) -> list[bytes]:
    """The values a record carries (one, unless it is a bundle)."""
    key, value, *headers = record
    if not headers:
        return [value]
    [(name, lengths)] = headers
    assert name == BUNDLE_HEADER
    values, at = [], 0
    for length in array("I", lengths):  # 32-bit lengths, this machine's order
        values.append(value[at : at + length])
        at += length
    assert at == len(value)
    return values


async def test_consecutive_sends_of_one_key_travel_as_one_record(bus: KafkaBus) -> None:
    for i in range(5):
        await bus.send("events", "k", f"{i}".encode())
    await bus.flush()
    [(_, _, records)] = producer(bus).batches
    [record] = records
    assert record[0] == b"k"
    assert bundle_of(record) == [b"0", b"1", b"2", b"3", b"4"]
    assert sum(bus._acked.values()) == 1  # offsets count Kafka records


async def test_a_bundle_holds_one_key_and_what_came_between_breaks_it(bus: KafkaBus) -> None:
    keys = ["a", "a", "b", "a"]  # all in one partition: the order of the outbox is kept
    bus._partition_cache.update({("events", k): 0 for k in "ab"})
    for i, key in enumerate(keys):
        await bus.send("events", key, f"{i}".encode())
    await bus.publish("events", "a", b"published")  # never bundled, and it ends a bundle
    await bus.send("events", "a", b"after")
    await bus.flush()
    records = [r for _, _, batch in producer(bus).batches for r in batch]
    assert [(r[0], bundle_of(r)) for r in records] == [
        (b"a", [b"0", b"1"]),
        (b"b", [b"2"]),
        (b"a", [b"3"]),
        (b"a", [b"published"]),
        (b"a", [b"after"]),
    ]
    assert [len(r) for r in records] == [3, 2, 2, 2, 2]  # a record of one has no header


async def test_a_bundle_stays_within_bundle_bytes(bus: KafkaBus) -> None:
    small = KafkaBus.from_url("kafka://127.0.0.1:9", enable_idempotence=False, bundle_bytes=10)
    small._state, small._producer, small._partitions = "open", FakeProducer(), {"events": 3}
    for value in [b"1234", b"5678", b"90", b"x" * 20, b"ab", b"cd"]:
        await small.send("events", "k", value)
    await small.flush()
    records = [r for _, _, batch in producer(small).batches for r in batch]
    assert [bundle_of(r) for r in records] == [
        [b"1234", b"5678", b"90"],
        [b"x" * 20],  # larger than a bundle: a record of its own
        [b"ab", b"cd"],
    ]


async def test_bundle_bytes_0_sends_a_record_per_send(bus: KafkaBus) -> None:
    plain = KafkaBus.from_url("kafka://127.0.0.1:9", enable_idempotence=False, bundle_bytes=0)
    plain._state, plain._producer, plain._partitions = "open", FakeProducer(), {"events": 3}
    for value in [b"1", b"", b""]:
        await plain.send("events", "k", value)
    await plain.flush()
    [(_, _, records)] = producer(plain).batches
    assert records == [(b"k", b"1"), (b"k", b""), (b"k", b"")]


def consumer_record(offset: int, value: bytes, headers: tuple[Any, ...] = ()) -> Any:
    return SimpleNamespace(offset=offset, key=b"k", value=value, headers=headers)


def test_unpacking_gives_a_bundles_records_in_order_and_plain_ones_as_they_are() -> None:
    messages = [
        consumer_record(7, b"old"),
        consumer_record(8, b"abcdef", ((BUNDLE_HEADER, _lengths([b"a", b"bc", b"", b"def"])),)),
        consumer_record(9, b"plain", (("other", b"header"),)),
        consumer_record(10, b"past the end"),
    ]
    records = _unpack("t", 2, messages, 10)
    assert [(r.offset, r.value) for r in records] == [
        (7, b"old"),
        (8, b"a"),
        (8, b"bc"),
        (8, b""),
        (8, b"def"),
        (9, b"plain"),
    ]
    assert [type(r) is BundledRecord and r.is_last for r in records] == [
        False, False, False, False, True, False,
    ]  # fmt: skip
    # committing a bundle's record moves the group past the bundle only for the last one
    assert [_commit_end(r) for r in records] == [8, 8, 8, 8, 9, 10]


def test_a_bundles_lengths_are_32_bit_little_endian() -> None:
    assert _lengths([b"a", b"x" * 258]) == b"\x01\x00\x00\x00\x02\x01\x00\x00"
    assert array("I").itemsize == 4


class FakeConsumer:
    """Hands out `waiting` (TopicPartition → consumer records) at the first `getmany`."""

    def __init__(self, waiting: dict[TopicPartition, list[Any]]) -> None:
        self.waiting = waiting
        self.polls = 0

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        self.polls += 1
        waiting, self.waiting = self.waiting, {}
        return waiting

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("events", p) for p in range(3)}

    def pause(self, *partitions: TopicPartition) -> None:
        pass

    resume = pause


def bundle(offset: int, *values: bytes) -> Any:
    return consumer_record(offset, b"".join(values), ((BUNDLE_HEADER, _lengths(list(values))),))


async def test_a_fetch_holds_back_what_passes_max_records_and_polls_while_paused(
    bus: KafkaBus,
) -> None:
    sub = KafkaSubscription(bus, "events", "g", False, None)
    sub._consumer = consumer = FakeConsumer(
        {
            TopicPartition("events", 0): [bundle(0, b"a", b"b", b"c")],
            TopicPartition("events", 1): [bundle(5, b"d", b"e"), consumer_record(6, b"f")],
        }
    )
    assert [r.value for r in await sub.fetch(max_records=2)] == [b"a", b"b"]
    sub.pause()
    assert await sub.fetch(max_records=2) == []  # held back, and the consumer was polled
    assert consumer.polls == 2
    sub.resume()
    assert [r.value for r in await sub.fetch(max_records=2)] == [b"c", b"d"]
    assert consumer.polls == 2  # from what was held
    # partition 1 is given to another member: its records are its next owner's to read
    await _Rebalance(sub).on_partitions_revoked({TopicPartition("events", 1)})
    assert await sub.fetch(max_records=2) == []
    assert consumer.polls == 3
