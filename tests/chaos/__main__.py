"""python -m tests.chaos --seconds 600 --seed 7: a chaos run, its actions and its verdict."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.chaos.engine import FAULTS, ChaosRun, temporary_workdir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0, help="how long the chaos lasts")
    parser.add_argument("--seed", type=int, default=7, help="the seed of every random choice")
    parser.add_argument(
        "--fault-every", type=float, default=8.0, help="mean seconds between faults"
    )
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help=f"which faults, of {', '.join(FAULTS)}"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (role logs)")
    args = parser.parse_args(argv)
    with temporary_workdir(keep=args.keep) as workdir:
        print(f"work folder: {workdir}", flush=True)
        report = ChaosRun(
            args.seconds, args.seed, Path(workdir), fault_every=args.fault_every,
            faults=tuple(f for f in args.faults.split(",") if f),
            say=lambda text: print(text, flush=True),
        ).run()  # fmt: skip
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
