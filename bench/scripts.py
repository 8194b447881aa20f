"""Script task benchmarks on the embedded runtime (journaled bus + SQLite store).

    python bench/scripts.py [--runs 100] [--docker-runs 10] [--docker-host unix:///…]

A Python Script task that prints one output (`::{"outputs": …}::`), run as N sequential
single-task executions through the embedded Podium; the figure is the time per task end
to end: request published -> final state and outputs in the store.

  1. Process runner, with the `python` found on PATH as is;
  2. Process runner, with a bare virtual environment's python first on PATH — what a
     worker image has; on this machine the PATH `python` is a pyenv shim and the base
     interpreter loads a sandbox `.pth` hook, which alone cost ~140 ms and ~70 ms a start;
  3. Docker runner, M runs (the endpoint from --docker-host, PODIUM_DOCKER_HOST or
     DOCKER_HOST, else scripts/podman-service starts one and scripts/build-test-images
     builds the image).

For each, the bare start of the same interpreter (`python -c pass`) is measured too, so
what Podium adds is visible. Target: under 30 ms per Python script task end to end.
Kestra 2.0 spends ~87 ms per task with a subprocess, 675 ms with Docker (published).
Writes bench/results/scripts.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.events import ExecutionChanged, decode_event  # noqa: E402
from engine.server import Podium  # noqa: E402
from engine.settings import Settings  # noqa: E402
from engine.states import State  # noqa: E402

KESTRA_PROCESS_MS = 87.0
KESTRA_DOCKER_MS = 675.0

FLOW = """id: script_{name}
namespace: bench
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    taskRunner: {runner}
    containerImage: localhost/podium-python
    script: |
      print('::{{"outputs": {{"value": 1}}}}::')
"""

PROCESS = "{type: io.kestra.plugin.core.runner.Process}"


def docker_runner(host: str) -> str:
    return f'{{type: io.kestra.plugin.scripts.runner.docker.Docker, host: "{host}"}}'


class Ends:
    """Follows the events topic (as the CLI's live view does) for executions ending."""

    def __init__(self, podium: Podium) -> None:
        self.podium = podium
        self.ended: dict[str, State] = {}

    async def open(self) -> None:
        self.subscription = await self.podium.bus.subscribe(
            self.podium.topics.events, "bench-scripts", is_transient=True
        )

    async def wait(self, execution_id: str, timeout: float) -> None:
        """Until the execution ended and its task's outputs are in the store."""
        deadline = time.monotonic() + timeout
        checked = time.monotonic()
        while execution_id not in self.ended:
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_id} did not end in {timeout}s")
            for record in await self.subscription.fetch(max_records=5000, timeout=0.25):
                event = decode_event(record.value)
                if isinstance(event, ExecutionChanged) and event.state.is_terminal:
                    self.ended[event.execution_id] = event.state
            if execution_id not in self.ended and time.monotonic() - checked > 0.25:
                # A live view holds nothing back: records the bus trimmed before this
                # fetch are gone, so look in the store now and then as well.
                checked = time.monotonic()
                stored = await self.podium.store.get_execution(execution_id)
                if stored is not None and stored.state.is_terminal:
                    self.ended[execution_id] = stored.state
        assert self.ended[execution_id] is State.SUCCESS, execution_id
        await self.podium.projector.caught_up()
        [run] = await self.podium.store.task_runs(execution_id)
        assert run.outputs["vars"] == {"value": 1}, run.outputs


async def per_task_ms(ends: Ends, name: str, runner: str, runs: int, timeout: float) -> dict:
    podium = ends.podium
    flow = await podium.flows.save(FLOW.format(name=name, runner=runner))
    warm = await podium.intake.execute(flow.namespace, flow.id)
    await ends.wait(warm.execution_id, timeout)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        request = await podium.intake.execute(flow.namespace, flow.id)
        await ends.wait(request.execution_id, timeout)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "runs": runs,
        "mean_ms": round(statistics.fmean(times), 2),
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(len(times) * 0.9) - 1] if runs >= 10 else times[-1], 2),
    }


def interpreter_start_ms(path: str, n: int = 20) -> float:
    """The bare start of the `python` the Process runner finds on `path`."""
    python = shutil.which("python", path=path) or "python"
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run([python, "-c", "pass"], check=True)
    return round((time.perf_counter() - started) / n * 1000, 2)


def docker_endpoint(given: str | None) -> str:
    endpoint = given or os.environ.get("PODIUM_DOCKER_HOST") or os.environ.get("DOCKER_HOST")
    if endpoint:
        return endpoint
    out = subprocess.run(
        [str(ROOT / "scripts" / "podman-service")], check=True, capture_output=True, text=True
    )
    subprocess.run([str(ROOT / "scripts" / "build-test-images")], check=True)
    return out.stdout.strip().splitlines()[-1]


async def bench(args: argparse.Namespace, data: Path, paths: dict[str, str]) -> dict:
    """Per-task figures for each PATH in `paths` (Process) and, if asked, for Docker."""
    results: dict[str, dict] = {}
    settings = Settings(data=data / "podium")
    async with Podium(settings, environ={}, serve_http=False) as podium:
        ready = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            group.create_task(podium.run(ready=ready))
            await ready.wait()
            ends = Ends(podium)
            await ends.open()
            saved = os.environ["PATH"]
            for label, path in paths.items():
                os.environ["PATH"] = path  # the Process runner inherits it
                results[label] = await per_task_ms(ends, label, PROCESS, args.runs, 60)
            os.environ["PATH"] = saved
            if args.docker_host:
                runner = docker_runner(args.docker_host)
                results["docker"] = await per_task_ms(ends, "docker", runner, args.docker_runs, 600)
                results["docker"]["endpoint"] = args.docker_host
            podium.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--docker-runs", type=int, default=10, help="0 skips the Docker runner")
    parser.add_argument("--docker-host", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="podium-bench-") as folder:
        data = Path(folder)
        venv = data / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        path_as_is = os.environ.get("PATH", os.defpath)
        paths = {
            "process_path_python": path_as_is,
            "process_venv_python": f"{venv / 'bin'}{os.pathsep}{path_as_is}",
        }
        args.docker_host = docker_endpoint(args.docker_host) if args.docker_runs else None
        results = asyncio.run(bench(args, data, paths))
        for label, path in paths.items():
            figures = results[label]
            figures["interpreter_start_ms"] = interpreter_start_ms(path)
            figures["podium_overhead_ms"] = round(
                figures["median_ms"] - figures["interpreter_start_ms"], 2
            )
    print("Podium script task benchmark (embedded; one Python Script task per execution)")
    for label, title in (
        ("process_path_python", "Process, PATH python"),
        ("process_venv_python", "Process, venv python"),
    ):
        r = results[label]
        assert isinstance(r, dict)
        print(
            f"  {title:22} {r['runs']:>4} runs  median {r['median_ms']:8.2f} ms  "
            f"mean {r['mean_ms']:8.2f} ms  p90 {r['p90_ms']:8.2f} ms  "
            f"(interpreter start {r['interpreter_start_ms']:.2f} ms, Podium "
            f"{r['podium_overhead_ms']:.2f} ms; target < 30; Kestra ~{KESTRA_PROCESS_MS:g})"
        )
    docker = results.get("docker")
    if isinstance(docker, dict):
        print(
            f"  {'Docker (' + docker['endpoint'] + ')':22} {docker['runs']:>4} runs  "
            f"median {docker['median_ms']:8.2f} ms  mean {docker['mean_ms']:8.2f} ms  "
            f"(Kestra ~{KESTRA_DOCKER_MS:g})"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scripts.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
