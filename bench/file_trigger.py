"""File-arrival trigger benchmark on the embedded runtime (journaled bus + SQLite).

    python bench/file_trigger.py [--latency-runs 100] [--burst 10000] [--json PATH]

Prints:
  1. drop → execution started: one file at a time into a folder watched by a
     RealtimeTrigger, from the moment the file is closed to the execution's `startDate`
     as the engine recorded it (p50, p99), with OS events and with `forcePolling`;
  2. a burst of N files written as fast as possible: files/s fired (first drop → last
     execution started), executions/s end to end (→ last one ended in the store), and
     drop → start latency inside the burst (p50, p99).

What bounds the figures: a file fires once two looks SETTLE_SECONDS (0.15 s) apart see
it unchanged, so single-file latency cannot go below ~0.2 s (watchfiles groups events
for 50 ms first). In a burst the executions themselves share the CPU with the trigger.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.events import ExecutionChanged  # noqa: E402
from engine.server import Podium  # noqa: E402
from engine.settings import Settings, TriggerSection  # noqa: E402
from engine.states import State  # noqa: E402

FLOW = """
id: {flow_id}
namespace: bench.files
triggers:
  - id: watch
    type: io.kestra.plugin.fs.local.RealtimeTrigger
    from: "{folder}"
    forcePolling: {force_polling}
tasks:
  - {{id: seen, type: io.kestra.plugin.core.debug.Return, format: "{{{{ trigger.file.name }}}}"}}
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summary(latencies_ms: list[float]) -> dict[str, float]:
    return {
        "runs": len(latencies_ms),
        "p50_ms": round(statistics.median(latencies_ms), 1),
        "p99_ms": round(percentile(latencies_ms, 0.99), 1),
        "max_ms": round(max(latencies_ms), 1),
    }


async def ended(podium: Podium, flow_id: str, count: int, timeout: float) -> list[ExecutionChanged]:
    deadline = time.monotonic() + timeout
    while True:
        await podium.projector.caught_up()
        found = await podium.store.list_executions(
            flow_id=flow_id, states=[State.SUCCESS], limit=count + 10
        )
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(found)} of {count} executions of {flow_id} ended")
        await asyncio.sleep(0.02 if count == 1 else 0.5)


def started_ms(execution: ExecutionChanged, dropped: datetime) -> float:
    assert execution.started_at is not None
    return (execution.started_at - dropped).total_seconds() * 1000


async def latency(
    podium: Podium, folder: Path, runs: int, *, force_polling: bool
) -> dict[str, float]:
    flow_id = "polled" if force_polling else "events"
    folder.mkdir()
    await podium.flows.save(
        FLOW.format(flow_id=flow_id, folder=folder, force_polling=str(force_polling).lower())
    )
    await asyncio.sleep(0.5)  # the runner starts and watches
    latencies = []
    for i in range(runs):
        (folder / f"one-{i}.txt").write_bytes(b"x" * 1000)
        dropped = datetime.now(UTC)
        found = await ended(podium, flow_id, i + 1, timeout=30)
        [execution] = [
            e
            for e in found
            if e.trigger and e.trigger["variables"]["file"]["name"] == f"one-{i}.txt"
        ]
        latencies.append(started_ms(execution, dropped))
    return summary(latencies)


async def burst(podium: Podium, folder: Path, files: int) -> dict[str, Any]:
    folder.mkdir()
    await podium.flows.save(FLOW.format(flow_id="burst", folder=folder, force_polling="false"))
    await asyncio.sleep(0.5)
    dropped: dict[str, datetime] = {}
    first = datetime.now(UTC)
    started = time.perf_counter()
    for i in range(files):
        name = f"b{i:06}.txt"
        (folder / name).write_bytes(b"%d\n" % i)
        dropped[name] = datetime.now(UTC)
    written = time.perf_counter() - started
    done = await ended(podium, "burst", files, timeout=600)
    total = time.perf_counter() - started
    latencies = [
        started_ms(e, dropped[e.trigger["variables"]["file"]["name"]]) for e in done if e.trigger
    ]
    last_start = max(e.started_at for e in done if e.started_at is not None)
    firing = (last_start - first).total_seconds()
    return {
        "files": files,
        "executions": len(done),
        "write_seconds": round(written, 2),
        "files_per_second_fired": round(files / firing, 1),
        "executions_per_second_end_to_end": round(files / total, 1),
        "seconds_to_last_start": round(firing, 2),
        "seconds_to_last_end": round(total, 2),
        "drop_to_start": summary(latencies),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="podium-bench-files-") as scratch:
        base = Path(scratch).resolve()
        settings = Settings(data=base / "data", triggers=TriggerSection(allowed_paths=[base]))
        async with Podium(settings, environ={}, serve_http=False) as podium:
            ready = asyncio.Event()
            async with asyncio.TaskGroup() as group:
                group.create_task(podium.run(ready=ready))
                await ready.wait()
                results["latency_events"] = await latency(
                    podium, base / "events", args.latency_runs, force_polling=False
                )
                results["latency_polling"] = await latency(
                    podium, base / "polled", max(10, args.latency_runs // 5), force_polling=True
                )
                results["burst"] = await burst(podium, base / "burst", args.burst)
                podium.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-runs", type=int, default=100)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    results = asyncio.run(bench(args))
    events, polled, flood = results["latency_events"], results["latency_polling"], results["burst"]
    print("Podium file trigger benchmark (embedded: journaled memory bus + SQLite)")
    print(
        f"  drop -> execution started, OS events:  p50 {events['p50_ms']:.0f} ms  "
        f"p99 {events['p99_ms']:.0f} ms  ({events['runs']} files, one at a time)"
    )
    print(
        f"  drop -> execution started, polling:    p50 {polled['p50_ms']:.0f} ms  "
        f"p99 {polled['p99_ms']:.0f} ms  ({polled['runs']} files, forcePolling)"
    )
    lat = flood["drop_to_start"]
    print(
        f"  burst of {flood['files']} files: written in {flood['write_seconds']} s; "
        f"{flood['files_per_second_fired']} files/s fired; "
        f"{flood['executions_per_second_end_to_end']} executions/s end to end "
        f"({flood['seconds_to_last_end']} s); in the burst p50 {lat['p50_ms'] / 1000:.1f} s "
        f"p99 {lat['p99_ms'] / 1000:.1f} s"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
