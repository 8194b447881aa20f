"""What `podium flow run`'s view costs: one flow of N sequential Log tasks (each writes a
log line, so the view gets three events per task), run by the real command three ways:

  live   stdout is a terminal (a pty of 120x40): the rich table redrawn in place
  plain  stdout is a pipe: one line per task run change and per log line
  quiet  `--quiet`: no view, only the summary

    python bench/cli_view.py [--tasks 1000] [--repeat 3]

Two figures, medians of the repeats:
- per task: the execution's own duration (the summary line's "in N s", from CREATED to
  its end, so the process start and the flow's loading are left out) / tasks;
- CPU per task: the command's CPU time (user + system, from the kernel's accounting of
  the child) / tasks: less sensitive than the wall clock to a machine shared with other
  work, and what the view adds shows as the difference to `quiet`.
The pty and the pipe are read as fast as they are written and thrown away.

On a shared machine both swing by more than the view costs, so the view's own cost is
also measured in this process, on the events such a run publishes (RUNNING, a log line,
SUCCESS per task): `show()` per task for each form, and one `refresh()` of the live
table (what it costs a few times a second, whatever the number of tasks). Writes
bench/results/cli_view.json.
"""

from __future__ import annotations

import argparse
import fcntl
import io
import json
import os
import pty
import re
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.console import ProgressView  # noqa: E402
from engine.events import LogLine, LogsEmitted, TaskRunChanged  # noqa: E402
from engine.states import State  # noqa: E402

PODIUM = [sys.executable, "-m", "engine.cli", "flow", "run"]
_TOOK = re.compile(r"execution \w+ in ([\d.]+) (ms|s)")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def flow_source(tasks: int) -> str:
    lines = ["id: many", "namespace: bench.view", "tasks:"]
    for number in range(tasks):
        lines += [
            f"  - id: t{number:04d}",
            "    type: io.kestra.plugin.core.log.Log",
            f"    message: task {number} says hello",
        ]
    return "\n".join(lines) + "\n"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "LINES": "40"}


def run_plain(flow: Path, *extra: str) -> tuple[str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [*PODIUM, str(flow), *extra],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=1800,
        check=True,
    )
    return done.stdout, time.perf_counter() - started


def run_live(flow: Path) -> tuple[str, float]:
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(
        [*PODIUM, str(flow)],
        stdin=child,
        stdout=child,
        stderr=subprocess.DEVNULL,
        env={**_env(), "TERM": "xterm-256color"},
        cwd=ROOT,
        close_fds=True,
    )
    os.close(child)
    tail = b""
    while True:
        try:
            chunk = os.read(main, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        tail = (tail + chunk)[-8192:]
    process.wait(timeout=60)
    os.close(main)
    if process.returncode != 0:
        raise RuntimeError(f"podium flow run exited with {process.returncode}")
    return tail.decode(errors="replace"), time.perf_counter() - started


def per_task_ms(output: str, tasks: int) -> float:
    found = _TOOK.search(_ANSI.sub("", output))
    if found is None:
        raise RuntimeError(f"no summary line in the output's end:\n{output[-2000:]}")
    seconds = float(found.group(1)) / (1000 if found.group(2) == "ms" else 1)
    return seconds * 1000 / tasks


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def in_process(tasks: int) -> dict[str, float]:
    """The view's own cost, without the engine: µs per task in `show()`, ms per refresh."""
    now = datetime.now(UTC)
    events: list[Any] = []
    for number in range(tasks):
        run = {
            "execution_id": "e",
            "namespace": "bench.view",
            "flow_id": "many",
            "task_run_id": f"r{number}",
            "task_id": f"t{number:04d}",
            "created_at": now,
            "at": now,
            "started_at": now,
        }
        line = LogLine(at=now, level="INFO", message=f"task {number} says hello")
        events += [
            TaskRunChanged(**run, seq=3 * number + 1, state=State.RUNNING),
            LogsEmitted(
                execution_id="e",
                namespace="bench.view",
                flow_id="many",
                event_id=f"l{number}",
                seq=0,
                at=now,
                lines=(line,),
            ),
            TaskRunChanged(**run, seq=3 * number + 2, state=State.SUCCESS, ended_at=now),
        ]
    figures: dict[str, float] = {}
    for mode in ("live", "plain", "quiet"):
        out = _Terminal() if mode == "live" else io.StringIO()
        view = ProgressView("e", out, live=mode == "live", is_quiet=mode == "quiet")
        started = time.perf_counter()
        for event in events:
            view.show(event)
        figures[f"{mode}_show_us_per_task"] = round(
            (time.perf_counter() - started) * 1e6 / tasks, 2
        )
        if mode == "live":
            started = time.perf_counter()
            for _ in range(20):
                view.refresh()
            figures["live_refresh_ms"] = round((time.perf_counter() - started) * 1000 / 20, 2)
        view.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    modes = {
        "live": lambda flow: run_live(flow),
        "plain": lambda flow: run_plain(flow),
        "quiet": lambda flow: run_plain(flow, "--quiet"),
    }
    figures: dict[str, dict[str, float | list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="podium-bench-view-") as folder:
        flow = Path(folder) / "many.yaml"
        flow.write_text(flow_source(args.tasks))
        samples: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in modes}
        for _ in range(args.repeat):  # interleaved: a slow moment hits every mode alike
            for mode, run in modes.items():
                cpu = _cpu_seconds()
                output, wall = run(flow)
                cpu_ms = (_cpu_seconds() - cpu) * 1000 / args.tasks
                samples[mode].append((per_task_ms(output, args.tasks), wall, cpu_ms))
        for mode, found in samples.items():
            per_task = [p for p, _, _ in found]
            figures[mode] = {
                "per_task_ms": round(statistics.median(per_task), 3),
                "per_task_ms_runs": [round(p, 3) for p in per_task],
                "cpu_per_task_ms": round(statistics.median(c for _, _, c in found), 3),
                "wall_seconds": round(statistics.median(w for _, w, _ in found), 2),
            }
    quiet_cpu = float(figures["quiet"]["cpu_per_task_ms"])  # type: ignore[arg-type]
    for mode, figure in figures.items():
        extra = float(figure["cpu_per_task_ms"]) - quiet_cpu  # type: ignore[arg-type]
        print(
            f"{mode:<6} {figure['per_task_ms']:>7} ms per task (runs "
            f"{figure['per_task_ms_runs']}); CPU {figure['cpu_per_task_ms']} ms per task "
            f"({extra:+.3f} ms against quiet); whole command {figure['wall_seconds']} s"
        )
    own = in_process(args.tasks)
    print(
        f"the view alone: show() {own['live_show_us_per_task']} µs per task live, "
        f"{own['plain_show_us_per_task']} µs plain, {own['quiet_show_us_per_task']} µs quiet; "
        f"one refresh of the live table {own['live_refresh_ms']} ms"
    )
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "cli_view.json").write_text(
        json.dumps(
            {"tasks": args.tasks, "repeat": args.repeat, "modes": figures, "view_alone": own},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
