"""DBOS Transact on SQLite, run inside the DBOS venv by bench/peers.py.

DBOS is a library: the workflows run in this process and checkpoint every step to the
system database, here a SQLite file. Steps are `@DBOS.step()` functions called one after
another in a `@DBOS.workflow()`. On SQLite DBOS records a workflow's created_at and
completed_at to the second only, so a run's time is the client's (start_workflow ->
result); burst ends are the last step's completed_at_epoch_ms, kept to the millisecond. The burst starts the 3-step workflow M times with
`DBOS.start_workflow` (DBOS runs each on its thread pool) and waits for every result.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import burst_summary, emit, fibo, log, parse_args, series
from dbos import DBOS, DBOSConfig


@DBOS.step()
def step(i: int) -> int:
    return i


@DBOS.step()
def fibo_step(i: int) -> int:
    return fibo(10)


@DBOS.workflow()
def sequential(n: int) -> int:
    for i in range(n):
        step(i)
    return n


@DBOS.workflow()
def fibonacci(n: int) -> int:
    for i in range(n):
        fibo_step(i)
    return n


@DBOS.workflow()
def three() -> int:
    for i in range(3):
        step(i)
    return 3


def timed(workflow, n: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    wall = time.perf_counter()
    DBOS.start_workflow(workflow, n).get_result()
    wall = (time.perf_counter() - wall) * 1000
    # On SQLite, DBOS keeps a workflow's created_at/completed_at to the second
    # (strftime('%s')): too coarse here, so the client's clock it is.
    return {"engine_ms": wall, "wall_ms": wall}


def burst(count: int, database: Path) -> dict:
    DBOS.start_workflow(three).get_result()  # warm-up
    submitted = {}
    started = time.perf_counter()
    handles = []
    for _ in range(count):
        at = time.time()
        handle = DBOS.start_workflow(three)
        submitted[handle.get_workflow_id()] = at
        handles.append(handle)
    accepted = time.perf_counter() - started
    for handle in handles:
        handle.get_result()
    wall = time.perf_counter() - started
    # The end of each run: its last step's completed_at_epoch_ms, which DBOS records to
    # the millisecond (workflow rows only to the second on SQLite).
    with sqlite3.connect(database) as db:
        ends = dict(
            db.execute(
                "SELECT workflow_uuid, MAX(completed_at_epoch_ms) FROM operation_outputs"
                " GROUP BY workflow_uuid"
            ).fetchall()
        )
    spans = [(at, ends[wid] / 1000) for wid, at in submitted.items()]
    return burst_summary(spans, accept_seconds=round(accepted, 3), wall_seconds=round(wall, 3))


def main() -> None:
    args = parse_args(__doc__ or "")
    database = Path(args.workdir) / "dbos.sqlite"
    config: DBOSConfig = {
        "name": "podium-bench",
        "system_database_url": f"sqlite:///{database}",
        "run_admin_server": False,
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        from importlib.metadata import version

        log("dbos launched on", database)
        emit(
            {
                "engine": "dbos",
                "version": version("dbos"),
                "settings": {
                    "system_database": "SQLite file",
                    "steps": "@DBOS.step in a @DBOS.workflow, in-process",
                    "burst": "DBOS.start_workflow x M, then every result",
                    "run_admin_server": False,
                },
                "timing": "client clock (DBOS keeps workflow times to the second on SQLite); burst: start_workflow call -> last step completed_at_epoch_ms",
                "sequential": series(
                    "sequential", lambda n: timed(sequential, n), args.steps, args.repeats
                ),
                "fibo": series("fibo", lambda n: timed(fibonacci, n), args.steps, args.repeats),
                "burst": burst(args.burst, database),
            }
        )
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    main()
