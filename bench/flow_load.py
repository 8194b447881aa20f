"""Loading a flow, step by step, beside an earlier commit (issue 22, the load side of
`podium flow run`).

    python bench/flow_load.py [--base 9253629] [--rounds 3] [--tasks 1001]

Two flows of N `log.Log` tasks: the one bench/foundation.py runs (N distinct messages
`{{ 'x' ~ i }}`, which fold to constants) and one of N templates as flows write them
(`Row {{ outputs.extract_<i-1>.uri ?? '' }} of {{ inputs.table | default('t<i>') }}`).
For each, a new process per tree and round, this tree and BASE (checked out with
`git worktree add` into a scratch folder) interleaved, prints CPU milliseconds, each the
minimum of 7 runs inside the process with every template cache emptied before each run,
then the median of the rounds:

  yaml       engine.yaml_loader.load_yaml of the text
  checks     the template checks of the flow (flow_checks.template_problems), parsing
             included
  build      the rest of the load: tasks, defaults, models (load_flow without the checks)
  load_flow  the whole load, as `podium flow run` does it
  compile    the first render's compile of every template, after the checks parsed them

The whole-process figures (start-up, cost per task of `podium flow run`) are
bench/foundation.py's `--only cli`; this one says where the load's share goes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.worktree import checked_out  # noqa: E402

STEPS = ("yaml", "checks", "build", "load_flow", "compile")


def constant_flow(n: int) -> str:
    """bench/foundation.py's flow of distinct templates."""
    tasks = "\n".join(
        f"  - id: t{i}\n    type: io.kestra.plugin.core.log.Log\n"
        f"    message: \"{{{{ 'x' ~ {i} }}}}\""
        for i in range(n)
    )
    return f"id: log{n}\nnamespace: bench\ntasks:\n{tasks}\n"


def path_flow(n: int) -> str:
    """Templates as flows write them: task outputs, inputs, a filter."""
    tasks = "\n".join(
        f"  - id: extract_{i}\n    type: io.kestra.plugin.core.log.Log\n"
        f"    message: \"Row {{{{ outputs.extract_{max(i - 1, 0)}.uri ?? '' }}}} of "
        f"{{{{ inputs.table | default('t{i}') }}}}\""
        for i in range(n)
    )
    return f"id: paths{n}\nnamespace: bench\ntasks:\n{tasks}\n"


def _child(flow_file: str) -> None:
    """In a process whose PYTHONPATH starts with the tree measured: print the steps."""
    from engine.catalog import default_registries
    from engine.cli import tune_gc
    from engine.flow import _Builder, load_flow
    from engine.templating import checks, flow_checks
    from engine.templating.environment import ENVIRONMENT
    from engine.yaml_loader import load_yaml

    tune_gc()
    registries = default_registries()
    text = Path(flow_file).read_text(encoding="utf-8")
    load_flow(constant_flow(1), registries)  # models built on first use, not measured

    def empty_caches() -> None:
        checks.analyze.cache_clear()
        ENVIRONMENT._parsed.clear()
        ENVIRONMENT.templates.cache_clear()

    def best(run: Callable[[], object], setup: Callable[[], object] = empty_caches) -> float:
        fastest = float("inf")
        for _ in range(7):
            setup()
            started = time.process_time()
            run()
            fastest = min(fastest, time.process_time() - started)
        return round(fastest * 1000, 2)

    doc = load_yaml(text, source="bench")
    messages = [task["message"] for task in doc.data["tasks"]]
    fresh: list[object] = []

    def parse_and_check() -> None:
        empty_caches()
        for message in messages:
            checks.analyze(message)

    def compile_all() -> None:
        for message in messages:
            ENVIRONMENT.templates(message)

    figures = {
        "yaml": best(lambda: load_yaml(text, source="bench")),
        "checks": best(
            lambda: flow_checks.template_problems(doc.data, registries.tasks, doc, text)
        ),
        "build": best(
            lambda: _Builder(fresh.pop(), registries, (), None).build(),  # type: ignore[arg-type]
            lambda: (empty_caches(), fresh.append(load_yaml(text, source="bench"))),
        ),
        "load_flow": best(lambda: load_flow(text, registries)),
        "compile": best(compile_all, parse_and_check),
    }
    print(json.dumps(figures))


def _measure(tree: Path, flow_file: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(flow_file)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="9253629", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=1001)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    with tempfile.TemporaryDirectory(prefix="podium-bench-load-") as scratch:
        folder = Path(scratch)
        flows = {"constant": constant_flow(args.tasks), "paths": path_flow(args.tasks)}
        for name, text in flows.items():
            (folder / f"{name}.yml").write_text(text)
        samples: dict[tuple[str, str], list[dict[str, float]]] = {}
        with checked_out(args.base, folder / "previous") as previous:
            trees = {"previous": previous, "now": ROOT}
            for _ in range(args.rounds):
                for name in flows:
                    for label, tree in trees.items():
                        figures = _measure(tree, folder / f"{name}.yml")
                        samples.setdefault((name, label), []).append(figures)
    print(
        f"Loading a flow of {args.tasks} Log tasks, CPU ms (minimum of 7 in a process, "
        f"median of {args.rounds} processes), {args.base} → this tree:"
    )
    for name in flows:
        print(f"  {name} templates")
        for step in STEPS:
            before, after = (
                statistics.median(s[step] for s in samples[(name, label)]) for label in trees
            )
            print(f"    {step:<10} {before:>8.1f} → {after:>7.1f}")
    print(f"  (load average {tuple(round(x, 1) for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
