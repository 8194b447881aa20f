"""CopyIn benchmark: Podium's postgresql.CopyIn task against a raw asyncpg COPY.

    python bench/copyin.py [--rows 1000000] [--repeat 3] [--dsn-host 127.0.0.1]

Generates a CSV of NY-taxi-like rows in the yellow schema of flow 04, then loads the same
file into two identical tables of a scratch database, alternately:
  raw     asyncpg.connect + copy_to_table(source=<file>) + close, timed in this process;
  podium  a flow with one io.kestra.plugin.jdbc.postgresql.CopyIn task on the embedded
          runtime (journaled bus + SQLite store); timed both as the task run's own
          duration (started → ended, as the engine recorded it) and end to end (request
          published → execution SUCCESS in the store).
Each is run `--repeat` times (tables truncated in between); the medians are compared.
Target (issue 5): the task loads at ≥ 80% of the raw rows/s.

The local PostgreSQL (trust auth) is started if it is not running; the scratch database
`podium_bench_<random>` is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.server import Podium  # noqa: E402
from engine.settings import Settings  # noqa: E402
from engine.states import State  # noqa: E402
from tests.support.taxi import YELLOW  # noqa: E402

COLUMNS = YELLOW  # the course's yellow schema (04_postgres_taxi)
TABLE_SQL = """CREATE TABLE {name} (
    unique_row_id text, filename text, VendorID text,
    tpep_pickup_datetime timestamp, tpep_dropoff_datetime timestamp,
    passenger_count integer, trip_distance double precision, RatecodeID text,
    store_and_fwd_flag text, PULocationID text, DOLocationID text, payment_type integer,
    fare_amount double precision, extra double precision, mta_tax double precision,
    tip_amount double precision, tolls_amount double precision,
    improvement_surcharge double precision, total_amount double precision,
    congestion_surcharge double precision)"""


def generate(path: Path, rows: int) -> int:
    """Write `rows` trips like yellow_tripdata_2019-01.csv; returns the file size. Values
    vary by cheap arithmetic on the row number (a random draw per field is what made the
    first version slow), with NULLs where the real files have them."""
    stamps = [
        f"2019-01-{d + 1:02d} {h:02d}:{m:02d}:{s:02d}"
        for d in range(31)
        for h in range(24)
        for m in range(0, 60, 7)
        for s in (0, 29)
    ]
    with path.open("w") as handle:
        handle.write(",".join(COLUMNS) + "\n")
        lines = []
        for i in range(rows):
            fare = 250 + i * 7919 % 5750
            tip = i * 104729 % 900
            lines.append(
                f"{1 + i % 2},{stamps[i % len(stamps)]},{stamps[(i + 1) % len(stamps)]},"
                f"{'' if i % 50 == 0 else 1 + i % 5},{(10 + i * 31 % 2490) / 100},1,N,"
                f"{1 + i * 13 % 265},{1 + i * 17 % 265},{1 + i % 4},{fare / 100},0.5,0.5,"
                f"{tip / 100},0,0.3,{(fare + tip + 130) / 100},{'' if i % 9 == 0 else 2.5}\n"
            )
            if len(lines) == 50_000:
                handle.write("".join(lines))
                lines.clear()
        handle.write("".join(lines))
    return path.stat().st_size


async def admin(host: str, sql: str, database: str = "postgres") -> None:
    connection = await asyncpg.connect(
        host=host, user="postgres", password="", database=database, timeout=10
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close(timeout=10)


async def ensure_postgres(host: str) -> None:
    try:
        await admin(host, "SELECT 1")
        return
    except (OSError, asyncpg.PostgresError, TimeoutError):
        pass
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    await asyncio.to_thread(
        subprocess.run,
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
        check=True,
        timeout=120,
    )
    for _ in range(120):
        try:
            await admin(host, "SELECT 1")
            return
        except (OSError, asyncpg.PostgresError, TimeoutError):
            await asyncio.sleep(0.5)
    raise RuntimeError("PostgreSQL did not start")


async def raw_copy(host: str, database: str, table: str, path: Path) -> float:
    started = time.perf_counter()
    connection = await asyncpg.connect(
        host=host, user="postgres", password="", database=database, timeout=10
    )
    try:
        status = await connection.copy_to_table(
            table,
            schema_name="public",
            source=path,
            columns=[c.lower() for c in COLUMNS],
            format="csv",
            header=True,
        )
    finally:
        await connection.close(timeout=10)
    elapsed = time.perf_counter() - started
    assert status.startswith("COPY "), status
    return elapsed


def flow(host: str, database: str, table: str, uri: str) -> str:
    return f"""id: copyin
