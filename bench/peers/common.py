"""What every peer workload shares; stdlib only, since it runs inside each peer's venv.

A workload script is run by bench/peers.py as
`<venv>/bin/python bench/peers/<peer>_workload.py --steps 1,40,200 --repeats R --burst M
--workdir DIR` and prints one JSON object on its last stdout line:

    {"engine": ..., "version": ..., "settings": {...}, "timing": "...",
     "sequential": {"1": {"runs": R, "median_ms": ..., "wall_ms": ...}, ...},
     "fibo": {...same shape...},
     "burst": {"runs": M, "median_ms": ..., "p99_ms": ..., "runs_per_second": ...}}

`median_ms` is the engine's own record of the run (created -> ended) wherever it keeps
one; `wall_ms` is the client's view (submitted -> result seen). Burst latencies run from
the engine's record of the run's creation to its end.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "burst_summary",
    "emit",
    "fibo",
    "free_port",
    "parse_args",
    "series",
    "wait_http",
]


def fibo(n: int) -> int:
    return n if n < 2 else fibo(n - 1) + fibo(n - 2)


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--steps", type=lambda s: [int(x) for x in s.split(",")], default=[1, 40, 200]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--workdir", required=True)
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, *, alive: Callable[[], bool] = lambda: True) -> None:
    """Until `url` answers 2xx (a server we started is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server behind {url} exited while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def series(
    name: str,
    run: Callable[[int], dict[str, float]],
    steps: Sequence[int],
    repeats: int,
    *,
    warm_up: bool = True,
) -> dict[str, Any]:
    """`run(n)` -> {"engine_ms", "wall_ms"} for one run of n steps; one warm-up first."""
    out: dict[str, Any] = {}
    if warm_up:
        run(steps[0])
    for n in steps:
        runs = [run(n) for _ in range(repeats)]
        out[str(n)] = {
            "runs": repeats,
            "median_ms": round(statistics.median(r["engine_ms"] for r in runs), 3),
            "wall_ms": round(statistics.median(r["wall_ms"] for r in runs), 3),
        }
        log(name, n, out[str(n)])
    return out


def burst_summary(spans: Sequence[tuple[float, float]], **extra: Any) -> dict[str, Any]:
    """From (created, ended) epoch seconds of each run."""
    latencies = sorted((end - created) * 1000 for created, end in spans)
    first = min(created for created, _ in spans)
    last = max(end for _, end in spans)
    return {
        "runs": len(spans),
        "median_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 3),
        "runs_per_second": round(len(spans) / (last - first), 2),
        **extra,
    }


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)
