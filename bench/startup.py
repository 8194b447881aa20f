"""`podium flow run -q` of a 1-task flow, this tree beside --base, many times over.

    python bench/startup.py --pairs 30 --base c3155f3
    python bench/startup.py --pairs 2 --base c3155f3 --instructions

Each pair runs the flow once with each tree first on PYTHONPATH (a new process each
time, as bench/foundation.py --only cli does, without its 1,001-task runs), and prints
the medians and the lowest of the wall and CPU times. On a machine shared with other
work, CPU times carry the contention of the moment; `--instructions` also counts the
user-space instructions of one run of each tree under valgrind (cachegrind, without
cache simulation; PYTHONHASHSEED=0), a figure the load moves far less (not at all,
but for the polls of the event loop, which a run slowed down fifty times makes more).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.foundation import _cli_env, _cli_run, log_flow  # noqa: E402
from bench.worktree import checked_out  # noqa: E402


def instructions(tree: Path, flow: Path) -> int:
    """User-space instructions of one `podium flow run -q FLOW` with `tree` first."""
    done = subprocess.run(
        [
            "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
            sys.executable, "-m", "engine.cli", "flow", "run", "-q", str(flow),
        ],
        cwd=tree,
        env={**_cli_env(tree), "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    line = next(line for line in done.stderr.splitlines() if "I   refs:" in line)
    return int(line.rsplit(maxsplit=1)[-1].replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--base", default="c3155f3", help="the commit to run beside this tree")
    parser.add_argument("--instructions", action="store_true", help="count them (valgrind)")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind on PATH")
    with tempfile.TemporaryDirectory(prefix="podium-bench-startup-") as scratch:
        folder = Path(scratch)
        flow = folder / "one.yml"
        flow.write_text(log_flow(1, distinct=True))
        with checked_out(args.base, folder / "base") as base:
            trees = {args.base: base, "this tree": ROOT}
            for tree in trees.values():  # warm-up: byte-compile both trees
                _cli_run(tree, flow)
            load_before = os.getloadavg()
            samples: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
            for _ in range(args.pairs):
                for label, tree in trees.items():
                    samples[label].append(_cli_run(tree, flow))
            load_after = os.getloadavg()
            counts = (
                {label: instructions(tree, flow) for label, tree in trees.items()}
                if args.instructions
                else {}
            )
    print(f"podium flow run -q, 1-task flow: {args.pairs} interleaved pairs (seconds)")
    for label, runs in samples.items():
        wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
        print(
            f"  {label:<12} wall median {statistics.median(wall):.3f} lowest {min(wall):.3f}"
            f"   CPU median {statistics.median(cpu):.3f} lowest {min(cpu):.3f}"
            + (f"   instructions {counts[label] / 1e6:,.1f} M" if args.instructions else "")
        )
    print(f"  load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")


if __name__ == "__main__":
    main()
