"""A script's processes die with the executor that started them, even on kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

# The executor, reduced to what matters: a process that runs a shell script through the
# Process runner, as a Shell Commands task does, and waits.
RUNNER = """
import asyncio, sys
from pathlib import Path
from tasks.scripts.runners.process import run_process

async def main() -> None:
    print("started", flush=True)
    await run_process(
        ["/bin/sh", "-c", sys.argv[1]], env={"PATH": "/usr/bin:/bin"}, cwd=Path(sys.argv[2]),
        on_line=lambda stream, line: print(stream, line, flush=True),
    )

asyncio.run(main())
"""


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if f"CHAOS_MARKER={marker}".encode() in environ and "State:\tZ" not in status:
            found.append(int(entry.name))
    return found


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("script", ["sleep 600", "sleep 600 & sleep 601 & wait", "exec sleep 600"])
def test_a_script_dies_with_its_executor(tmp_path: Path, script: str) -> None:
    marker = uuid.uuid4().hex
    with subprocess.Popen(
        [sys.executable, "-c", RUNNER, f"export CHAOS_MARKER={marker}; {script}", str(tmp_path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    ) as executor:
        _kill_and_watch(executor, marker)


# The same executor, slowed down where a loaded machine once was: between starting the
# script and starting its guard. It is killed there: nothing of the script may survive.
SLOW_GUARD = """
import asyncio, sys
from pathlib import Path
from tasks.scripts.runners import process

real_guard = process._guard

async def slow_guard(pgid):
    print("guard starting", flush=True)
    await asyncio.sleep(60)
    return await real_guard(pgid)

process._guard = slow_guard

async def main() -> None:
    print("started", flush=True)
    await process.run_process(
        ["/bin/sh", "-c", sys.argv[1]], cwd=Path(sys.argv[2]),
        env={"PATH": "/usr/bin:/bin", "CHAOS_MARKER": sys.argv[3]},
        on_line=lambda stream, line: print(stream, line, flush=True),
    )

asyncio.run(main())
"""


@pytest.mark.parametrize("script", ["sleep 600", "exec sleep 600"])
def test_a_kill_between_script_start_and_guard_leaves_no_orphan(
    tmp_path: Path, script: str
) -> None:
    marker = uuid.uuid4().hex
    with subprocess.Popen(
        [sys.executable, "-c", SLOW_GUARD, script, str(tmp_path), marker],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    ) as executor:
        assert executor.stdout is not None
        assert executor.stdout.readline() == b"started\n"
        assert executor.stdout.readline() == b"guard starting\n"
        # the script's process exists (gated or running) while its guard does not yet
        assert wait_for(lambda: processes_with(marker), 10), "the script never started"
        executor.send_signal(signal.SIGKILL)
        executor.wait()
        try:
            survivors = processes_with(marker)
            assert wait_for(lambda: not processes_with(marker), 10), (
                f"processes {survivors} outlived their executor"
            )
        finally:
            for pid in processes_with(marker):
                os.kill(pid, signal.SIGKILL)


def _kill_and_watch(executor: subprocess.Popen[bytes], marker: str) -> None:
    try:
        assert executor.stdout is not None and executor.stdout.readline() == b"started\n"
        assert wait_for(lambda: processes_with(marker), 10), "the script never started"
        executor.send_signal(signal.SIGKILL)
        executor.wait()
        survivors = processes_with(marker)
        assert wait_for(lambda: not processes_with(marker), 10), (
            f"processes {survivors} outlived their executor"
        )
    finally:
        executor.kill()
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
