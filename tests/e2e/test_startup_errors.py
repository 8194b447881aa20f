"""`podium server …` that cannot start says why in one line, naming the setting to change,
and exits with 2; `--debug` shows the traceback. Each case is a real process against a
real obstacle: a bound port, a closed port, the Tansu broker, a held lock."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kafka import TansuBroker

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def podium_server(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    environ.update(
        PYTHONPATH=os.environ.get("PYTHONPATH", str(ROOT)),
        PODIUM_ADMIN_USER="admin",
        PODIUM_ADMIN_PASSWORD="startup-errors",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "server", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("podium: ")]
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_busy_port(busy_port: int, tmp_path: Path) -> None:
    done = podium_server("local", "--port", str(busy_port), "--data", str(tmp_path))
    assert_one_line(done, f"port {busy_port} on 127.0.0.1 is in use", "--port", "PODIUM_PORT")


def test_debug_shows_the_traceback(busy_port: int, tmp_path: Path) -> None:
    done = podium_server("local", "--port", str(busy_port), "--data", str(tmp_path), "--debug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr
    assert "address already in use" in done.stderr.lower()


def test_postgresql_out_of_reach(closed_port: int, tmp_path: Path) -> None:
    done = podium_server(
        "standalone",
        "--port",
        "0",
        "--data",
        str(tmp_path),
        PODIUM_STORE=f"postgresql://podium:secret@127.0.0.1:{closed_port}/podium",
    )
    assert_one_line(done, "cannot reach PostgreSQL", "`store`", "PODIUM_STORE")
    assert "secret" not in done.stderr


def test_a_broker_out_of_reach(closed_port: int, tmp_path: Path) -> None:
    done = podium_server(
        "executor",
        "--data",
        str(tmp_path),
        PODIUM_BUS=f"kafka://127.0.0.1:{closed_port}?call_timeout=10",
    )
    assert_one_line(done, "cannot reach the Kafka broker", "`bus`", "PODIUM_BUS")


def test_a_broker_that_refuses_idempotent_producers(tmp_path: Path) -> None:
    # a private Tansu broker (also when PODIUM_TEST_BUS names a real cluster, which gives
    # producer ids): Tansu answers InitProducerId with an error
    (tmp_path / "broker").mkdir()
    with TansuBroker(tmp_path / "broker") as broker:
        done = podium_server("executor", "--data", str(tmp_path / "data"), PODIUM_BUS=broker.url)
    assert_one_line(
        done,
        "the broker does not support idempotent producers: set enable_idempotence=false",
    )


def test_a_locked_data_folder(tmp_path: Path) -> None:
    with open(tmp_path / "podium.lock", "a+") as held:  # as a running server holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = podium_server("local", "--port", "0", "--data", str(tmp_path))
    assert_one_line(done, "is in use by another Podium process", "--data", "PODIUM_DATA")
