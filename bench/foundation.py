"""Foundation benchmarks on the embedded runtime (journaled bus + SQLite store).

    python bench/foundation.py [--tasks 1000] [--executions 1000] [--latency-runs 200]

Prints, and writes to bench/results/foundation.json:
  1. one flow of N sequential trivial tasks (debug.Return): task runs per second and
     the overhead per task run, end to end — request published to the final state in
     the store (the projector's writes included);
  2. M concurrent executions of a 5-task flow: executions and task runs per second;
  3. trigger-to-first-task latency: request published → first task RUNNING, as recorded
     by the engine's own events (median and p99 over sequential single executions).

  4. `podium flow run` as a user types it, a new process each time, beside the previous
     release (commit BASE, checked out with `git worktree add` into a scratch folder and
     run with that tree first on PYTHONPATH), runs interleaved, medians of --repeats:
     start-up (a 1-task flow, whole process) and the cost per task (slope between 1 and
     1,001 Log tasks, with 1,001 distinct templates, then 1,001 identical ones);
  5. peak RSS of a process that runs 10,000 queued executions, then as many again, and
     of one that runs a flow with a 100,000-item ForEach, then again: the second figure
     must stay within 10% of the first (memory does not grow with the history of
     finished executions). Printed, never asserted in tests.

Targets (issue "Foundation"): under 0.5 ms per task run end to end; under 10 ms from
trigger to first task. Issue "Speed": `podium flow run` under 0.15 ms per task and
under 0.35 s to run a 1-task flow. The side-by-side comparison with other engines is
bench/peers.py.

    python bench/foundation.py --only cli --repeats 5        # just part 4
    python bench/foundation.py --only memory                 # just part 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.worktree import checked_out  # noqa: E402
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
        self.batches = 0  # handed by the projector: one per store transaction
        self._changed = asyncio.Event()

    async def open(self) -> None:
        self.podium.projector.follow(self._on_applied)

    async def _on_applied(self, events: Sequence[EventDocument]) -> None:
        self.batches += 1
        for event in events:
            doc = event.doc
            if doc["kind"] == "ExecutionChanged" and State(doc["state"]).is_terminal:
                self.ended[doc["execution_id"]] = State(doc["state"])
                self._changed.set()

    async def wait(self, ids: set[str], timeout: float = 120) -> None:
        """Until every id ended, and what they did is in the store."""
        while not ids <= self.ended.keys():
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), timeout)
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


BASE = "238ab4d"  # the previous release: what issue "Speed" started from
CLI_TASKS = 1001


def log_flow(n: int, *, distinct: bool) -> str:
    """n Log tasks; each message a template of its own, or all the same one."""
    tasks = "\n".join(
        f"  - id: t{i}\n    type: io.kestra.plugin.core.log.Log\n"
        f"    message: \"{{{{ 'x' ~ {i if distinct else 1} }}}}\""
        for i in range(n)
    )
    return f"id: log{n}\nnamespace: bench\ntasks:\n{tasks}\n"


def _cli_env(tree: Path) -> dict[str, str]:
    """The environment of a user's shell, with `tree` first on PYTHONPATH. Without
    PYTHONDONTWRITEBYTECODE (a developer's shell may set it): a user's run reads the
    .pyc files the warm-up wrote, rather than compiling every module each time."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(tree)
    return env


def _cli_run(tree: Path, flow: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one `podium flow run -q` with `tree` first on PYTHONPATH."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "flow", "run", "-q", str(flow)],
        cwd=tree,
        env=_cli_env(tree),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"podium flow run {flow.name} failed in {tree}:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def bench_cli(repeats: int, base: str) -> dict[str, object]:
    """Part 4: this tree and the previous release, runs interleaved, medians."""
    with tempfile.TemporaryDirectory(prefix="podium-bench-cli-") as scratch:
        folder = Path(scratch)
        flows = {
            "one": log_flow(1, distinct=True),
            "distinct": log_flow(CLI_TASKS, distinct=True),
            "identical": log_flow(CLI_TASKS, distinct=False),
        }
        for name, text in flows.items():
            (folder / f"{name}.yml").write_text(text)
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        with checked_out(base, folder / "previous") as previous:
            trees = {"previous": previous, "now": ROOT}
            for tree in trees.values():  # warm-up: byte-compile both trees
                _cli_run(tree, folder / "one.yml")
            for _ in range(repeats):
                for label, tree in trees.items():
                    for name in flows:
                        sample = _cli_run(tree, folder / f"{name}.yml")
                        samples.setdefault((label, name), []).append(sample)
    results: dict[str, object] = {"base": base, "repeats": repeats, "tasks": CLI_TASKS}
    for label in trees:

        def median(name: str, index: int, label: str = label) -> float:
            return statistics.median(s[index] for s in samples[(label, name)])

        per_task = 1000 / (CLI_TASKS - 1)  # ms per task from a difference in seconds
        results[label] = {
            "startup_s": round(median("one", 0), 3),
            "startup_cpu_s": round(median("one", 1), 3),
            "distinct_ms_per_task": round((median("distinct", 0) - median("one", 0)) * per_task, 3),
            "distinct_cpu_ms_per_task": round(
                (median("distinct", 1) - median("one", 1)) * per_task, 3
            ),
            "identical_ms_per_task": round(
                (median("identical", 0) - median("one", 0)) * per_task, 3
            ),
            "identical_cpu_ms_per_task": round(
                (median("identical", 1) - median("one", 1)) * per_task, 3
            ),
        }
    results["load_average"] = os.getloadavg()
    return results


def print_cli(results: dict[str, object]) -> None:
    now, previous = results["now"], results["previous"]
    assert isinstance(now, dict) and isinstance(previous, dict)
    print(
        f"  podium flow run (new process; medians of {results['repeats']}, interleaved with "
        f"the previous release {results['base']}; wall / CPU):"
    )
    rows = [
        ("start-up, 1-task flow", "startup_s", "startup_cpu_s", "s", "(target < 0.35 s)"),
        (
            f"per task, {CLI_TASKS} distinct templates",
            "distinct_ms_per_task",
            "distinct_cpu_ms_per_task",
            "ms",
            "(target < 0.15 ms)",
        ),
        (
            f"per task, {CLI_TASKS} identical templates",
            "identical_ms_per_task",
            "identical_cpu_ms_per_task",
            "ms",
            "",
        ),
    ]
    for title, wall, cpu, unit, target in rows:
        print(
            f"    {title:<38} now {now[wall]:>7.3f} / {now[cpu]:.3f} {unit}   "
            f"previous {previous[wall]:>7.3f} / {previous[cpu]:.3f} {unit}  {target}"
        )
    print(f"    (load average {tuple(round(x, 1) for x in results['load_average'])})")  # type: ignore[attr-defined]


def foreach_flow(items: int) -> str:
    return f"""id: foreach{items}
namespace: bench
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{{{ range({items}) | list }}}}"
    tasks:
      - {{id: item, type: io.kestra.plugin.core.debug.Return, format: "{{{{ taskrun.value }}}}"}}
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB


async def memory_child(kind: str, count: int) -> dict[str, float]:
    """Run one workload twice in this process; the peak RSS after each."""
    peaks: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="podium-bench-rss-") as data:
        settings = Settings(data=Path(data))
        async with Podium(settings, environ={}, serve_http=False) as podium:
            ready = asyncio.Event()
            async with asyncio.TaskGroup() as group:
                group.create_task(podium.run(ready=ready))
                await ready.wait()
                finishes = Finishes(podium)
                await finishes.open()
                if kind == "queued":
                    flow = await podium.flows.save(ONE)
                else:
                    flow = await podium.flows.save(foreach_flow(count))
                peaks["start"] = peak_rss_mb()
                for wave in ("first", "second"):
                    ids = set()
                    for _ in range(count if kind == "queued" else 1):
                        request = await podium.intake.execute("bench", flow.id)
                        ids.add(request.execution_id)
                    await finishes.wait(ids, timeout=1800)
                    for finished in ids:  # the bench keeps no history of its own
                        del finishes.ended[finished]
                    peaks[wave] = peak_rss_mb()
                podium.stop()
    return peaks


def bench_memory(executions: int, items: int) -> dict[str, object]:
    """Part 5: each workload in a fresh process, so that its peak is its own."""
    results: dict[str, object] = {}
    for kind, count in (("queued", executions), ("foreach", items)):
        done = subprocess.run(
            [sys.executable, __file__, "--memory-child", kind, "--count", str(count)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        peaks = json.loads(done.stdout.strip().splitlines()[-1])
        peaks["growth_percent"] = round((peaks["second"] / peaks["first"] - 1) * 100, 1)
        peaks["count"] = count
        results[kind] = peaks
    return results


def print_memory(results: dict[str, object]) -> None:
    titles = {
        "queued": "executions queued at once (1 task each)",
        "foreach": "items in one ForEach (one at a time)",
    }
    print("  peak RSS (MB; a fresh process each; the workload run once, then again):")
    for kind, title in titles.items():
        r = results[kind]
        assert isinstance(r, dict)
        verdict = "ok" if r["growth_percent"] <= 10 else "GROWS"
        print(
            f"    {r['count']:>7,} {title:<42} idle {r['start']:7.1f}  first {r['first']:7.1f}"
            f"  second {r['second']:7.1f}  ({r['growth_percent']:+.1f}%, {verdict}: within 10%)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--only", choices=("runtime", "cli", "memory"), action="append")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each `flow run`")
    parser.add_argument("--base", default=BASE, help="the previous release's commit")
    parser.add_argument("--rss-executions", type=int, default=10_000)
    parser.add_argument("--rss-items", type=int, default=100_000)
    parser.add_argument("--memory-child", choices=("queued", "foreach"), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    tune_gc()  # as `podium server` runs
    if args.memory_child:
        print(json.dumps(asyncio.run(memory_child(args.memory_child, args.count))))
        return
    parts = set(args.only or ("runtime", "cli", "memory"))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {}
    print("Podium foundation benchmark (embedded: journaled memory bus + SQLite)")
    if "runtime" in parts:
        results.update(asyncio.run(bench(args)))
        print_runtime(results)
    if "cli" in parts:
        results["flow_run"] = bench_cli(args.repeats, args.base)
        print_cli(results["flow_run"])  # type: ignore[arg-type]
    if "memory" in parts:
        results["peak_rss"] = bench_memory(args.rss_executions, args.rss_items)
        print_memory(results["peak_rss"])  # type: ignore[arg-type]
    (out / "foundation.json").write_text(json.dumps(results, indent=2))


def print_runtime(results: dict[str, object]) -> None:
    seq, conc, lat = (
        results["sequential"],
        results["concurrent"],
        results["trigger_to_first_task_ms"],
    )
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


if __name__ == "__main__":
    main()
