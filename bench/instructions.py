"""Instructions per execution of the 5-task flow, Podium's process only, this tree beside
--base: the figure behind bench/production.py's CPU per event that the machine's noise
does not move.

    python bench/instructions.py --base 3803df7 [--rounds 2] [--bus memory|kafka]

Every role runs in one process (`server standalone`), on the memory bus or a Tansu
broker, and a fresh PostgreSQL database. Two warm-up executions, then --executions of
bench/foundation.py's 5-task flow, 100 requested at a time (as bench/production.py's
concurrent phase), until the projector stored the last event. The process runs under
valgrind (callgrind, PYTHONHASHSEED=0) with counting off until that phase starts and
after it ends (`callgrind_control -i`), so imports, start-up and the broker's start are
not counted. The trees run alternately, --rounds times each; a warm-up run first writes
each tree's .pyc files.

What moves the count between two runs of one tree is what follows the clock: on Kafka,
the consumers' polls and heartbeats, which a run slowed down fifty times makes many more
of (about ±1.5% here); on the memory bus, about ±0.3%.

    python bench/instructions.py --bytecodes [--base REV] [--bus kafka] [--executions 300]

Where the Python goes, without valgrind: the same phase with every bytecode the
interpreter runs counted (`sys.settrace`, opcode events) by the function that runs it,
printed per execution by file and, for this tree, by function. It is exact and repeats
like the instructions, but it does not see the C a bytecode calls (orjson, pydantic-core,
asyncpg, dict and object machinery): a function's share of the bytecodes is not its
share of the CPU, only where the interpreter spends its turns.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CLIENTS = 100


class _Bytecodes:
    """Bytecodes run per function while on: a trace function asking for opcode events."""

    def __init__(self) -> None:
        self.counts: collections.Counter[tuple[str, int, str]] = collections.Counter()

    def _trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            self.counts[(code.co_filename, code.co_firstlineno, code.co_qualname)] += 1
        return self._trace

    def switch(self, on: bool) -> None:
        sys.settrace(self._trace if on else None)
        threading.settrace(self._trace if on else None)

    def dump(self, path: str, tree: Path, executions: int) -> None:
        def where(filename: str) -> str:
            name = filename.replace(f"{tree}/", "")
            return name.split("site-packages/")[-1].split("/lib/python3.11/")[-1]

        functions = {f"{where(f)}:{line} {name}": n for (f, line, name), n in self.counts.items()}
        Path(path).write_text(json.dumps({"executions": executions, "functions": functions}))


async def _phase(
    bus: str, store: str, executions: int, counting: bool, tracer: _Bytecodes | None = None
) -> None:
    """In the child: the executions, counted between the two toggles. The start-up is
    spelled out as bench/production.py's, not shared: the child runs with --base's tree
    on its path, whose bench/ modules are that commit's (FIVE and Finishes exist in every
    commit this compares with)."""
    from bench.foundation import FIVE, Finishes
    from engine.server import Podium
    from engine.settings import Settings

    def count(on: bool) -> None:
        if tracer is not None:
            tracer.switch(on)
        elif counting:
            switch = ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())]
            subprocess.run(switch, check=True, capture_output=True)

    with tempfile.TemporaryDirectory(prefix="podium-bench-") as data:
        settings = Settings(data=Path(data), bus=bus, store=store)
        async with Podium(settings, environ={}, serve_http=False) as podium:
            ready = asyncio.Event()
            async with asyncio.TaskGroup() as group:
                group.create_task(podium.run(ready=ready))
                await ready.wait()
                finishes = Finishes(podium)
                await finishes.open()
                await podium.flows.save(FIVE)
                for _ in range(2):
                    warm = await podium.intake.execute("bench", "five")
                    await finishes.wait({warm.execution_id})
                count(True)
                ids: set[str] = set()
                for start in range(0, executions, CLIENTS):
                    requests = await asyncio.gather(
                        *(
                            podium.intake.execute("bench", "five")
                            for _ in range(min(CLIENTS, executions - start))
                        )
                    )
                    ids.update(r.execution_id for r in requests)
                await finishes.wait(ids)
                count(False)
                podium.stop()


def _child(args: argparse.Namespace) -> None:
    from bench.production import run
    from tests.support.postgres import SERVER, fresh_database

    tracer = _Bytecodes() if args.bytecodes_out else None
    with fresh_database("podium_instructions") as database:
        store = f"{SERVER}/{database}"
        run(_phase(args.child_bus, store, args.executions, args.counting, tracer), "uvloop")
    if tracer is not None:
        tracer.dump(args.bytecodes_out, Path(os.environ["PYTHONPATH"]), args.executions)


def count(tree: Path, bus: str, executions: int) -> int:
    """Instructions per execution of one counted run of `tree`'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the .pyc files are read, as in production
    child = [sys.executable, str(Path(__file__).resolve()), "--child-bus", bus]
    subprocess.run([*child, "--executions", "2"], cwd=tree, env=env, check=True)  # .pyc
    child += ["--executions", str(executions)]
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                "valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={out}/callgrind.out", *child, "--counting",
            ],
            cwd=tree, env=env, check=True, capture_output=True,
        )  # fmt: skip
        total = 0
        for dump in Path(out).iterdir():  # one file per dump: a toggle may write one
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith("totals:"):  # ("summary:" says 0 when counting starts off)
                    total += int(line.split()[1])
    return total // executions


