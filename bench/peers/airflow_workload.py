"""Airflow 3 (`airflow standalone`: SQLite, LocalExecutor), run inside its venv by
bench/peers.py.

The workload writes a DAG file (one DAG per workload and step count: N `@task`s chained
one after another; `three` for the burst), starts `airflow standalone` on a loopback port
with AIRFLOW_HOME in the work folder, and triggers DAG runs through the REST API (v2).
Times are the DAG run's queued_at -> end_date as Airflow recorded them. Settings this needs (environment):

  AIRFLOW__CORE__EXECUTOR=LocalExecutor, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///…
  AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:PORT/execution/ (tasks report
    to the API server; its default is localhost:8080)
  AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True (a token from GET /auth/token)
  AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False, AIRFLOW__CORE__LOAD_EXAMPLES=False
  AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5 (find the DAG file quickly)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import burst_summary, emit, free_port, log, parse_args, series

DAGS = """\
from __future__ import annotations

import pendulum
from airflow.sdk import chain, dag, task


def fibo(n):
    return n if n < 2 else fibo(n - 1) + fibo(n - 2)


def make(dag_id, n, body):
    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False,
         max_active_runs=10_000)
    def chained():
        chain(*[task(task_id=f"s{{i}}")(body)() for i in range(n)])

    return chained()


def trivial():
    return 1


def fibonacci():
    return fibo(10)


for n in {steps}:
    globals()[f"seq_{{n}}"] = make(f"seq_{{n}}", n, trivial)
    globals()[f"fibo_{{n}}"] = make(f"fibo_{{n}}", n, fibonacci)
three = make("three", 3, trivial)
"""


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.token = ""
        self.retries = 0

    def call(self, method: str, path: str, body: object | None = None) -> dict:
        """One API call; a time-out or a 5xx (SQLite busy under a burst) is retried."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(10):
            request = urllib.request.Request(self.base + path, data=data, method=method)
            request.add_header("Content-Type", "application/json")
            if self.token:
                request.add_header("Authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == 9:
                    raise
            except (TimeoutError, urllib.error.URLError):
                if attempt == 9 or not self.token:
                    raise
            self.retries += 1
            time.sleep(0.5)
        raise AssertionError("unreachable")

    def login(self) -> None:
        self.token = self.call("GET", "/auth/token")["access_token"]

    def trigger(self, dag_id: str) -> str:
        body = {"dag_run_id": f"bench-{uuid.uuid4().hex}", "logical_date": None}
        return self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")

    def wait(self, dag_id: str, run_id: str, timeout: float, poll: float = 0.1) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if run["state"] in ("success", "failed"):
                assert run["state"] == "success", run
                return run
            time.sleep(poll)
        raise TimeoutError(f"{dag_id} {run_id} did not finish in {timeout}s")


def stamp(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def main() -> None:
    args = parse_args(__doc__ or "")
    work = Path(args.workdir)
    home = work / "airflow-home"
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "bench_dags.py").write_text(DAGS.format(steps=list(args.steps)))
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    with open(work / "airflow-standalone.log", "wb") as out:  # the child keeps its own descriptor
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "standalone"],
            env=env,
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = Api(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                raise RuntimeError("airflow standalone exited; see airflow-standalone.log")
            try:
                api.login()
                api.call("GET", "/api/v2/dags/three")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        log("airflow up on", port)

        def timed(kind: str, n: int) -> dict[str, float]:
            dag_id = f"{kind}_{n}"
            wall = time.perf_counter()
            run_id = api.trigger(dag_id)
            run = api.wait(dag_id, run_id, 3600)
            wall = time.perf_counter() - wall
            return {
                "engine_ms": (stamp(run["end_date"]) - stamp(run["queued_at"])) * 1000,
                "wall_ms": wall * 1000,
            }

        def burst(count: int) -> dict:
            api.wait("three", api.trigger("three"), 600)  # warm-up
            started = time.perf_counter()
            ids = [api.trigger("three") for _ in range(count)]
            accepted = time.perf_counter() - started
            # Generous, but bounded: under a burst the scheduler on SQLite can stall
            # ("database is locked") and leave runs RUNNING for good.
            deadline = time.monotonic() + 120 + 10 * count
            runs = [
                api.wait("three", i, max(1.0, deadline - time.monotonic()), poll=1.0) for i in ids
            ]
            wall = time.perf_counter() - started
            spans = [(stamp(r["queued_at"]), stamp(r["end_date"])) for r in runs]
            return burst_summary(
                spans,
                accept_seconds=round(accepted, 3),
                wall_seconds=round(wall, 3),
                api_retries=api.retries,
            )

        for dag_id in [f"{k}_{n}" for k in ("seq", "fibo") for n in args.steps]:
            while True:  # every DAG parsed before the clock starts
                try:
                    api.call("GET", f"/api/v2/dags/{dag_id}")
                    break
                except OSError:
                    time.sleep(1)
        from importlib.metadata import version

        emit(
            {
                "engine": "airflow",
                "version": version("apache-airflow"),
                "settings": {
                    "server": "airflow standalone (api-server, scheduler, dag-processor, triggerer)",
                    "executor": "LocalExecutor",
                    "database": "SQLite",
                    "steps": "TaskFlow @task chained in one DAG, triggered via REST API v2",
                    "env": [k for k in env if k.startswith("AIRFLOW__")],
                },
                "timing": "DAG run records: queued_at -> end_date",
                "sequential": series(
                    "sequential", lambda n: timed("seq", n), args.steps, args.repeats
                ),
                "fibo": series("fibo", lambda n: timed("fibo", n), args.steps, args.repeats),
                "burst": burst(args.burst),
            }
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        stop_strays(home)


def stop_strays(home: Path) -> None:
    """Some of standalone's children leave its process group: find them by AIRFLOW_HOME."""
    marker = f"AIRFLOW_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


if __name__ == "__main__":
    main()