namespace: bench
tasks:
  - id: load
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    url: jdbc:postgresql://{host}:5432/{database}
    username: postgres
    format: CSV
    header: true
    from: "{uri}"
    table: public.{table}
    columns: [{", ".join(COLUMNS)}]
"""


async def podium_copy(podium: Podium) -> tuple[float, float, int]:
    """(task seconds, end-to-end seconds, rows) of one execution of the bench flow."""
    started = time.perf_counter()
    request = await podium.intake.execute("bench", "copyin")
    while True:
        await podium.projector.caught_up()
        execution = await podium.store.get_execution(request.execution_id)
        if execution is not None and execution.state.is_terminal:
            break
        await asyncio.sleep(0.002)
    end_to_end = time.perf_counter() - started
    [run] = await podium.store.task_runs(request.execution_id)
    assert execution.state is State.SUCCESS, run.error
    assert run.started_at is not None and run.ended_at is not None
    task = (run.ended_at - run.started_at).total_seconds()
    return task, end_to_end, int(run.outputs["rowCount"])


async def bench(args: argparse.Namespace) -> dict[str, object]:
    host = args.dsn_host
    await ensure_postgres(host)
    database = f"podium_bench_{secrets.token_hex(4)}"
    await admin(host, f'CREATE DATABASE "{database}"')
    try:
        with tempfile.TemporaryDirectory(prefix="podium-bench-copyin-") as scratch:
            csv_path = Path(scratch) / "yellow_tripdata_2019-01.csv"
            started = time.perf_counter()
            size = generate(csv_path, args.rows)
            print(
                f"generated {args.rows:,} rows ({size / 1e6:.1f} MB) "
                f"in {time.perf_counter() - started:.1f}s"
            )
            for name in ("raw_target", "podium_target"):
                await admin(host, TABLE_SQL.format(name=name), database)
            settings = Settings(data=Path(scratch) / "data")
            async with Podium(settings, environ={}, serve_http=False) as podium:
                uri = podium.storage.copy_in("bench/yellow_tripdata_2019-01.csv", csv_path)
                source = podium.storage.path_of(uri)
                ready = asyncio.Event()
                async with asyncio.TaskGroup() as group:
                    group.create_task(podium.run(ready=ready))
                    await ready.wait()
                    await podium.flows.save(flow(host, database, "podium_target", uri))
                    raw, task, end_to_end = [], [], []
                    for attempt in range(args.repeat):
                        for table in ("raw_target", "podium_target"):
                            await admin(host, f"TRUNCATE {table}", database)
                        # Alternate who goes first so neither always gets a warmer cache.
                        order = ("raw", "podium") if attempt % 2 == 0 else ("podium", "raw")
                        for who in order:
                            if who == "raw":
                                raw.append(await raw_copy(host, database, "raw_target", source))
                            else:
                                seconds, total, rows = await podium_copy(podium)
                                assert rows == args.rows, rows
                                task.append(seconds)
                                end_to_end.append(total)
                        print(
                            f"  run {attempt + 1}: raw {raw[-1]:.3f}s, "
                            f"podium task {task[-1]:.3f}s, end to end {end_to_end[-1]:.3f}s"
                        )
                    podium.stop()
    finally:
        await admin(host, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def rate(samples: list[float]) -> float:
        return args.rows / statistics.median(samples)

    return {
        "rows": args.rows,
        "repeat": args.repeat,
        "raw_rows_per_second": round(rate(raw)),
        "podium_task_rows_per_second": round(rate(task)),
        "podium_end_to_end_rows_per_second": round(rate(end_to_end)),
        "task_vs_raw": round(rate(task) / rate(raw), 3),
        "end_to_end_vs_raw": round(rate(end_to_end) / rate(raw), 3),
        "target": 0.8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dsn-host", default="127.0.0.1")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    results = asyncio.run(bench(args))
    print(
        f"raw asyncpg copy_to_table: {results['raw_rows_per_second']:>12,} rows/s\n"
        f"podium CopyIn (task run):  {results['podium_task_rows_per_second']:>12,} rows/s"
        f"  = {results['task_vs_raw']:.0%} of raw\n"
        f"podium CopyIn (end to end):{results['podium_end_to_end_rows_per_second']:>12,} rows/s"
        f"  = {results['end_to_end_vs_raw']:.0%} of raw  (target >= 80%)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
