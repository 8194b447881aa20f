"""Dagster in-process with a SQLite instance, run inside the Dagster venv by bench/peers.py.

DAGSTER_HOME is a fresh folder with no dagster.yaml, so the instance keeps runs, events
and schedules in SQLite files there. A job of N ops chained one after another runs with
`execute_in_process` (the in-process executor); times are the run's create_timestamp ->
end_time from the instance's run records. The burst runs the 3-op job M times back to
back: `execute_in_process` is synchronous, and queueing runs otherwise takes the daemon
and a code server (a process per run) — latency is the run record's creation -> end.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import burst_summary, emit, fibo, log, parse_args, series

args = parse_args(__doc__ or "")
home = Path(args.workdir) / "dagster-home"
home.mkdir(parents=True, exist_ok=True)
os.environ["DAGSTER_HOME"] = str(home)

import dagster  # noqa: E402
from dagster import DagsterInstance, In, Nothing, Out, job, op  # noqa: E402


@op(ins={"after": In(Nothing)}, out=Out(int))
def step() -> int:
    return 1


@op(ins={"after": In(Nothing)}, out=Out(int))
def fibo_step() -> int:
    return fibo(10)


def chain(name: str, body, n: int):  # type: ignore[no-untyped-def]
    @job(name=name)
    def chained() -> None:
        previous = None
        for i in range(n):
            node = body.alias(f"s{i}")
            previous = node(after=previous) if previous is not None else node()

    return chained


def main() -> None:
    instance = DagsterInstance.get()
    jobs: dict[tuple[str, int], object] = {}

    def timed(kind: str, n: int) -> dict[str, float]:
        key = (kind, n)
        if key not in jobs:
            jobs[key] = chain(f"{kind}{n}", step if kind == "seq" else fibo_step, n)
        wall = time.perf_counter()
        result = jobs[key].execute_in_process(instance=instance)  # type: ignore[attr-defined]
        wall = time.perf_counter() - wall
        assert result.success
        record = instance.get_run_record_by_id(result.run_id)
        return {
            "engine_ms": (record.end_time - record.create_timestamp.timestamp()) * 1000,
            "wall_ms": wall * 1000,
        }

    def burst(count: int) -> dict:
        three = chain("three", step, 3)
        three.execute_in_process(instance=instance)
        started = time.perf_counter()
        spans = []
        for _ in range(count):
            result = three.execute_in_process(instance=instance)
            record = instance.get_run_record_by_id(result.run_id)
            spans.append((record.create_timestamp.timestamp(), record.end_time))
        wall = time.perf_counter() - started
        return burst_summary(spans, back_to_back=True, wall_seconds=round(wall, 3))

    log("dagster instance at", home, type(instance.run_storage).__name__)
    emit(
        {
            "engine": "dagster",
            "version": dagster.__version__,
            "settings": {
                "instance": f"DAGSTER_HOME, default storage ({type(instance.run_storage).__name__})",
                "steps": "ops chained by Nothing inputs, execute_in_process",
                "burst": "execute_in_process back to back (synchronous API)",
            },
            "timing": "run records: create_timestamp -> end_time",
            "sequential": series("sequential", lambda n: timed("seq", n), args.steps, args.repeats),
            "fibo": series("fibo", lambda n: timed("fibo", n), args.steps, args.repeats),
            "burst": burst(args.burst),
        }
    )


if __name__ == "__main__":
    main()
