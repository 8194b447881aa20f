"""`podium server local` as a process: health, the flows folder, and kill -9 mid-flow."""

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "e2e-admin", "e2e-password"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

pytestmark = pytest.mark.e2e

FLOW = """
id: durable
namespace: e2e
tasks:
  - {id: first, type: io.kestra.plugin.core.debug.Return, format: "{{ execution.id }}"}
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT2S}
  - {id: last, type: io.kestra.plugin.core.log.Log, message: "first said {{ outputs.first.value }}"}
"""


class Server:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.base + path, headers={"Authorization": AUTH})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def post(self, path: str, body: bytes = b"", content_type: str = "application/json") -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=body,
            method="POST",
            headers={"Content-Type": content_type, "Authorization": AUTH},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def wait_for(self, execution_id: str, predicate: Any, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.get(f"/api/v1/executions/{execution_id}")
                if predicate(last):
                    return last  # type: ignore[no-any-return]
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"timed out; last seen: {last}")


@contextmanager
def server(data: Path, flows: Path, environ: dict[str, str] | None = None) -> Iterator[Server]:
    log = data.parent / f"server-{time.monotonic_ns()}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "engine.cli",
                "server",
                "local",
                "--port",
                "0",
                "--data",
                str(data),
                "--flows",
                str(flows),
            ],
            cwd=ROOT,
            stderr=sink,
            stdout=subprocess.DEVNULL,
            text=True,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "PODIUM_ADMIN_USER": USER,
                "PODIUM_ADMIN_PASSWORD": PASSWORD,
                **(environ or {}),
            },
        )
    try:
        port = None
        deadline = time.monotonic() + 30
        # ready once every role is: it listens before the scheduler is (/health says DOWN)
        while port is None and time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
            text = log.read_text()
            found = re.search(r"listening on http://[\d.]+:(\d+)", text)
            if found and "podium.server: running " in text:
                port = int(found.group(1))
            time.sleep(0.05)
        assert port is not None, "the server never said where it listens and that it runs"
        yield Server(process, port)
    except BaseException:
        print(log.read_text())  # shown by pytest when the test fails
        raise
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def task(execution: dict[str, Any], task_id: str) -> dict[str, Any]:
    return next(r for r in execution["taskRunList"] if r["taskId"] == task_id)


def test_kill_9_in_the_middle_of_a_flow_loses_nothing(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "durable.yaml").write_text(FLOW)
    data = tmp_path / "data"
    with server(data, flows) as first:
        assert first.get("/health")["status"] == "UP"
        execution_id = first.post("/api/v1/executions/e2e/durable")["id"]
        before = first.wait_for(
            execution_id,
            lambda e: any(
                r["taskId"] == "nap" and r["state"]["current"] == "RUNNING"
                for r in e.get("taskRunList", [])
            ),
        )
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    first_ended = task(before, "first")["state"]["endDate"]
    with server(data, flows) as second:
        after = second.wait_for(execution_id, lambda e: e["state"]["current"] == "SUCCESS")
        logs = second.get(f"/api/v1/logs/{execution_id}")
    assert (
        task(after, "first")["state"]["endDate"] == first_ended
    )  # finished before the kill: not run again
    assert task(after, "last")["state"]["current"] == "SUCCESS"
    assert [line["message"] for line in logs if line["taskId"] == "last"] == [
        f"first said {execution_id}"
    ]


