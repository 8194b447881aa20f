"""One contract for every bus: `MemoryBus` (no journal) and `KafkaBus` (a Tansu broker).

Tests see records as a set per key and partition, never as one global order: Kafka
orders records only within a partition. The Kafka broker is shared by the session, so
every test names its topics and groups with a fresh prefix (`case.name`).

Below the contract, Kafka-only tests: a group split over two consumers, pausing past the
session timeout, bundles (consecutive sends of one key in one record) beside plain
records, and errors when the broker is gone.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.bus.base import Bus, Record, Subscription
from engine.bus.kafka import KafkaBus, KafkaSettings, KafkaSubscription
from engine.bus.memory import MemoryBus
from engine.errors import ConfigError, TransientError
from tests.support.kafka import TansuBroker, kafka_url, make_bus  # noqa: F401 - a fixture

DRAIN_SECONDS = 15.0


@dataclass
class Case:
    bus: Bus
    make: Callable[[], Bus]  # another, unopened bus of the same kind and place
    prefix: str

    def name(self, what: str) -> str:
        return f"{self.prefix}.{what}"


@pytest.fixture(params=["memory", "kafka"])
async def case(request: pytest.FixtureRequest) -> AsyncIterator[Case]:
    prefix = f"c{secrets.token_hex(4)}"
    if request.param == "memory":
        make: Callable[[], Bus] = MemoryBus
    else:
        url = request.getfixturevalue("kafka_url")

        def make() -> KafkaBus:
            return make_bus(url)

    async with make() as bus:
        yield Case(bus, make, prefix)


async def drain(sub: Subscription, count: int, *, quiet: float = 0.3) -> list[Record]:
    """Exactly `count` records: fetch until there are that many, then make sure no more
    arrive within `quiet` seconds."""
    records: list[Record] = []
    async with asyncio.timeout(DRAIN_SECONDS):
        while len(records) < count:
            records += await sub.fetch(timeout=0.2)
    records += await sub.fetch(timeout=quiet)
    assert len(records) == count, f"{len(records)} records, expected {count}"
    return records


def by_key(records: list[Record]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for record in records:
        out.setdefault(record.key, []).append(record.value)
    return out


def values(records: list[Record]) -> set[bytes]:
    return {r.value for r in records}


# -- the contract -------------------------------------------------------------------------


async def test_records_of_one_key_arrive_in_publish_order(case: Case) -> None:
    topic = case.name("t")
    sub = await case.bus.subscribe(topic, case.name("g"))
    items = [(f"flow-{i % 7}", f"{i}".encode()) for i in range(200)]
    await case.bus.publish_many(topic, items[:150])
    for key, value in items[150:]:
        await case.bus.publish(topic, key, value)
    records = await drain(sub, len(items))
    assert by_key(records) == by_key(
        [Record(topic, 0, i, key, value) for i, (key, value) in enumerate(items)]
    )
    for partition in {r.partition for r in records}:
        offsets = [r.offset for r in records if r.partition == partition]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    keys_by_partition: dict[str, set[int]] = {}
    for record in records:
        keys_by_partition.setdefault(record.key, set()).add(record.partition)
    assert all(len(partitions) == 1 for partitions in keys_by_partition.values())
    await sub.close()


async def test_groups_are_independent(case: Case) -> None:
    topic = case.name("t")
    a, b = await asyncio.gather(
        case.bus.subscribe(topic, case.name("a")), case.bus.subscribe(topic, case.name("b"))
    )
    await case.bus.publish_many(topic, [("k", b"1"), ("k", b"2"), ("j", b"3")])
    got_a = await drain(a, 3)
    await a.commit(got_a)
    assert await a.lag() == 0
    assert await b.lag() == 3  # a's commit is not b's
    assert values(await drain(b, 3)) == {b"1", b"2", b"3"}
    await asyncio.gather(a.close(), b.close())


async def test_a_new_consumer_of_a_group_resumes_after_its_commit(case: Case) -> None:
    topic, group = case.name("t"), case.name("g")
    sub = await case.bus.subscribe(topic, group)
    await case.bus.publish_many(topic, [(f"k{i % 3}", f"{i}".encode()) for i in range(12)])
    first: list[Record] = []
    async with asyncio.timeout(DRAIN_SECONDS):
        while not first:
            first = await sub.fetch(max_records=4, timeout=0.2)
    await sub.commit(first)
    await sub.close()

    again = await case.bus.subscribe(topic, group)
    rest = await drain(again, 12 - len(first))
    assert values(rest) == {f"{i}".encode() for i in range(12)} - values(first)
    await again.close()


async def test_uncommitted_records_go_to_the_next_consumer_of_the_group(case: Case) -> None:
    topic, group = case.name("t"), case.name("g")
    sub = await case.bus.subscribe(topic, group)
    await case.bus.publish_many(topic, [("k", b"1"), ("j", b"2"), ("k", b"3")])
    await drain(sub, 3)
    await sub.close()  # fetched, never committed: a crash before the work was durable

    again = await case.bus.subscribe(topic, group)
    assert by_key(await drain(again, 3)) == {"k": [b"1", b"3"], "j": [b"2"]}
    await again.close()


async def test_a_transient_subscription_sees_only_new_records_and_holds_nothing(
    case: Case,
) -> None:
    topic, view = case.name("t"), case.name("view")
    await case.bus.publish(topic, "k", b"old")
    live = await case.bus.subscribe(topic, view, is_transient=True)
    await case.bus.publish(topic, "k", b"new")
    seen = await drain(live, 1)
    assert [r.value for r in seen] == [b"new"]
    await live.commit(seen)  # a no-op: a live view keeps no offsets
    await live.close()

    # Nothing was kept under the view's name: as a group it starts from the beginning.
    durable = await case.bus.subscribe(topic, view)
    assert [r.value for r in await drain(durable, 2)] == [b"old", b"new"]
    await durable.close()


async def test_end_offsets_committed_and_lag(case: Case) -> None:
    topic = case.name("t")
    assert sum((await case.bus.end_offsets(topic)).values()) == 0
    sub = await case.bus.subscribe(topic, case.name("g"))
    for i in range(3):
        await case.bus.publish(topic, f"k{i}", b"x")
    ends = await case.bus.end_offsets(topic)
    assert sum(ends.values()) == 3
    assert await sub.lag() == 3

    first: list[Record] = []
    async with asyncio.timeout(DRAIN_SECONDS):
        while not first:
            first = await sub.fetch(max_records=1, timeout=0.2)
    assert len(first) == 1
    assert await sub.lag() == 3  # fetched is not done
    await sub.commit(first)
    assert await sub.lag() == 2
    committed = await sub.committed()
    assert committed[first[0].partition] == first[0].offset + 1
    assert sum(committed.values()) == 1

    rest = await drain(sub, 2)
    await sub.commit(rest)
    assert await sub.lag() == 0
    assert await sub.committed() == {p: end for p, end in ends.items()}
    await sub.close()


async def test_publish_many_delivers_a_large_batch_and_an_empty_one_is_a_no_op(
    case: Case,
) -> None:
    topic = case.name("t")
    sub = await case.bus.subscribe(topic, case.name("g"))
    await case.bus.publish_many(topic, [])
    items = [(f"k{i % 10}", i.to_bytes(4, "big") * 64) for i in range(2_000)]
    await case.bus.publish_many(topic, items)
    assert sum((await case.bus.end_offsets(topic)).values()) == len(items)
    records = await drain(sub, len(items))
    assert by_key(records) == by_key([Record(topic, 0, 0, k, v) for k, v in items])
    await sub.close()


async def test_sent_records_keep_their_order_and_are_durable_after_flush(case: Case) -> None:
    topic = case.name("t")
    sub = await case.bus.subscribe(topic, case.name("g"))
    for i in range(150):
        if i % 50 == 49:
            await case.bus.publish(topic, f"k{i % 3}", f"{i}".encode())
        else:
            await case.bus.send(topic, f"k{i % 3}", f"{i}".encode())
    await case.bus.flush()
    # Offsets count records as the bus stores them: sent records may share one (a Kafka
    # bundle), so the end is at most one per record; the group reaches it once it has
    # committed every record.
    ends = await case.bus.end_offsets(topic)
    assert 0 < sum(ends.values()) <= 150
    assert await sub.lag() == sum(ends.values())
    records = await drain(sub, 150)
    assert by_key(records) == {
        f"k{k}": [f"{i}".encode() for i in range(150) if i % 3 == k] for k in range(3)
    }
    await sub.commit(records)
    assert await sub.lag() == 0
    assert await sub.committed() == ends
    await sub.close()


async def test_partition_of_says_where_a_key_lands(case: Case) -> None:
    topic = case.name("t")
    sub = await case.bus.subscribe(topic, case.name("g"))
    keys = [f"ns.team/flow-{i}" for i in range(40)]
    await case.bus.publish_many(topic, [(k, b"x") for k in keys])
    landed = {r.key: r.partition for r in await drain(sub, len(keys))}
    assert landed == {k: await case.bus.partition_of(topic, k) for k in keys}
    await sub.close()


async def test_group_offsets_are_readable_by_anyone(case: Case) -> None:
    topic, group = case.name("t"), case.name("g")
    sub = await case.bus.subscribe(topic, group)
    await case.bus.publish_many(topic, [(f"k{i}", b"x") for i in range(5)])
    assert sum((await case.bus.group_offsets(topic, group)).values()) == 0
    records = await drain(sub, 5)
    await sub.commit(records)
    assert await case.bus.group_offsets(topic, group) == await case.bus.end_offsets(topic)
    await sub.close()


async def test_read_all_replays_what_is_retained_up_to_the_end_at_the_call(case: Case) -> None:
    topic = case.name("t")
    holder = await case.bus.subscribe(topic, case.name("g"))  # keeps records retained
    items = [(f"k{i % 5}", f"{i}".encode()) for i in range(300)]
    await case.bus.publish_many(topic, items)
    assert set((await case.bus.start_offsets(topic)).values()) == {0}
    seen: list[Record] = []
    async for batch in case.bus.read_all(topic, batch=64):
        assert 0 < len(batch) <= 64
        if not seen:
            await case.bus.publish(topic, "k0", b"later")  # past the end: not read
        seen += batch
    assert by_key(seen) == by_key([Record(topic, 0, 0, k, v) for k, v in items])
    assert sum((await case.bus.group_offsets(topic, case.name("g"))).values()) == 0
    await holder.close()


async def test_closing_twice_is_safe(case: Case) -> None:
    sub = await case.bus.subscribe(case.name("t"), case.name("g"))
    await sub.close()
    await sub.close()
    assert await sub.fetch(timeout=0.01) == []

    other = case.make()
    async with other:
        await other.subscribe(case.name("t"), case.name("g2"))  # left open on purpose
    await other.__aexit__(None, None, None)
    with pytest.raises(RuntimeError):
        await other.publish(case.name("t"), "k", b"late")


# -- Kafka only ---------------------------------------------------------------------------


class Recorder:
    """A PartitionListener that remembers what it was told."""

    def __init__(self, changed: asyncio.Event | None = None) -> None:
        self.owned: set[int] = set()
        self.calls: list[tuple[str, list[int]]] = []
        self.changed = changed or asyncio.Event()

    async def on_assigned(self, partitions: list[int]) -> None:
        self.owned |= set(partitions)
        self.calls.append(("assigned", partitions))
        self.changed.set()

    async def on_revoked(self, partitions: list[int]) -> None:
        self.owned -= set(partitions)
        self.calls.append(("revoked", partitions))
        self.changed.set()


async def eventually(check: Callable[[], bool], changed: asyncio.Event) -> None:
    async with asyncio.timeout(DRAIN_SECONDS):
        while True:
            changed.clear()
            if check():
                return
            await changed.wait()


async def keep_fetching(
    subs: dict[KafkaSubscription, list[Record]], stop: asyncio.Event, changed: asyncio.Event
) -> None:
    """Poll every subscription, as a live consumer does, so the group can rebalance."""
    while not stop.is_set():
        for sub, seen in list(subs.items()):
            if records := await sub.fetch(timeout=0.05):
                seen += records
                changed.set()


@pytest.fixture
async def kafka(kafka_url: str) -> AsyncIterator[KafkaBus]:  # noqa: F811 - the fixture
    async with make_bus(kafka_url) as bus:
        yield bus


def fresh(what: str) -> str:
    return f"k{secrets.token_hex(4)}.{what}"


async def test_two_consumers_of_a_group_split_the_partitions(kafka: KafkaBus) -> None:
    topic, group = fresh("t"), fresh("g")
    changed = asyncio.Event()
    heard_a, heard_b = Recorder(changed), Recorder(changed)
    a = await kafka.subscribe(topic, group, listener=heard_a)
    assert heard_a.owned == {0, 1, 2} == set(a.assigned)

    seen: dict[KafkaSubscription, list[Record]] = {a: []}
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(keep_fetching(seen, stop, changed))
        b = await kafka.subscribe(topic, group, listener=heard_b)
        seen[b] = []
        await eventually(
            lambda: (
                bool(heard_a.owned and heard_b.owned) and heard_a.owned | heard_b.owned == {0, 1, 2}
            ),
            changed,
        )
        assert not heard_a.owned & heard_b.owned
        assert ("revoked", [0, 1, 2]) in heard_a.calls

        keys = {f"flow-{i}" for i in range(60)}
        await kafka.publish_many(topic, [(key, b"x") for key in sorted(keys)])
        await eventually(
            lambda: {r.key for records in seen.values() for r in records} == keys, changed
        )
        stop.set()
    assert seen[a] and seen[b]
    assert {r.partition for r in seen[a]} <= heard_a.owned
    assert {r.partition for r in seen[b]} <= heard_b.owned

    # b leaves: a is given b's partitions (the executor resumes their executions there).
    await b.close()
    async with asyncio.timeout(DRAIN_SECONDS):
        while heard_a.owned != {0, 1, 2}:
            await a.fetch(timeout=0.05)
    await a.close()


async def test_a_paused_consumer_stays_in_its_group_past_the_session_timeout(
    kafka: KafkaBus,
) -> None:
    topic, group = fresh("t"), fresh("g")
    heard = Recorder()
    sub = await kafka.subscribe(topic, group, listener=heard)
    sub.pause()
    await kafka.publish_many(topic, [(f"k{i}", b"x") for i in range(9)])
    s = kafka.settings
    paused_for = max(s.session_timeout_ms, s.max_poll_interval_ms) / 1000 + 1
    loop = asyncio.get_running_loop()
    until = loop.time() + paused_for
    while loop.time() < until:
        assert await sub.fetch(timeout=0.2) == []
    assert heard.calls == [("assigned", [0, 1, 2])]  # never revoked: no rebalance
    sub.resume()
    assert len(await drain(sub, 9)) == 9
    await sub.close()


async def test_a_bundle_is_one_offset_done_once_all_its_records_are_committed(
    kafka: KafkaBus,
) -> None:
    topic, group = fresh("t"), fresh("g")
    sub = await kafka.subscribe(topic, group)
    for i in range(10):
        await kafka.send(topic, "k", f"{i}".encode())
    await kafka.flush()
    partition = await kafka.partition_of(topic, "k")
    assert (await kafka.end_offsets(topic))[partition] == 1  # one Kafka record

    first: list[Record] = []
    async with asyncio.timeout(DRAIN_SECONDS):
        while not first:
            first = await sub.fetch(max_records=4, timeout=0.2)
    assert [r.value for r in first] == [b"0", b"1", b"2", b"3"]
    assert {(r.partition, r.offset) for r in first} == {(partition, 0)}
    await sub.commit(first)  # not all of the bundle: it is not done
    assert await sub.lag() == 1
    assert [r.value for r in await sub.fetch(max_records=4)] == [b"4", b"5", b"6", b"7"]
    sub.pause()  # what is held back waits too
    assert await sub.fetch(max_records=4, timeout=0.01) == []
    sub.resume()
    assert [r.value for r in await sub.fetch(max_records=4)] == [b"8", b"9"]
    await sub.close()  # fetched, never committed: the next consumer has it all again

    again = await kafka.subscribe(topic, group)
    records = await drain(again, 10)
    assert [r.value for r in records] == [f"{i}".encode() for i in range(10)]
    await again.commit(records[-1:])  # the last record of a bundle marks all of it done
    assert await again.lag() == 0
    assert (await kafka.group_offsets(topic, group))[partition] == 1
    await again.close()


async def test_plain_records_of_before_bundles_and_bundles_read_together(
    kafka_url: str,  # noqa: F811 - the fixture
) -> None:
    topic, group = fresh("t"), fresh("g")
    keys = [f"k{i // 3 % 4}" for i in range(60)]  # runs of 3 sends of one key
    # an older writer (or bundles off): a record per send, as every topic holds today
    async with make_bus(kafka_url, bundle_bytes=0) as old:
        for i, key in enumerate(keys[:30]):
            await old.send(topic, key, f"{i}".encode())
        await old.flush()
        plain = sum((await old.end_offsets(topic)).values())
    assert plain == 30
    async with make_bus(kafka_url) as new:
        for i, key in enumerate(keys[30:], 30):
            await new.send(topic, key, f"{i}".encode())
            if i % 5 == 0:
                await asyncio.sleep(0)  # the drainer takes what is queued: bundles of 1–3
        await new.publish(topic, "k0", b"published")
        assert plain < sum((await new.end_offsets(topic)).values()) < 61
        expected = by_key([Record(topic, 0, i, k, f"{i}".encode()) for i, k in enumerate(keys)])
        expected["k0"].append(b"published")

        sub = await new.subscribe(topic, group)
        assert by_key(await drain(sub, 61)) == expected
        seen: list[Record] = []
        async for batch in new.read_all(topic, batch=7):
            assert 0 < len(batch) <= 7
            seen += batch
        assert by_key(seen) == expected
        await sub.close()


async def test_errors_become_transient_when_the_broker_is_gone(tmp_path: Path) -> None:
    topic = fresh("t")
    with TansuBroker(tmp_path) as broker:
        bus = make_bus(broker.url, request_timeout_ms=1_000, call_timeout=3.0)
        await bus.__aenter__()
        await bus.publish(topic, "k", b"x")
    try:
        with pytest.raises(TransientError):
            await bus.publish(topic, "k", b"x")  # the producer
        with pytest.raises(TransientError):
            await bus.end_offsets(topic)  # a consumer's offset look-up
        with pytest.raises(TransientError):
            await bus.subscribe(topic, fresh("g"))  # a new consumer
        with pytest.raises(TransientError):
            await bus.publish(fresh("t"), "k", b"x")  # the admin client
    finally:
        await bus.close()  # does not hang or raise

    with pytest.raises(TransientError):
        async with make_bus(broker.url, request_timeout_ms=1_000, call_timeout=3.0):
            pass


def test_settings_come_from_the_url() -> None:
    s = KafkaSettings.from_url(
        "kafka://bob:s%40cret@a:9092,b:9093?partitions=6&enable_idempotence=false"
        "&security_protocol=SASL_SSL&sasl_mechanism=SCRAM-SHA-512",
        client_id="executor",
    )
    assert s.bootstrap_servers == ("a:9092", "b:9093")
    assert (s.partitions, s.enable_idempotence, s.client_id) == (6, False, "executor")
    assert (s.sasl_plain_username, s.sasl_plain_password) == ("bob", "s@cret")
    assert "s@cret" not in repr(s)
    with pytest.raises(ConfigError):
        KafkaSettings.from_url("kafka://a:1?partitons=3")
    with pytest.raises(ConfigError):
        KafkaSettings.from_url("kafka://a:1?partitions=many")
    with pytest.raises(ConfigError):
        KafkaSettings.from_url("memory://")
