"""Fixtures for script tasks: helpers to watch processes, and the Podman service.

`docker_host` is the Docker-API service (Podman) that scripts/test starts, with the test
images it builds (scripts/podman-service, scripts/build-test-images): nothing is installed
or started from here. A missing service is not a reason to skip: the Docker tests fail
and say which command sets it up.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from engine.events import LogLine
from tasks.scripts.runners import docker as docker_runner
from tests.conftest import Harness

DEFAULT_SOCKET = Path(os.environ.get("PODIUM_PODMAN_DIR", "/run/podium-podman")) / "podman.sock"


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


def _get(endpoint: str, path: str) -> int:
    """The HTTP status of GET `path` on the unix socket of `endpoint` (0: no answer).
    A busy Podman service (vfs storage, other test sessions) can take seconds to answer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    head = b""
    try:
        sock.connect(endpoint.removeprefix("unix://"))
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: d\r\n\r\n".encode())
        while b"\r\n" not in head and len(head) < 1024:
            chunk = sock.recv(1024)
            if not chunk:
                break
            head += chunk
    except OSError:
        return 0
    finally:
        sock.close()
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


@pytest.fixture(scope="session")
def docker_host() -> str:
    """The Docker API endpoint (Podman), with the test images built."""
    endpoint = os.environ.get("PODIUM_TEST_DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
    setup = "scripts/test sets it up; by hand: scripts/podman-service && scripts/build-test-images"
    if _get(endpoint, "/_ping") != 200:
        pytest.fail(f"no Podman service answers on {endpoint}: {setup}", pytrace=False)
    for image in ("localhost/podium-python", "localhost/podium-python-kestra"):
        if _get(endpoint, f"/images/{image}/json") != 200:
            pytest.fail(f"the test image {image} is missing: {setup}", pytrace=False)
    return endpoint


@pytest.fixture
def no_docker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Docker endpoint configured, whatever the machine has (its sockets included)."""
    monkeypatch.delenv("PODIUM_DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(docker_runner, "SOCKETS", ())
