"""A private PostgreSQL server for tests that stop and restart their database.

`initdb` into a temporary folder (as the `postgres` user: initdb refuses root), trust
auth, listening on a free loopback port. The machine's shared server is never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresInstance"]


def _bin(name: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))
    return str(versions[-1] / "bin" / name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresInstance:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="podium-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        shutil.chown(self.root, "postgres", "postgres")

    def __repr__(self) -> str:
        return f"<PostgresInstance 127.0.0.1:{self.port} {self.data}>"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, timeout: float = 120) -> None:
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, timeout=timeout, capture_output=True, cwd=self.root)

    def __enter__(self) -> PostgresInstance:
        self._as_postgres(
            _bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            _bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
            str(self.root / "server.log"), "-w", "start",
        )  # fmt: skip
        self._wait(up=True)

    def stop(self, *, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, *, down_seconds: float = 0.0) -> None:
        """Stop (dropping every connection), stay down a while, start again."""
        self.stop(mode="immediate")
        time.sleep(down_seconds)
        self.start()

    def _wait(self, *, up: bool, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    if up:
                        return
            except OSError:
                if not up:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self!r} did not come {'up' if up else 'down'}")
