"""Where the Docker runner finds its engine: DOCKER_HOST, then PODIUM_DOCKER_HOST, then
the usual sockets that exist; and compose/course.yml mounts the socket it falls back to."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tasks.scripts.runners.docker import SOCKETS, default_endpoint

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[Path]:
    """A real unix socket, as a running engine leaves one."""
    path = tmp_path / "run" / "podman" / "podman.sock"
    path.parent.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        yield path


def test_docker_host_comes_first_then_podiums_setting() -> None:
    both = {"DOCKER_HOST": "tcp://docker:2375", "PODIUM_DOCKER_HOST": "unix:///p.sock"}
    assert default_endpoint(both, sockets=()) == "tcp://docker:2375"
    assert default_endpoint({"PODIUM_DOCKER_HOST": "unix:///p.sock"}, sockets=()) == (
        "unix:///p.sock"
    )


def test_then_the_first_usual_socket_present(tmp_path: Path, listening: Path) -> None:
    absent = str(tmp_path / "docker.sock")
    not_a_socket = tmp_path / "file.sock"
    not_a_socket.write_text("")
    candidates = (absent, str(not_a_socket), "{runtime}/podman/podman.sock")
    environ = {"XDG_RUNTIME_DIR": str(tmp_path / "run")}
    assert default_endpoint(environ, sockets=candidates) == f"unix://{listening}"
    assert default_endpoint(environ, sockets=candidates[:2]) is None
    # a variable, even with a socket present, wins
    assert default_endpoint({**environ, "DOCKER_HOST": "tcp://x:1"}, candidates) == "tcp://x:1"


def test_the_usual_sockets_are_dockers_then_podmans() -> None:
    assert SOCKETS[0] == "/var/run/docker.sock"  # what Kestra's Docker client falls back to
    assert "/run/podman/podman.sock" in SOCKETS
    assert "{runtime}/podman/podman.sock" in SOCKETS


def _default(value: str) -> str:
    """`${NAME:-default}` as compose reads it when NAME is not set."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_the_course_stack_mounts_the_socket_the_runner_falls_back_to() -> None:
    compose = yaml.safe_load((ROOT / "compose" / "course.yml").read_text())
    podium = compose["services"]["podium"]
    environment = podium.get("environment") or {}
    assert "DOCKER_HOST" not in environment and "PODIUM_DOCKER_HOST" not in environment
    mounts = [_default(v).rsplit(":", 1) for v in podium["volumes"]]
    sockets = [inside for _, inside in mounts if inside.endswith(".sock")]
    assert sockets == [SOCKETS[0]]
    # a task's working folder (under --data) has the same path for the host's engine
    command = [_default(part) for part in podium["command"]]
    data = command[command.index("--data") + 1]
    assert [data, data] in mounts
