"""Purge benchmark: the PurgeExecutions task against a hand-written DELETE of the same rows.

    python bench/purge.py [--executions 100000] [--store sqlite|postgres|both] [--batch 1000]

For each store, the same history is written twice through the projection path (each
execution: its header, a task run, one event of two log lines, and a metric for one in
ten), once into a running embedded Podium's store and once into a second, identical
store. Then, in the same run:
  purge   a flow with one io.kestra.plugin.core.execution.PurgeExecutions task (every
          ended execution, `batchSize` per deletion event, files included) runs on the
          Podium: rows/s from the task run's own duration, peak RSS growth sampled
          every 20 ms while it runs;
  delete  on the second store, one plain transaction of DELETE statements over the same
          executions and the rows that hang off them (what an operator would write).
Both count every row deleted (executions, task runs, state histories, log lines,
metrics). Beside the rates, the longest transaction each holds: the purge's (one
projector batch, timed around the store's `apply`) against the DELETE's single one,
during which the projector could not write. PostgreSQL databases are fresh and dropped
at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.events import EventDocument  # noqa: E402
from engine.server import Podium  # noqa: E402
from engine.settings import Settings  # noqa: E402
from engine.store import open_store  # noqa: E402
from engine.store.base import TERMINAL_SQL, Store  # noqa: E402
from engine.store.purge import stamp  # noqa: E402
from tests.support.postgres import SERVER, ensure_server  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)
TABLES = ("executions", "task_runs", "state_changes", "logs", "metrics")

PURGE_FLOW = """
id: purge
namespace: system
tasks:
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: bench
    endDate: "{{ now() }}"
    batchSize: %d
"""


def documents(count: int) -> list[EventDocument]:
    """`count` ended executions over the 30 days before now, as projected events."""
    out = []
    step = timedelta(days=30) / count
    for i in range(count):
        execution_id = f"b{i:07d}"
        created = stamp(NOW - timedelta(days=30) + i * step)
        ended = stamp(NOW - timedelta(days=30) + i * step + timedelta(seconds=30))
        common = {"execution_id": execution_id, "namespace": "bench.team", "flow_id": "nightly"}
        docs: list[dict[str, Any]] = [
            {
                **common, "kind": "ExecutionChanged", "event_id": f"{execution_id}-e", "seq": 2,
                "at": ended, "revision": 1, "state": "SUCCESS", "inputs": {}, "labels": {},
                "variables": {}, "outputs": {}, "created_at": created, "started_at": created,
                "ended_at": ended,
            },
            {
                **common, "kind": "TaskRunChanged", "event_id": f"{execution_id}-t", "seq": 1,
                "at": ended, "task_run_id": f"{execution_id}-t", "task_id": "t",
                "state": "SUCCESS", "attempt": 1, "created_at": created, "outputs": {},
            },
            {
                **common, "kind": "LogsEmitted", "event_id": f"{execution_id}-l", "seq": 1,
                "at": created,
                "lines": [
                    {"at": created, "level": "INFO", "message": "x" * 120, "task_id": "t"},
                    {"at": created, "level": "DEBUG", "message": "y" * 120, "task_id": "t"},
                ],
            },
        ]  # fmt: skip
        if i % 10 == 0:
            docs.append(
                {
                    **common, "kind": "MetricEmitted", "event_id": f"{execution_id}-m",
                    "seq": 1, "at": ended, "task_run_id": f"{execution_id}-t", "task_id": "t",
                    "name": "rows", "metric_kind": "counter", "value": 1.0, "tags": {},
                }
            )  # fmt: skip
        out += [EventDocument(d, orjson.dumps(d)) for d in docs]
    return out


async def fill(store: Store, docs: list[EventDocument]) -> None:
    for start in range(0, len(docs), 5_000):
        await store.apply(docs[start : start + 5_000])


async def row_count(store: Store) -> int:
    """Rows of the tables a purge empties, through the store's own connection."""
    total = 0
    if hasattr(store, "db"):  # SQLite

        def count() -> int:
            return sum(
                store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[attr-defined]
                for t in TABLES
            )

        return await store._call(count)  # type: ignore[attr-defined,no-any-return]
    async with store.pool.acquire() as db:  # type: ignore[attr-defined]
        for table in TABLES:
            total += await db.fetchval(f"SELECT count(*) FROM {table}")
    return total


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def sample_peak(stop: asyncio.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_bytes())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.02)


HAND_DELETE = [
    f"DELETE FROM {table} WHERE execution_id IN (SELECT id FROM executions "
    f"WHERE namespace LIKE 'bench.%' AND state IN ({TERMINAL_SQL}) AND ended_at <= {{end}})"
    for table in ("task_runs", "state_changes", "logs", "metrics")
] + [
    f"DELETE FROM executions WHERE namespace LIKE 'bench.%' AND state IN ({TERMINAL_SQL}) "
    "AND ended_at <= {end}"
]


