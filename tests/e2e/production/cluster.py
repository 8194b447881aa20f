"""Podium's roles as separate processes on a Kafka broker and a PostgreSQL database.

`Cluster` starts `podium server <role>` subprocesses with PODIUM_BUS / PODIUM_STORE in
their environment, finds the port each one serves (`--port 0`, read from its log), and
kills, stops or adds them while a test runs. `api()` talks to the webserver with the
admin's basic-auth credentials.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.states import State

__all__ = ["Cluster", "Role", "state_of"]

ADMIN = ("admin", "admin-password-for-tests")
START_SECONDS = 60.0
_LISTENING = re.compile(r"listening on http://[\d.]+:(\d+)")

# Small timeouts, so a dead member's partitions move within seconds.
KAFKA_TEST_OPTIONS = (
    "partitions=3&enable_idempotence=false&session_timeout_ms=3000"
    "&heartbeat_interval_ms=500&rebalance_timeout_ms=10000&request_timeout_ms=5000"
    "&call_timeout=8&exact_end_offsets=true&fetch_max_wait_ms=20"
)


class Role:
    def __init__(self, name: str, role: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.role = role
        self.process = process
        self.log = log
        self.port: int | None = None

    def __repr__(self) -> str:
        return f"<Role {self.name} ({self.role}) pid={self.process.pid} port={self.port}>"

    @property
    def is_running(self) -> bool:
        return self.process.poll() is None

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as r:
                return json.loads(r.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())  # type: ignore[no-any-return]

    def log_tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:]


class Cluster:
    def __init__(self, workdir: Path, kafka_url: str, store_url: str) -> None:
        self.workdir = workdir
        self.bus_url = f"{kafka_url}?{KAFKA_TEST_OPTIONS}"
        self.store_url = store_url
        self.roles: dict[str, Role] = {}
        self.environ = {
            **os.environ,
            "PODIUM_BUS": self.bus_url,
            "PODIUM_STORE": store_url,
            "PODIUM_DATA": str(workdir / "data"),
            "PODIUM_ADMIN_USER": ADMIN[0],
            "PODIUM_ADMIN_PASSWORD": ADMIN[1],
            "PODIUM_EXECUTOR__REVOKE_GRACE_SECONDS": "1",
            "PODIUM_EXECUTOR__DRAIN_SECONDS": "2",
            "PODIUM_TRIGGERS__REFRESH_SECONDS": "0.5",
        }

    def __repr__(self) -> str:
        return f"<Cluster {sorted(self.roles)}>"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "engine.cli", *args],
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"podium {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(
        self, name: str, role: str, *, wait: bool = True, env: Mapping[str, str] | None = None
    ) -> Role:
        """`env`: settings of this role alone (`PODIUM_RETENTION__EXECUTIONS`, …), over
        the cluster's."""
        log = self.workdir / f"{name}.log"
        with log.open("ab") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "server", role, "--port", "0"],
                env={**self.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started = self.roles[name] = Role(name, role, process, log)
        if wait:
            self.wait_up(started)
        return started

    def wait_up(self, role: Role) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if not role.is_running:
                raise AssertionError(f"{role!r} exited:\n{role.log_tail()}")
            if role.port is None:
                found = _LISTENING.search(role.log.read_text(errors="replace"))
                role.port = int(found.group(1)) if found else None
            if role.port is not None and role.health().get("status") == "UP":
                return
            time.sleep(0.1)
        raise AssertionError(f"{role!r} never came up:\n{role.log_tail()}")

    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        role = self.roles[name]
        role.process.send_signal(signum)
        role.process.wait(timeout=60)

    def stop_all(self) -> None:
        for role in self.roles.values():
            if role.is_running:
                role.process.send_signal(signal.SIGTERM)
        for role in self.roles.values():
            try:
                role.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                role.process.kill()
                role.process.wait()

    # -- the webserver's API ------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None) -> Any:
        webserver = next(r for r in self.roles.values() if r.role == "webserver")
        data = json.dumps(body).encode() if body is not None else None
        token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{webserver.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def execute(self, namespace: str, flow_id: str, inputs: dict[str, Any] | None = None) -> str:
        created = self.api("POST", f"/api/v1/executions/{namespace}/{flow_id}", inputs or {})
        return str(created["id"])

    def execution(self, execution_id: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.api("GET", f"/api/v1/executions/{execution_id}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return found

    def wait_all(self, execution_ids: list[str], timeout: float = 120.0) -> list[dict[str, Any]]:
        """Every execution terminal, as the API shows it."""
        deadline = time.monotonic() + timeout
        pending = list(execution_ids)
        done: dict[str, dict[str, Any]] = {}
        while pending:
            for execution_id in list(pending):
                found = self.execution(execution_id)
                if found is not None and State(state_of(found)).is_terminal:
                    done[execution_id] = found
                    pending.remove(execution_id)
            if pending and time.monotonic() > deadline:
                states = {i: state_of(self.execution(i)) for i in pending[:5]}
                raise AssertionError(f"{len(pending)} executions never ended: {states}")
            time.sleep(0.2)
        return [done[i] for i in execution_ids]

    def finished_task_runs(self, execution_id: str) -> int:
        found = self.execution(execution_id) or {}
        runs = found.get("taskRunList", [])
        return sum(1 for r in runs if State(state_of(r)).is_terminal)


def state_of(document: dict[str, Any] | None) -> str:
    """An execution's or task run's current state, in the API's (Kestra's) shape."""
    return "MISSING" if document is None else str(document["state"]["current"])
