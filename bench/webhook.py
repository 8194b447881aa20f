"""Webhook benchmarks on the embedded runtime, over real HTTP on loopback.

    python bench/webhook.py [--latency-calls 200] [--load-calls 2000] [--concurrency 50]

1. latency: sequential POSTs; from just before the client sends to the first task
   RUNNING as the engine recorded it (p50, p99). Targets: p50 < 10 ms, p99 < 50 ms.
2. sustained rate: a second process POSTs `--load-calls` times, `--concurrency` at a time;
   acknowledged calls per second, and executions finished per second (target ≥ 500/s
   webhook-started executions).
Results also go to bench/results/webhook.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.events import ExecutionChanged, decode_event  # noqa: E402
from engine.server import Podium  # noqa: E402
from engine.settings import Settings  # noqa: E402

FLOW = """
id: hooked
namespace: bench
tasks:
  - {id: first, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.body.n ?? 0 }}"}
  - {id: second, type: io.kestra.plugin.core.log.Log, message: "{{ outputs.first.value }}"}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: bench-key}
"""

CLIENT = """
import asyncio, sys, time, aiohttp
async def main():
    url, n, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    gate = asyncio.Semaphore(width)
    refused = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=width)) as http:
        async def one(i):
            nonlocal refused
            async with gate:
                while True:
                    async with http.post(url, json={"n": i}) as r:
                        await r.read()
                        if r.status == 200:
                            return
                        refused += 1
                        await asyncio.sleep(0.005)
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        print(time.perf_counter() - start, refused)
asyncio.run(main())
"""


class Finishes:
    """Counts executions ending, from the events topic (no store polling under load)."""

    def __init__(self, podium: Podium) -> None:
        self.podium = podium
        self.count = 0

    async def run(self) -> None:
        subscription = await self.podium.bus.subscribe(
            self.podium.topics.events, "bench", is_transient=True
        )
        while True:
            for record in await subscription.fetch(max_records=5000, timeout=0.5):
                if b'"ExecutionChanged"' in record.value:
                    event = decode_event(record.value)
                    if isinstance(event, ExecutionChanged) and event.state.is_terminal:
                        self.count += 1

    async def reach(self, count: int) -> None:
        while self.count < count:
            await asyncio.sleep(0.01)
        await self.podium.projector.caught_up()  # and the store holds them


async def bench(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="podium-bench-") as data:
        settings = Settings(data=Path(data), port=0)
        async with Podium(settings, environ={}) as podium:
            ready = asyncio.Event()
            async with asyncio.TaskGroup() as group:
                group.create_task(podium.run(ready=ready))
                await ready.wait()
                await podium.flows.save(FLOW)
                url = f"http://127.0.0.1:{podium.port}/api/v1/executions/webhook/bench/hooked/bench-key"

                latencies = []
                async with aiohttp.ClientSession() as http:
                    for i in range(args.latency_calls + 20):
                        sent = datetime.now(UTC)
                        async with http.post(url, json={"n": i}) as response:
                            execution_id = (await response.json())["id"]
                        while True:
                            runs = await podium.store.task_runs(execution_id)
                            first = next(
                                (r for r in runs if r.task_id == "first" and r.started_at), None
                            )
                            if first is not None:
                                break
                            await asyncio.sleep(0.001)
                        if i >= 20:  # warm-up
                            assert first.started_at is not None
                            latencies.append((first.started_at - sent).total_seconds() * 1000)
                latencies.sort()
                finishes = Finishes(podium)
                counter = group.create_task(finishes.run())
                await asyncio.sleep(0.05)

                started = time.perf_counter()
                client = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    CLIENT,
                    url,
                    str(args.load_calls),
                    str(args.concurrency),
                    stdout=subprocess.PIPE,
                )
                out, _ = await client.communicate()
                acked_seconds, refused = out.split()
                await finishes.reach(args.load_calls)
                finished_seconds = time.perf_counter() - started
                counter.cancel()
                podium.stop()
    return {
        "latency_ms": {
            "calls": len(latencies),
            "p50": round(statistics.median(latencies), 3),
            "p99": round(latencies[int(len(latencies) * 0.99) - 1], 3),
        },
        "load": {
            "calls": args.load_calls,
            "concurrency": args.concurrency,
            "acknowledged_per_second": round(args.load_calls / float(acked_seconds), 1),
            "executions_finished_per_second": round(args.load_calls / finished_seconds, 1),
            "refused_429": int(refused),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-calls", type=int, default=200)
    parser.add_argument("--load-calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--uvloop", action="store_true", help="run the server on uvloop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()
    results = asyncio.run(bench(args))
    latency, load = results["latency_ms"], results["load"]
    print("Podium webhook benchmark (embedded runtime, loopback HTTP)")
    print(
        f"  POST -> first task RUNNING: p50 {latency['p50']:.2f} ms  p99 {latency['p99']:.2f} ms"  # type: ignore[index]
        "  (targets 10 / 50 ms)"
    )
    print(
        f"  {load['calls']} POSTs, {load['concurrency']} at a time from another process: "  # type: ignore[index]
        f"{load['acknowledged_per_second']} acknowledged/s, "  # type: ignore[index]
        f"{load['executions_finished_per_second']} executions finished/s (target >= 500/s), "  # type: ignore[index]
        f"{load['refused_429']} answered 429"
    )  # type: ignore[index]
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "webhook.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
