"""Large files are streamed: storage.Split then storage.Concat of a 1 GiB CSV, run by a
whole Podium in a process of its own, grow that process's peak memory by far less than
the file (a task reading the file whole would add a GiB at least)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GIB = 1 << 30
CEILING = 64 << 20  # peak memory growth allowed while the tasks run (measured: ~3 MiB)

# Run in a child process, so its peak memory (ru_maxrss) is the run's own: start a
# Podium, write the file straight into its internal storage (a few 1 MiB writes), then
# run the flow and report the peak before and after it.
CHILD = r"""
import asyncio, json, os, resource, sys
from pathlib import Path

from engine.events import ExecutionChanged
from tests.conftest import running_podium

FLOW = '''
id: big
namespace: tests.memory
inputs:
  - {id: uri, type: STRING}
tasks:
  - {id: split, type: io.kestra.plugin.core.storage.Split, from: "{{ inputs.uri }}", rows: 1000000}
  - {id: join, type: io.kestra.plugin.core.storage.Concat, files: "{{ outputs.split.uris }}"}
  - {id: size, type: io.kestra.plugin.core.storage.Size, uri: "{{ outputs.join.uri }}"}
'''


def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


async def main(data: Path, size: int) -> None:
    async with running_podium(data) as podium:
        line = b"1234567,2026-12-03T20:00:00,some text here,42.5,true\n"  # 52 bytes
        block = line * ((16 << 20) // len(line))
        path = podium.storage.root / "memory" / "big.csv"
        path.parent.mkdir(parents=True)
        with path.open("wb") as out:  # `size` bytes, the last one a line end
            out.write(block)
            out.flush()
            written = len(block)
            while written < size - 1:  # the rest copied by the kernel from the first block
                count = min(len(block), size - 1 - written)
                try:
                    written += os.copy_file_range(out.fileno(), out.fileno(), count, 0, written)
                except OSError:  # a file system that cannot: written from here
                    out.seek(written)
                    written += out.write(block[:count])
                    out.flush()
            out.seek(written)
            out.write(b"\n")
        flow = await podium.flows.save(FLOW)
        before = peak()
        request = await podium.intake.execute(
            flow.namespace, flow.id, inputs={"uri": "kestra:///memory/big.csv"}
        )
        while True:
            await podium.projector.caught_up()
            found = await podium.store.get_execution(request.execution_id)
            if found is not None and found.state.is_terminal:
                break
            await asyncio.sleep(0.1)
        runs = {r.task_id: r for r in await podium.store.task_runs(request.execution_id)}
        seconds = {k: (r.ended_at - r.started_at).total_seconds() for k, r in runs.items()}
        print(json.dumps({
            "state": found.state.value,
            "parts": len(runs["split"].outputs.get("uris", [])),
            "size": runs["size"].outputs.get("size"),
            "before": before,
            "after": peak(),
            "seconds": seconds,
            "error": found.error or [r.error for r in runs.values() if r.error],
        }))
        path.unlink()


asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
"""


def test_split_and_concat_of_a_gib_stay_within_a_memory_ceiling(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "data"), str(GIB)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["state"] == "SUCCESS", report
    assert report["size"] == GIB
    assert report["parts"] == 21  # 20,648,882 lines of (at most) 52 bytes
    growth = report["after"] - report["before"]
    assert growth < CEILING, f"peak memory grew by {growth / (1 << 20):.0f} MiB: {report}"
