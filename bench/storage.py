"""storage.Split benchmark: the task beside coreutils `split -l` on the same CSV.

    python bench/storage.py [--size 1GB] [--rows 1000000] [--json PATH]

Generates a CSV of `--size` (a few large writes), then, one after the other:
  split -l      coreutils splitting the file every `--rows` lines into a temporary folder
  Split         a whole embedded Podium (in a process of its own) running a flow whose
                storage.Split cuts the same file every `--rows` lines, from internal
                storage into internal storage
Each prints MB/s (of the file's size over the wall time of the split: for the task, its
task run's start to end as the engine recorded them) and its process's peak RSS (for
Podium, also the growth of that peak while the flow ran, on top of the server's own).
Figures go to bench/results/storage-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = b"1234567,2026-12-03T20:00:00,2026-12-03T20:17:42,1,3.4,N,161,237,1,14.9,some text\n"

PODIUM = r"""
import asyncio, json, resource, sys
from pathlib import Path

from tests.conftest import running_podium

FLOW = '''
id: split
namespace: bench.storage
inputs:
  - {id: uri, type: STRING}
  - {id: rows, type: INT}
tasks:
  - {id: split, type: io.kestra.plugin.core.storage.Split, from: "{{ inputs.uri }}", rows: "{{ inputs.rows }}"}
'''


def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def main(source: Path, data: Path, rows: int) -> None:
    async with running_podium(data) as podium:
        target = podium.storage.root / "bench" / source.name
        target.parent.mkdir(parents=True)
        target.hardlink_to(source)  # the same bytes, no copy
        flow = await podium.flows.save(FLOW)
        before = peak()
        request = await podium.intake.execute(
            flow.namespace, flow.id, inputs={"uri": f"kestra:///bench/{source.name}", "rows": rows}
        )
        while True:
            await podium.projector.caught_up()
            found = await podium.store.get_execution(request.execution_id)
            if found is not None and found.state.is_terminal:
                break
            await asyncio.sleep(0.05)
        (run,) = await podium.store.task_runs(request.execution_id)
        print(json.dumps({
            "state": found.state.value,
            "seconds": (run.ended_at - run.started_at).total_seconds(),
            "parts": len(run.outputs.get("uris", [])),
            "peak": peak(),
            "growth": peak() - before,
        }))


asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
"""


def parse_size(text: str) -> int:
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def generate(path: Path, size: int) -> None:
    """`size` bytes of whole lines, written 16 MiB at a time."""
    block = LINE * ((16 << 20) // len(LINE))
    size -= size % len(LINE)
    with path.open("wb") as out:
        written = 0
        while written < size:
            written += out.write(block[: size - written])


def run_coreutils(source: Path, folder: Path, rows: int) -> dict[str, float]:
    out = folder / "coreutils"
    out.mkdir()
    started = time.perf_counter()
    child = subprocess.Popen(["split", "-l", str(rows), str(source), str(out / "part-")])
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    assert status == 0, f"split exited with {status}"
    parts = len(list(out.iterdir()))
    shutil.rmtree(out)
    return {"seconds": seconds, "parts": parts, "peak_rss_mb": usage.ru_maxrss / 1024}


def run_podium(source: Path, folder: Path, rows: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", PODIUM, str(source), str(folder / "podium"), str(rows)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["state"] == "SUCCESS", report
    return {
        "seconds": report["seconds"],
        "parts": report["parts"],
        "peak_rss_mb": report["peak"] / (1 << 20),
        "peak_growth_mb": report["growth"] / (1 << 20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1GB")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="podium-bench-storage-") as tmp:
        folder = Path(tmp)
        source = folder / "trips.csv"
        generate(source, size)
        size = source.stat().st_size
        print(
            f"file: {size / (1 << 20):.0f} MiB, {size // len(LINE):,} lines, split every {args.rows:,}"
        )
        results = {"split -l": run_coreutils(source, folder, args.rows)}
        results["storage.Split"] = run_podium(source, folder, args.rows)
    print(f"{'':16}{'MB/s':>8}{'seconds':>9}{'parts':>7}{'peak RSS MB':>13}{'growth MB':>11}")
    for name, figures in results.items():
        figures["mb_per_s"] = size / (1 << 20) / figures["seconds"]
        growth = figures.get("peak_growth_mb")
        print(
            f"{name:16}{figures['mb_per_s']:8.0f}{figures['seconds']:9.2f}{figures['parts']:7.0f}"
            f"{figures['peak_rss_mb']:13.0f}{'' if growth is None else f'{growth:11.0f}'}"
        )
    ratio = results["split -l"]["seconds"] / results["storage.Split"]["seconds"]
    print(f"storage.Split runs at {ratio:.2f}x the speed of split -l")
    load = os.getloadavg()[0]
    output = args.json or ROOT / "bench" / "results" / f"storage-{dt.date.today()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps({"size": size, "rows": args.rows, "load": load, "results": results}, indent=2)
    )
    print(f"(load average {load:.1f}; figures in {output})")


if __name__ == "__main__":
    main()
