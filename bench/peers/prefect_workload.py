"""Prefect 3 on its local server (SQLite), run inside the Prefect venv by bench/peers.py.

The workload starts `prefect server start` on a loopback port with its own PREFECT_HOME
and SQLite file, then runs flows in this process against it (Prefect's default way to run
a flow: call it). Steps are `@task`s called one after another inside one `@flow`; times
are the flow run's created -> end_time as the server recorded them. The burst runs the
3-task flow as async flows, up to 5 at once in this process (the server on SQLite answers
503 Service Unavailable to flow run creation under concurrent load: always with 100 in
flight, now and then with 10; such calls are made again and counted; Prefect has no
intake to hand 1,000 runs to without a worker, which starts a process per run), from the call to the server's
end_time (the run record is created only once the call gets going).

Prefect 3.8's sync flow call joins its heartbeat thread on exit, which sleeps in 1 s
steps: each call's wall time carries up to ~1 s more than the server's record shows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import burst_summary, emit, fibo, free_port, log, parse_args, series, wait_http

args = parse_args(__doc__ or "")
work = Path(args.workdir)
port = free_port()
os.environ.update(
    {
        "PREFECT_HOME": str(work / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{work / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
    }
)

import prefect  # noqa: E402
from prefect import flow, get_client, task  # noqa: E402
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId  # noqa: E402
from prefect.client.schemas.sorting import FlowRunSort  # noqa: E402
from prefect.exceptions import PrefectHTTPStatusError  # noqa: E402


@task
def step(i: int) -> int:
    return i


@task
def fibo_step(i: int) -> int:
    return fibo(10)


@flow
def sequential(n: int) -> None:
    for i in range(n):
        step(i)


@flow
def fibonacci(n: int) -> None:
    for i in range(n):
        fibo_step(i)


@task
async def astep(i: int) -> int:
    return i


@flow
async def three() -> None:
    for i in range(3):
        await astep(i)


def timed(flow_fn, n: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    wall = time.perf_counter()
    state = flow_fn(n, return_state=True)
    wall = time.perf_counter() - wall
    assert state.is_completed(), state
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    return {
        "engine_ms": (run.end_time - run.created).total_seconds() * 1000,
        "wall_ms": wall * 1000,
    }


async def burst(count: int, concurrency: int = 5) -> dict:
    # The server (on SQLite) answers 503 to flow run creation under concurrent load (with
    # 100 in flight at once; with 10, now and then): such a call is made again, counted.
    await three()  # warm-up
    gate = asyncio.Semaphore(concurrency)
    retried = 0
    submitted: dict[str, float] = {}

    async def one() -> str:
        nonlocal retried
        at = time.time()
        async with gate:
            for attempt in range(20):
                try:
                    state = await three(return_state=True)
                    break
                except PrefectHTTPStatusError as exc:
                    if exc.response.status_code != 503 or attempt == 19:
                        raise
                    retried += 1
                    await asyncio.sleep(0.5)
        assert state.is_completed(), state
        submitted[str(state.state_details.flow_run_id)] = at
        return str(state.state_details.flow_run_id)

    started = time.perf_counter()
    ids = await asyncio.gather(*(one() for _ in range(count)))
    wall = time.perf_counter() - started
    spans = []
    async with get_client() as client:
        for i in range(0, len(ids), 200):
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids[i : i + 200])),
                sort=FlowRunSort.ID_DESC,
                limit=200,
            )
            # The run is created only when the call gets going: count from the call.
            spans += [(submitted[str(r.id)], r.end_time.timestamp()) for r in runs]
    assert len(spans) == count, len(spans)
    return burst_summary(
        spans, in_flight=concurrency, calls_retried_after_503=retried, wall_seconds=round(wall, 3)
    )


def main() -> None:
    with open(work / "prefect-server.log", "wb") as out:  # the child keeps its own descriptor
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "prefect"), "server", "start",
             "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/api/health", 120, alive=lambda: server.poll() is None)
        log("prefect server up on", port)
        result = {
            "engine": "prefect",
            "version": prefect.__version__,
            "settings": {
                "server": "prefect server start (SQLite, aiosqlite), loopback, --no-ui",
                "steps": "@task called in a @flow, in-process",
                "burst": "async flows, 5 in flight in one process; calls answered 503 made again",
            },
            "timing": "server records: flow run created -> end_time (burst: the call -> end_time)",
            "sequential": series(
                "sequential", lambda n: timed(sequential, n), args.steps, args.repeats
            ),
            "fibo": series("fibo", lambda n: timed(fibonacci, n), args.steps, args.repeats),
            "burst": asyncio.run(burst(args.burst)),
        }
        emit(result)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