def bytecodes(tree: Path, bus: str, executions: int) -> dict[str, float]:
    """Bytecodes per execution by function, one traced run of `tree`'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    child = [sys.executable, str(Path(__file__).resolve()), "--child-bus", bus]
    with tempfile.TemporaryDirectory() as out:
        dump = f"{out}/bytecodes.json"
        child += ["--executions", str(executions), "--bytecodes-out", dump]
        subprocess.run(child, cwd=tree, env=env, check=True, capture_output=True)
        counted = json.loads(Path(dump).read_text())
    return {where: n / counted["executions"] for where, n in counted["functions"].items()}


def print_bytecodes(by_tree: dict[str, dict[str, float]], top: int = 30) -> None:
    """Per file for every tree side by side, then this tree's functions."""
    files: dict[str, dict[str, float]] = {}
    for name, functions in by_tree.items():
        per_file = files[name] = collections.defaultdict(float)
        for where, n in functions.items():
            per_file[where.split(":")[0]] += n
    names = list(by_tree)
    print("bytecodes per execution: " + ", ".join(
        f"{name} {sum(by_tree[name].values()):,.0f}" for name in names
    ))  # fmt: skip
    print("by file: " + " | ".join(names))
    ranked = sorted(files[names[-1]], key=files[names[-1]].__getitem__, reverse=True)
    for file in ranked[:top]:
        print("  " + " | ".join(f"{files[name][file]:8,.0f}" for name in names) + f"  {file}")
    print(f"by function ({names[-1]}):")
    mine = by_tree[names[-1]]
    for where in sorted(mine, key=mine.__getitem__, reverse=True)[:top]:
        n = mine[where]
        print(f"  {n:8,.0f}  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", help="a commit to count beside this tree")
    parser.add_argument("--bus", choices=["memory", "kafka"], default="memory")
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--bytecodes", action="store_true", help="count bytecodes by function, not instructions"
    )
    parser.add_argument("--top", type=int, default=30, help="rows printed with --bytecodes")
    parser.add_argument("--child-bus", help=argparse.SUPPRESS)
    parser.add_argument("--counting", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bytecodes-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_bus:  # the tree counted is the one on PYTHONPATH, not this file's
        _child(args)
        return
    sys.path.insert(0, str(ROOT))

    from bench.production import BUS_OPTIONS
    from bench.worktree import checked_out
    from tests.support.kafka import running_broker

    with contextlib.ExitStack() as stack:
        trees = {"this tree": ROOT}
        if args.base:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "base"
            trees = {args.base: stack.enter_context(checked_out(args.base, folder)), **trees}
        bus = "memory://"
        if args.bus == "kafka":
            bus = f"{stack.enter_context(running_broker()).url}?{BUS_OPTIONS}"
        if args.bytecodes:
            executions = 300 if args.executions == 1000 else args.executions
            print_bytecodes(
                {name: bytecodes(t, bus, executions) for name, t in trees.items()}, args.top
            )
            return
        counts: dict[str, list[int]] = {name: [] for name in trees}
        for round_ in range(1, args.rounds + 1):
            for name, tree in trees.items():
                counts[name].append(count(tree, bus, args.executions))
                print(f"round {round_}: {name}: {counts[name][-1]:,} instructions per execution")
        print(f"medians of {args.rounds} rounds, {args.bus} bus:")
        for name, figures in counts.items():
            print(f"  {name}: {statistics.median(figures):,.0f} per execution")


if __name__ == "__main__":
    main()
