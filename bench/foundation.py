"""Foundation benchmarks on the embedded runtime (journaled bus + SQLite store).

    python bench/foundation.py [--tasks 1000] [--executions 1000] [--latency-runs 200]

Prints, and writes to bench/results/foundation.json:
  1. one flow of N sequential trivial tasks (debug.Return): task runs per second and
     the overhead per task run, end to end — request published to the final state in
     the store (the projector's writes included);
  2. M concurrent executions of a 5-task flow: executions and task runs per second;
  3. trigger-to-first-task latency: request published → first task RUNNING, as recorded
     by the engine's own events (median and p99 over sequential single executions).

Targets (issue "Foundation"): under 0.5 ms per task run end to end; under 10 ms from
trigger to first task. The side-by-side comparison with other engines is bench/peers.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.cli import tune_gc  # noqa: E402
from engine.events import EventDocument  # noqa: E402
from engine.server import Podium  # noqa: E402
from engine.settings import Settings  # noqa: E402
from engine.states import State  # noqa: E402


def sequential_flow(n: int) -> str:
    tasks = "\n".join(
        f'  - {{id: t{i}, type: io.kestra.plugin.core.debug.Return, format: "{{{{ taskrun.id }}}}"}}'
        for i in range(n)
    )
    return f"id: seq{n}\nnamespace: bench\ntasks:\n{tasks}\n"


FIVE = """id: five
namespace: bench
tasks:
  - {id: a, type: io.kestra.plugin.core.debug.Return, format: "{{ execution.id }}"}
  - {id: b, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.a.value }}"}
  - {id: c, type: io.kestra.plugin.core.log.Log, message: "{{ outputs.b.value }}"}
  - {id: d, type: io.kestra.plugin.core.debug.Return, format: d}
  - {id: e, type: io.kestra.plugin.core.output.OutputValues, values: {x: "{{ outputs.d.value }}"}}
"""

ONE = """id: one
namespace: bench
tasks:
  - {id: only, type: io.kestra.plugin.core.debug.Return, format: x}
"""


class Finishes:
    """Executions ending, as the projector stores them (it hands its followers each
    applied batch, as it does the API's watcher)."""

    def __init__(self, podium: Podium) -> None:
        self.podium = podium
        self.ended: dict[str, State] = {}
        self._changed = asyncio.Event()

    async def open(self) -> None:
        self.podium.projector.follow(self._on_applied)

    async def _on_applied(self, events: Sequence[EventDocument]) -> None:
        for event in events:
            doc = event.doc
            if doc["kind"] == "ExecutionChanged" and State(doc["state"]).is_terminal:
                self.ended[doc["execution_id"]] = State(doc["state"])
                self._changed.set()

    async def wait(self, ids: set[str]) -> None:
        """Until every id ended, and what they did is in the store."""
        while not ids <= self.ended.keys():
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), 120)
        failed = [i for i in ids if self.ended[i] is not State.SUCCESS]
        assert not failed, failed
        await self.podium.projector.caught_up()


async def bench(args: argparse.Namespace) -> dict[str, object]:
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="podium-bench-") as data:
        settings = Settings(data=Path(data))
        async with Podium(settings, environ={}, serve_http=False) as podium:
            ready = asyncio.Event()
            async with asyncio.TaskGroup() as group:
                group.create_task(podium.run(ready=ready))
                await ready.wait()
                finishes = Finishes(podium)
                await finishes.open()

                # 1. sequential
                flow = await podium.flows.save(sequential_flow(args.tasks))
                await finishes.wait(
                    {(await podium.intake.execute("bench", flow.id)).execution_id}
                )  # warm-up
                started = time.perf_counter()
                request = await podium.intake.execute("bench", flow.id)
                await finishes.wait({request.execution_id})
                elapsed = time.perf_counter() - started
                runs = await podium.store.task_runs(request.execution_id)
                assert len(runs) == args.tasks
                results["sequential"] = {
                    "tasks": args.tasks,
                    "seconds": round(elapsed, 4),
                    "task_runs_per_second": round(args.tasks / elapsed, 1),
                    "ms_per_task_run": round(elapsed / args.tasks * 1000, 4),
                }

                # 2. concurrent executions of a 5-task flow
                await podium.flows.save(FIVE)
                started = time.perf_counter()
                ids = set()
                for _ in range(args.executions):
                    ids.add((await podium.intake.execute("bench", "five")).execution_id)
                await finishes.wait(ids)
                elapsed = time.perf_counter() - started
                results["concurrent"] = {
                    "executions": args.executions,
                    "tasks_per_execution": 5,
                    "seconds": round(elapsed, 4),
                    "executions_per_second": round(args.executions / elapsed, 1),
                    "task_runs_per_second": round(args.executions * 5 / elapsed, 1),
                    "ms_per_task_run": round(elapsed / (args.executions * 5) * 1000, 4),
                }

                # 3. trigger to first task
                await podium.flows.save(ONE)
                latencies = []
                for _ in range(args.latency_runs):
                    request = await podium.intake.execute("bench", "one")
                    await finishes.wait({request.execution_id})
                    [run] = await podium.store.task_runs(request.execution_id)
                    assert run.started_at is not None
                    latencies.append((run.started_at - request.requested_at).total_seconds() * 1000)
                latencies.sort()
                results["trigger_to_first_task_ms"] = {
                    "runs": len(latencies),
                    "median": round(statistics.median(latencies), 3),
                    "p99": round(latencies[int(len(latencies) * 0.99) - 1], 3),
                }
                podium.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--latency-runs", type=int, default=200)
    args = parser.parse_args()
    tune_gc()  # as `podium server` runs
    results = asyncio.run(bench(args))
    seq, conc, lat = (
        results["sequential"],
        results["concurrent"],
        results["trigger_to_first_task_ms"],
    )
    print("Podium foundation benchmark (embedded: journaled memory bus + SQLite)")
    print(
        f"  {seq['tasks']} sequential tasks:        {seq['seconds']:.3f} s  "  # type: ignore[index]
        f"{seq['task_runs_per_second']:>9} task runs/s  {seq['ms_per_task_run']:.3f} ms/task run  (target < 0.5)"
    )  # type: ignore[index]
    print(
        f"  {conc['executions']} executions x 5 tasks:  {conc['seconds']:.3f} s  "  # type: ignore[index]
        f"{conc['task_runs_per_second']:>9} task runs/s  {conc['executions_per_second']} executions/s"
    )  # type: ignore[index]
    print(
        f"  trigger to first task:      median {lat['median']:.3f} ms  p99 {lat['p99']:.3f} ms  (target < 10)"
    )  # type: ignore[index]
    print("  (the same workloads beside Prefect, DBOS, Dagster, Airflow, Temporal: bench/peers.py)")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "foundation.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
