"""Fixtures for script tasks: helpers to watch processes, and the Podman service.

`docker_host` starts the Docker-API service (scripts/podman-service) and builds the test
images (scripts/build-test-images) once per session. Those scripts install what they
need, so a missing Podman is not a reason to skip: the Docker tests fail with the
scripts' own output instead.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from engine.events import LogLine
from tasks.scripts.runners import docker as docker_runner
from tests.conftest import Harness

ROOT = Path(__file__).resolve().parents[3]
SETUP_SECONDS = 1800


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name: state, ppid, pgrp, ...
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def is_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


async def wait_for_log(
    harness: Harness, execution_id: str, needle: str, timeout: float = 20.0
) -> LogLine:
    """The first log line containing `needle`, once it reached the store."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await harness.podium.projector.caught_up()
        for line in await harness.podium.store.logs(execution_id):
            if needle in line.message:
                return line
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no log line with {needle!r} in {timeout}s")
        await asyncio.sleep(0.05)


def _run_setup(script: str) -> str:
    try:
        done = subprocess.run(
            [str(ROOT / "scripts" / script)],
            capture_output=True,
            text=True,
            timeout=SETUP_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"scripts/{script} could not run: {exc}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"scripts/{script} failed (exit {done.returncode}); the Docker runner tests need "
            f"its Podman service:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}",
            pytrace=False,
        )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


@pytest.fixture(scope="session")
def docker_host() -> str:
    """The Docker API endpoint (Podman), with the test images built."""
    endpoint = _run_setup("podman-service")
    _run_setup("build-test-images")
    assert endpoint.startswith("unix://"), endpoint
    return endpoint


@pytest.fixture
def no_docker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Docker endpoint configured, whatever the machine has (its sockets included)."""
    monkeypatch.delenv("PODIUM_DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(docker_runner, "SOCKETS", ())
