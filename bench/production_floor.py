"""What Podium's process pays per event on Kafka + PostgreSQL before any walk or task runs:
the parts of bench/production.py's concurrent phase measured one at a time, in this
process's CPU time (the broker's and PostgreSQL's are not counted).

    python bench/production_floor.py [--executions 1000] [--repeat 5] [--url kafka://…]

The events are those of --executions runs of the 5-task flow, written by the same
encoders the walk uses (14 per execution: 3 ExecutionChanged, 10 TaskRunChanged, 1
LogsEmitted). Each repeat, on a fresh topic and a fresh database:

1. send      `KafkaBus.send` of every event, then `flush` (the walk's flushes, batched)
2. consume   a group subscription's `fetch(max_records=2000)` + `commit` until all are read
3. parse     `parse_events` (the projector's orjson parse into EventDocument)
4. apply     `PostgresStore.apply` in the projector's batches (staging rows, binary COPY,
             the statement that moves them; this process's share only)
5. publish   one request per execution, 100 clients at a time (`KafkaBus.publish`),
             counted per event (1 request for 14 events)

Their sum is the floor of the 25 µs target as the pipeline is built today. Medians of
--repeat are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.bus.base import Record  # noqa: E402
from engine.bus.kafka import KafkaBus  # noqa: E402
from engine.cli import tune_gc  # noqa: E402
from engine.events import (  # noqa: E402
    EventDocument,
    ExecutionChanged,
    LogLine,
    LogsEmitted,
    TaskRunChanged,
    encode,
    encode_new,
    new_event_id,
)
from engine.projector import ProjectorSettings, parse_events  # noqa: E402
from engine.states import State  # noqa: E402
from engine.store.postgres import PostgresStore  # noqa: E402
from tests.support.kafka import running_broker  # noqa: E402
from tests.support.postgres import SERVER, fresh_database  # noqa: E402

CLIENTS = 100
BATCH = ProjectorSettings().batch_size


def execution_events(number: int) -> list[tuple[str, bytes]]:
    """The 14 events of one execution of the 5-task flow, as (key, value)."""
    now = datetime.now(UTC)
    execution_id = f"floor{number:010d}{secrets.token_hex(3)}"
    common = {"execution_id": execution_id, "namespace": "bench", "flow_id": "five"}
    seq = iter(range(100))

    def execution(state: State) -> bytes:
        return encode(
            ExecutionChanged(
                **common,
                event_id=new_event_id(),
                seq=next(seq),
                at=now,
                revision=1,
                state=state,
                created_at=now,
                started_at=now,
                ended_at=now if state.is_terminal else None,
            )
        )

    values = [execution(State.CREATED), execution(State.RUNNING)]
    for task in range(5):
        for state in (State.RUNNING, State.SUCCESS):
            values.append(
                encode_new(
                    TaskRunChanged,
                    **common,
                    seq=next(seq),
                    at=now,
                    task_run_id=f"{execution_id}-{task}",
                    task_id=f"t{task}",
                    state=state,
                    created_at=now,
                    started_at=now,
                    ended_at=now if state.is_terminal else None,
                    outputs={"value": f"task {task}"} if state.is_terminal else {},
                ).data
            )
    line = LogLine(at=now, level="INFO", message="hello", task_run_id=None, task_id="t0")
    logs = LogsEmitted(**common, event_id=new_event_id(), seq=next(seq), at=now, lines=[line])
    values.append(encode(logs))
    values.append(execution(State.SUCCESS))
    return [("bench/five", value) for value in values]


async def one_round(url: str, store_url: str, executions: int) -> dict[str, float]:
    items = [item for number in range(executions) for item in execution_events(number)]
    seconds: dict[str, float] = {}
    async with KafkaBus.from_url(url) as bus:
        topic, group = f"floor.{secrets.token_hex(4)}", f"floor.{secrets.token_hex(4)}"
        subscription = await bus.subscribe(topic, group)
        started = time.process_time()
        for key, value in items:
            await bus.send(topic, key, value)
        await bus.flush()
        seconds["send"] = time.process_time() - started

        records: list[Record] = []
        started = time.process_time()
        while len(records) < len(items):
            batch = await subscription.fetch(max_records=BATCH, timeout=1.0)
            await subscription.commit(batch)
            records += batch
        seconds["consume"] = time.process_time() - started
        await subscription.close()

        started = time.process_time()
        events: list[EventDocument] = []
        for start in range(0, len(records), BATCH):
            events += parse_events(records[start : start + BATCH])
        seconds["parse"] = time.process_time() - started

        async with PostgresStore(store_url) as store:
            started = time.process_time()
            for start in range(0, len(events), BATCH):
                await store.apply(events[start : start + BATCH])
            seconds["apply"] = time.process_time() - started

        requests = f"floor.{secrets.token_hex(4)}"
        await bus.publish(requests, "warm", b"{}")  # the topic exists before the clock
        request = items[0][1]
        started = time.process_time()
        for start in range(0, executions, CLIENTS):
            await asyncio.gather(
                *(
                    bus.publish(requests, "bench/five", request)
                    for _ in range(min(CLIENTS, executions - start))
                )
            )
        seconds["publish"] = time.process_time() - started
    return {part: s / len(items) * 1e6 for part, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", help="a kafka:// URL (default: start a Tansu broker)")
    args = parser.parse_args()
    import uvloop

    tune_gc()  # as `podium server` runs
    options = "partitions=3&enable_idempotence=false&exact_end_offsets=true&fetch_max_wait_ms=20"
    sample = execution_events(0)
    size = sum(len(value) for _, value in sample) / len(sample)
    print(f"{len(sample)} events per execution, {size:.0f} bytes on average")
    rounds: list[dict[str, float]] = []
    with running_broker() as broker:
        url = f"{args.url or broker.url}?{options}"
        for number in range(1, args.repeat + 1):
            with (
                fresh_database("podium_floor") as database,
                asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
            ):
                store_url = f"{SERVER}/{database}"
                rounds.append(runner.run(one_round(url, store_url, args.executions)))
            parts = ", ".join(f"{k} {v:.1f}" for k, v in rounds[-1].items())
            print(
                f"run {number}: CPU µs per event in this process: {parts} = {sum(rounds[-1].values()):.1f}"
            )
    medians = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    parts = ", ".join(f"{k} {v:.1f}" for k, v in medians.items())
    print(f"medians of {len(rounds)}: {parts} = {sum(medians.values()):.1f} µs per event")


if __name__ == "__main__":
    main()