async def hand_delete(store: Store) -> float:
    """One transaction of plain DELETEs; returns its seconds."""
    if hasattr(store, "db"):

        def run() -> float:
            db = store.db  # type: ignore[attr-defined]
            started = time.perf_counter()
            db.execute("BEGIN")
            for sql in HAND_DELETE:
                db.execute(sql.format(end="?"), (stamp(NOW),))
            db.execute("COMMIT")
            return time.perf_counter() - started

        return await store._call(run)  # type: ignore[attr-defined,no-any-return]
    async with store.pool.acquire() as db:  # type: ignore[attr-defined]
        started = time.perf_counter()
        async with db.transaction():
            for sql in HAND_DELETE:
                await db.execute(sql.format(end="$1"), NOW)
        return time.perf_counter() - started


@contextlib.asynccontextmanager
async def database(kind: str, folder: Path, name: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder}/{name}.db"
        return
    db = f"podium_bench_{name}_{secrets.token_hex(3)}"
    connection = await asyncpg.connect(f"{SERVER}/postgres")
    await connection.execute(f'CREATE DATABASE "{db}"')
    try:
        yield f"{SERVER}/{db}"
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await connection.close()


async def bench_store(kind: str, count: int, batch: int) -> dict[str, Any]:
    print(f"[{kind}] writing {count:,} executions twice…", flush=True)
    docs = documents(count)
    with tempfile.TemporaryDirectory(prefix="podium-bench-purge-") as tmp:
        folder = Path(tmp)
        async with (
            database(kind, folder, "podium") as podium_url,
            database(kind, folder, "plain") as plain_url,
            open_store(plain_url) as plain,
        ):
            settings = Settings(data=folder / "data", store=podium_url, port=0)
            async with Podium(settings, serve_http=False) as podium:
                ready = asyncio.Event()
                async with asyncio.TaskGroup() as group:
                    group.create_task(podium.run(ready=ready))
                    await ready.wait()
                    await fill(podium.store, docs)
                    await fill(plain, docs)
                    rows = await row_count(podium.store)
                    assert rows == await row_count(plain)
                    del docs

                    # the longest transaction the projector holds while the purge runs
                    longest = [0.0]
                    apply = podium.store.apply

                    async def timed_apply(events: Any) -> Any:
                        started = time.perf_counter()
                        try:
                            return await apply(events)
                        finally:
                            longest[0] = max(longest[0], time.perf_counter() - started)

                    podium.store.apply = timed_apply  # type: ignore[method-assign]
                    flow = await podium.flows.save(PURGE_FLOW % batch)
                    base = rss_bytes()
                    peak = [base]
                    stop = asyncio.Event()
                    sampler = group.create_task(sample_peak(stop, peak))
                    started = time.perf_counter()
                    request = await podium.intake.execute(flow.namespace, flow.id)
                    ended = await podium.watcher.wait(request.execution_id, 3600)
                    wall = time.perf_counter() - started
                    stop.set()
                    await sampler
                    assert ended is not None and ended.state.value == "SUCCESS", ended
                    (run,) = await podium.store.task_runs(request.execution_id)
                    assert run.started_at and run.ended_at
                    task_seconds = (run.ended_at - run.started_at).total_seconds()
                    purged = run.outputs
                    left = await row_count(podium.store)
                    podium.stop()
            plain_seconds = await hand_delete(plain)
            plain_left = await row_count(plain)
    # the purging flow's own execution stays
    deleted = rows - left + 3  # ...its header, its task run and their histories
    return {
        "store": kind,
        "executions": count,
        "rows": rows,
        "batchSize": batch,
        "purge": {
            "outputs": purged,
            "task_seconds": round(task_seconds, 3),
            "end_to_end_seconds": round(wall, 3),
            "rows_per_s": round(rows / task_seconds),
            "executions_per_s": round(count / task_seconds),
            "peak_rss_growth_mb": round((peak[0] - base) / 2**20, 1),
            "longest_transaction_seconds": round(longest[0], 3),
            "rows_left": left,
        },
        "delete": {
            "seconds": round(plain_seconds, 3),
            "rows_per_s": round(rows / plain_seconds),
            "rows_left": plain_left,
        },
        "_check_deleted": deleted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--batch", type=int, default=1000, help="PurgeExecutions batchSize")
    args = parser.parse_args()
    kinds = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    if "postgres" in kinds:
        ensure_server()
    results = []
    for kind in kinds:
        result = asyncio.run(bench_store(kind, args.executions, args.batch))
        results.append(result)
        purge, delete = result["purge"], result["delete"]
        print(
            f"[{kind}] {result['rows']:,} rows of {result['executions']:,} executions\n"
            f"  PurgeExecutions (batchSize {args.batch}): {purge['task_seconds']:.2f} s, "
            f"{purge['rows_per_s']:,} rows/s ({purge['executions_per_s']:,} executions/s), "
            f"peak RSS +{purge['peak_rss_growth_mb']} MB, longest transaction "
            f"{purge['longest_transaction_seconds']:.3f} s, outputs {purge['outputs']}\n"
            f"  hand-written DELETE:            {delete['seconds']:.2f} s, "
            f"{delete['rows_per_s']:,} rows/s, one transaction of {delete['seconds']:.2f} s\n"
            f"  ratio: {purge['rows_per_s'] / delete['rows_per_s']:.2f} of the plain DELETE's rate",
            flush=True,
        )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"purge-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
