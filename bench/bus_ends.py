"""The Kafka bus's own code at both ends of the wire, without a broker: what sending and
consuming an event cost in Podium's process, steady enough to count instructions.

    python bench/bus_ends.py [--rounds 5]
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python bench/bus_ends.py --rounds 2          # and --rounds 0: the difference / events

The events are bench/production_floor.py's (1,000 executions of the 5-task flow, 14,000
events of one flow). Each round:

1. send     `KafkaBus.send` of every event, then `flush`, into aiokafka's own batch
            builder (a stand-in producer builds each batch's bytes instead of sending it)
2. consume  those bytes through aiokafka's fetcher (`PartitionRecords`, a ConsumerRecord
            per Kafka record), then into the bus's `Record`s as `fetch` makes them

Left out: the network, the broker, fetch and produce requests, commits (all per request,
not per record: bench/production_floor.py measures them with a broker).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiokafka.consumer.fetcher import PartitionRecords  # noqa: E402
from aiokafka.producer.message_accumulator import BatchBuilder  # noqa: E402
from aiokafka.record.memory_records import MemoryRecords  # noqa: E402
from aiokafka.structs import TopicPartition  # noqa: E402

import engine.bus.kafka as kafka  # noqa: E402
from bench.production_floor import execution_events  # noqa: E402
from engine.bus.base import Record  # noqa: E402
from engine.cli import tune_gc  # noqa: E402

TOPIC = "events"


class BuildingProducer:
    """aiokafka's batch API, keeping each batch's bytes; every batch is acknowledged."""

    def __init__(self, max_batch_size: int) -> None:
        self.max_batch_size = max_batch_size
        self.built: list[tuple[int, bytes]] = []

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.max_batch_size, 0)  # no compression, as the bus runs

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        self.built.append((partition, bytes(batch._build())))
        acknowledged = asyncio.get_running_loop().create_future()
        acknowledged.set_result(SimpleNamespace(partition=partition, offset=0))
        return acknowledged


def records_of(tp: TopicPartition, messages: list[Any]) -> list[Record]:
    unpack = getattr(kafka, "_unpack", None)
    if unpack is not None:
        return unpack(tp.topic, tp.partition, messages, None)
    # a tree from before bundles (to run this file against it): what its `fetch` did
    return [
        Record(tp.topic, tp.partition, m.offset, (m.key or b"").decode(), m.value or b"")
        for m in messages
    ]


async def one_round(items: list[tuple[str, bytes]]) -> tuple[float, float, int]:
    bus = kafka.KafkaBus.from_url("kafka://127.0.0.1:9", enable_idempotence=False)
    bus._state = "open"  # no broker: nothing but the producer is used
    bus._producer = producer = BuildingProducer(bus.settings.max_batch_size)
    bus._partitions[TOPIC] = 3
    started = time.process_time()
    for key, value in items:
        await bus.send(TOPIC, key, value)
    await bus.flush()
    send = time.process_time() - started

    started = time.process_time()
    received: list[Record] = []
    for partition, data in producer.built:
        tp = TopicPartition(TOPIC, partition)
        fetched = PartitionRecords(tp, MemoryRecords(data), [], 0, None, None, False, 0)
        received += records_of(tp, list(fetched))
    consume = time.process_time() - started
    assert [r.value for r in received] == [value for _, value in items]
    return send, consume, len(producer.built)


async def run(rounds: int) -> None:
    items = [item for number in range(1000) for item in execution_events(number)]
    sends, consumes = [], []
    for _ in range(rounds):
        send, consume, batches = await one_round(items)
        sends.append(send)
        consumes.append(consume)
    if rounds:
        per_event = 1e6 / len(items)
        print(
            f"{len(items)} events, {batches} batches: CPU µs per event, best of {rounds}: "
            f"send {min(sends) * per_event:.2f}, consume {min(consumes) * per_event:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tune_gc()  # as `podium server` runs
    asyncio.run(run(args.rounds))


if __name__ == "__main__":
    main()
