"""The embedded bus: ordering, groups, commits, and the journal across a crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.bus.memory import OFFSETS_FLUSH_SECONDS, MemoryBus


async def test_records_arrive_in_order_and_groups_are_independent() -> None:
    async with MemoryBus() as bus:
        a = await bus.subscribe("t", "a")
        b = await bus.subscribe("t", "b")
        await bus.publish_many("t", [("k", b"1"), ("k", b"2"), ("j", b"3")])
        assert [r.value for r in await a.fetch(timeout=0.1)] == [b"1", b"2", b"3"]
        first = await b.fetch(max_records=1, timeout=0.1)
        assert [r.value for r in first] == [b"1"]
        await b.commit(first)
        assert await b.lag() == 2
        assert await a.lag() == 3  # fetched but not committed


async def test_fetch_waits_for_new_records_and_times_out_empty() -> None:
    async with MemoryBus() as bus:
        sub = await bus.subscribe("t", "g")
        assert await sub.fetch(timeout=0.01) == []
        await bus.publish("t", "k", b"x")
        assert [r.offset for r in await sub.fetch(timeout=0.01)] == [0]


async def test_a_second_consumer_in_one_group_is_refused() -> None:
    async with MemoryBus() as bus:
        await bus.subscribe("t", "g")
        with pytest.raises(RuntimeError, match="already has a consumer"):
            await bus.subscribe("t", "g")


async def test_uncommitted_records_are_delivered_again_after_a_crash(tmp_path: Path) -> None:
    bus = MemoryBus(tmp_path)
    await bus.__aenter__()
    sub = await bus.subscribe("t", "g")
    await bus.publish_many("t", [("k", b"1"), ("k", b"2"), ("k", b"3")])
    records = await sub.fetch(max_records=1, timeout=0.1)
    await sub.commit(records)
    await asyncio.sleep(OFFSETS_FLUSH_SECONDS * 3)  # the commit reaches the disk
    # no close(): the process dies here
    async with MemoryBus(tmp_path) as again:
        sub = await again.subscribe("t", "g")
        assert [r.value for r in await sub.fetch(timeout=0.1)] == [b"2", b"3"]
    await bus.close()  # only to release the file handle the "dead" process held


async def test_a_crash_right_after_a_commit_redelivers_and_loses_nothing(tmp_path: Path) -> None:
    bus = MemoryBus(tmp_path)
    await bus.__aenter__()
    sub = await bus.subscribe("t", "g")
    await bus.publish_many("t", [("k", b"1"), ("k", b"2")])
    await sub.commit(await sub.fetch(max_records=1, timeout=0.1))
    # dies before the throttled offset save: at least once, never lost
    async with MemoryBus(tmp_path) as again:
        sub = await again.subscribe("t", "g")
        assert [r.value for r in await sub.fetch(timeout=0.1)] == [b"1", b"2"]
    await bus.close()


async def test_a_torn_record_at_the_end_of_the_journal_is_cut_off(tmp_path: Path) -> None:
    async with MemoryBus(tmp_path) as bus:
        await bus.subscribe("t", "g")
        await bus.publish("t", "k", b"whole")
    segment = next(tmp_path.glob("t.*.log"))
    with segment.open("ab") as f:
        f.write(b"\x00\x00\x00\x09\x00")  # a header and nothing after it
    async with MemoryBus(tmp_path) as bus:
        sub = await bus.subscribe("t", "g")
        assert [r.value for r in await sub.fetch(timeout=0.1)] == [b"whole"]
        await bus.publish("t", "k", b"next")
        assert [r.value for r in await sub.fetch(timeout=0.1)] == [b"next"]


async def test_consumed_segments_are_deleted_and_memory_trimmed(tmp_path: Path) -> None:
    async with MemoryBus(tmp_path, segment_bytes=1 << 16) as bus:
        sub = await bus.subscribe("t", "g")
        payload = b"x" * 4000
        for _ in range(100):
            await bus.publish("t", "k", payload)
        assert len(list(tmp_path.glob("t.*.log"))) > 3
        while records := await sub.fetch(timeout=0.01):
            await sub.commit(records)
        await asyncio.sleep(OFFSETS_FLUSH_SECONDS * 3)
        assert len(list(tmp_path.glob("t.*.log"))) == 1
        assert await sub.lag() == 0
        assert bus._topics["t"].records == []


async def test_a_transient_subscription_sees_only_new_records_and_holds_nothing(
    tmp_path: Path,
) -> None:
    async with MemoryBus(tmp_path) as bus:
        durable = await bus.subscribe("t", "g")
        await bus.publish("t", "k", b"old")
        live = await bus.subscribe("t", "view", is_transient=True)
        await bus.publish("t", "k", b"new")
        assert [r.value for r in await live.fetch(timeout=0.1)] == [b"new"]
        await live.close()
        records = await durable.fetch(timeout=0.1)
        await durable.commit(records)
        assert bus._topics["t"].records == []


async def test_a_live_view_loses_nothing_when_groups_commit_ahead_of_it() -> None:
    async with MemoryBus() as bus:
        durable = await bus.subscribe("t", "g")
        view = await bus.subscribe("t", "view", is_transient=True)
        await bus.publish_many("t", [("k", b"1"), ("k", b"2")])
        await durable.commit(await durable.fetch(timeout=0.1))  # the group is done with both
        assert [r.value for r in await view.fetch(timeout=0.1)] == [b"1", b"2"]
        await view.close()
        await bus.publish("t", "k", b"3")
        await durable.commit(await durable.fetch(timeout=0.1))
        assert bus._topics["t"].records == []  # a closed view holds nothing back