def test_the_flows_folder_is_followed(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "durable.yaml").write_text(FLOW)
    with server(tmp_path / "data", flows) as running:
        assert [f["id"] for f in running.get("/api/v1/flows")] == ["durable"]
        (flows / "second.yml").write_text(FLOW.replace("id: durable", "id: second"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if len(running.get("/api/v1/flows")) == 2:
                break
            time.sleep(0.1)
        assert sorted(f["id"] for f in running.get("/api/v1/flows")) == ["durable", "second"]
        (flows / "durable.yaml").unlink()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(running.get("/api/v1/flows")) != 1:
            time.sleep(0.1)
        assert [f["id"] for f in running.get("/api/v1/flows")] == ["second"]


HOOKED = """
id: hooked
namespace: e2e
tasks:
  - {id: echo, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.body.order }}"}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: e2e-key}
"""


def test_a_webhook_starts_a_flow_on_a_running_server(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hooked.yaml").write_text(HOOKED)
    with server(tmp_path / "data", flows) as running:
        started = running.post("/api/v1/executions/webhook/e2e/hooked/e2e-key", b'{"order": 42}')
        done = running.wait_for(started["id"], lambda e: e["state"]["current"] == "SUCCESS")
        assert task(done, "echo")["outputs"] == {"value": "42"}
        with pytest.raises(urllib.error.HTTPError) as refused:
            running.post("/api/v1/executions/webhook/e2e/hooked/wrong", b"{}")
        assert refused.value.code == 404
        refused.value.close()  # an HTTPError holds the response's socket


WATCHER = """
id: inbox
namespace: e2e
tasks:
  - {id: seen, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.file.name }} {{ trigger.file.size }}"}
triggers:
  - id: drop
    type: io.kestra.plugin.fs.local.RealtimeTrigger
    from: "{{ envs.inbox }}"
"""

TICKING = """
id: ticking
namespace: e2e
tasks:
  - {id: tick, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.date }}"}
triggers:
  - {id: every_second, type: io.kestra.plugin.core.trigger.Schedule, cron: "* * * * * *", withSeconds: true, timezone: UTC}
"""

AFTER = """
id: after
namespace: e2e
tasks:
  - {id: report, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.flowId }} {{ trigger.state }}"}
triggers:
  - id: after_inbox
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      flows: [{namespace: e2e, flowId: inbox, states: [SUCCESS]}]
"""


def wait_search(
    running: Server, flow_id: str, predicate: Any, timeout: float = 30
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = running.get(f"/api/v1/executions/search?namespace=e2e&flowId={flow_id}")["results"]
        if predicate(found):
            return found
        time.sleep(0.1)
    raise AssertionError(f"{flow_id}: {found}")


def test_files_schedules_and_flow_triggers_on_a_running_server(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (flows / "inbox.yaml").write_text(WATCHER)
    (flows / "ticking.yaml").write_text(TICKING)
    (flows / "after.yaml").write_text(AFTER)
    environ = {"PODIUM_ALLOWED_PATHS": str(tmp_path), "ENV_INBOX": str(inbox)}
    with server(tmp_path / "data", flows, environ) as running:
        (inbox / "orders.csv").write_text("id\n1\n2\n")
        [dropped] = wait_search(
            running, "inbox", lambda found: any(e["state"]["current"] == "SUCCESS" for e in found)
        )
        done = running.get(f"/api/v1/executions/{dropped['id']}")
        assert task(done, "seen")["outputs"] == {"value": "orders.csv 7"}
        [after] = wait_search(
            running, "after", lambda found: any(e["state"]["current"] == "SUCCESS" for e in found)
        )
        done = running.get(f"/api/v1/executions/{after['id']}")
        assert task(done, "report")["outputs"] == {"value": "inbox SUCCESS"}
        ticks = wait_search(
            running,
            "ticking",
            lambda found: sum(e["state"]["current"] == "SUCCESS" for e in found) >= 2,
        )
        dates = sorted(
            running.get(f"/api/v1/executions/{e['id']}")["trigger"]["variables"]["date"]
            for e in ticks
        )
        assert len(set(dates)) == len(dates)  # each second fired once


def test_without_a_configured_user_an_admin_is_created_and_its_password_shown_once(
    tmp_path: Path,
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    data = tmp_path / "data"
    unset = {"PODIUM_ADMIN_USER": "", "PODIUM_ADMIN_PASSWORD": ""}
    with server(data, flows, unset) as running:
        log = next(data.parent.glob("server-*.log")).read_text()
        password = re.search(r"created the user 'admin' with the password (\S+)", log)
        assert password is not None
        token = base64.b64encode(f"admin:{password.group(1)}".encode()).decode()
        request = urllib.request.Request(
            running.base + "/api/v1/flows", headers={"Authorization": f"Basic {token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read()) == []
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(running.base + "/api/v1/flows", timeout=5)
        assert refused.value.code == 401
        refused.value.close()
    assert password.group(1) not in (data / "admin-user.json").read_text()
    with server(data, flows, unset):
        pass
    logs = sorted(data.parent.glob("server-*.log"))
    assert len(logs) == 2 and "created the user" not in logs[-1].read_text()
