"""The Docker runner against a real Docker API (the Podman service; see conftest).

Few tests, because every container start copies its image: each one covers several
behaviours at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import subprocess

import aiodocker
import aiohttp
import pytest

from engine.plugin import LevelMethods
from tasks.scripts.models import DockerRunnerSpec
from tasks.scripts.protocol import Stream
from tasks.scripts.runners.docker import (
    HOSTNAME,
    DockerRunner,
    _connect,
    cleanup_orphans,
    is_orphan,
)
from tests.conftest import Harness, Outcome
from tests.tasks.scripts.conftest import wait_for_log

PROCESS = "{type: io.kestra.plugin.core.runner.Process}"

SAME_FLOW = """id: same
namespace: tests.scripts
inputs:
  - {id: name, type: STRING}
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    taskRunner: RUNNER
    containerImage: localhost/podium-python
    env: {GREETING: "hi {{ inputs.name }}"}
    inputFiles:
      data/in.txt: "input for {{ inputs.name }}"
    outputFiles: ["out/**", "*.json"]
    beforeCommands: ['echo "before in $(pwd)"']
    script: |
      import json, os, sys
      assert os.getcwd() == "{{ workingDir }}" == os.environ["WORKING_DIR"], os.getcwd()
      os.makedirs("out/sub", exist_ok=True)
      open("out/sub/copy.txt", "w").write(open("data/in.txt").read())
      json.dump({"greeting": os.environ["GREETING"]}, open("result.json", "w"))
      print("to stderr", file=sys.stderr)
      print('::' + json.dumps({"outputs": {"greeting": os.environ["GREETING"],
            "has_key": "PODIUM_ATTEMPT_KEY" in os.environ}}) + '::')
"""


async def run_flow(harness: Harness, source: str, inputs: dict[str, str] | None = None) -> Outcome:
    """Run a flow, with room for container starts (each copies its image here)."""
    return await harness.wait(await harness.start(source, inputs), timeout=180)


def open_responses(url_part: str) -> list[str]:
    """The live aiohttp responses to `url_part` that still hold their connection."""
    # Looked for among all objects, not through a warning: a leaked response only warns
    # (`Unclosed connection`) when the garbage collector reclaims it, in whatever test
    # runs then.
    return [
        str(item.url)
        for item in gc.get_objects()
        if isinstance(item, aiohttp.ClientResponse)
        and not item.closed
        and url_part in str(item.url)
    ]


class _Logger(LevelMethods):
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def log(self, level: str, message: str) -> None:
        self.lines.append((level, message))


def _files(harness: Harness, outputs: dict[str, str]) -> dict[str, bytes]:
    storage = harness.podium.storage
    return {name: storage.read(uri) for name, uri in outputs.items()}


async def test_the_same_flow_behaves_the_same_on_both_runners(
    real_time_harness: Harness, docker_host: str
) -> None:
    results = {}
    for name, runner in [
        ("process", PROCESS),
        (
            "docker",
            f'{{type: io.kestra.plugin.scripts.runner.docker.Docker, host: "{docker_host}"}}',
        ),
    ]:
        outcome = await run_flow(
            real_time_harness, SAME_FLOW.replace("RUNNER", runner), {"name": name}
        )
        assert outcome.state == "SUCCESS", (name, outcome.task_runs, outcome.messages())
        run = outcome.run("py").outputs
        results[name] = (run, _files(real_time_harness, run["outputFiles"]), outcome.messages())
    for name, (run, files, messages) in results.items():
        assert run["exitCode"] == 0
        assert run["vars"] == {"greeting": f"hi {name}", "has_key": True}
        assert files == {
            "out/sub/copy.txt": f"input for {name}".encode(),
            "result.json": json.dumps({"greeting": f"hi {name}"}).encode(),
        }
        assert "to stderr" in messages and any(m.startswith("before in /") for m in messages)


async def test_default_runner_dependencies_kestra_package_user_and_limits(
    real_time_harness: Harness, docker_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_DOCKER_HOST", docker_host)
    source = """id: kestra_docker
namespace: tests.scripts
tasks:
  - id: stats
    type: io.kestra.plugin.scripts.python.Script
    containerImage: python:slim
    dependencies: [kestra, requests]
    script: |
      from kestra import Kestra
      Kestra.outputs({"downloads": 42})
      Kestra.counter("rows", 3, {"table": "t"})
      Kestra.logger().warning("careful")
  - id: limited
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: localhost/podium-python
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
      user: "1000:1000"
      networkMode: none
      cpu: {cpus: 1}
      memory: {memory: 256MB}
    outputFiles: [who.txt]
    commands:
      - echo in $(cat /etc/debian_version | cut -c1-2)
      - id -u > who.txt
"""
    outcome = await run_flow(real_time_harness, source)
    assert outcome.state == "SUCCESS", (outcome.task_runs, outcome.messages())
    assert outcome.run("stats").outputs["vars"] == {"downloads": 42}
    assert any(line.level == "WARN" and "careful" in line.message for line in outcome.logs)
    assert outcome.messages("limited")[-1] == "in 12"
    who = outcome.run("limited").outputs["outputFiles"]["who.txt"]
    assert real_time_harness.podium.storage.read(who) == b"1000\n"
    assert not any("Process runner" in m for m in outcome.messages())

    def metrics() -> list[tuple[str, str, float, str]]:
        db = real_time_harness.podium.store.db
        return db.execute(
            "SELECT name, kind, value, tags FROM metrics WHERE execution_id = ?",
            (outcome.execution.execution_id,),
        ).fetchall()

    rows = await real_time_harness.podium.store._call(metrics)
    assert [(n, k, v, json.loads(t)) for n, k, v, t in rows] == [
        ("rows", "counter", 3.0, {"table": "t"})
    ]


async def test_a_kill_stops_and_removes_the_running_container(
    real_time_harness: Harness, docker_host: str
) -> None:
    source = f"""id: slow
namespace: tests.scripts
tasks:
  - id: sleeper
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: localhost/podium-python
    taskRunner: {{type: io.kestra.plugin.scripts.runner.docker.Docker, host: "{docker_host}"}}
    commands: ["echo started", "sleep 1000"]
"""
    harness = real_time_harness
    execution_id = await harness.start(source)
    await wait_for_log(harness, execution_id, "started", timeout=180)
    await harness.podium.intake.kill(execution_id, "tests.scripts", "slow")
    outcome = await harness.wait(execution_id, timeout=60)
    assert outcome.state == "KILLED"
    assert open_responses("/containers/") == []
    async with aiodocker.Docker(url=docker_host) as docker:
        label = f"podium.execution-id={execution_id}"
        left = await docker.containers.list(all=True, filters=json.dumps({"label": [label]}))
    assert left == []


async def test_a_log_pump_that_stops_early_closes_its_stream(docker_host: str) -> None:
    """A kill cancels the pumps mid-stream; a failing `on_line` leaves one early. Either
    way the log stream's response is closed at once, while the container still runs."""
    image = "localhost/podium-python"
    runner = DockerRunner(DockerRunnerSpec(host=docker_host), image=image, logger=_Logger())
    labels = {"podium.managed": "true", "podium.host": HOSTNAME, "podium.pid": str(os.getpid())}
    config = {"Image": image, "Cmd": ["sh", "-c", "echo started; sleep 1000"], "Labels": labels}
    started = asyncio.Event()

    def on_line(stream: Stream, line: str) -> None:
        started.set()

    def failing_on_line(stream: Stream, line: str) -> None:
        raise RuntimeError("the task's log sink failed")

    async with await _connect(docker_host) as docker:
        container = await docker.containers.create(config)
        try:
            await container.start()
            pump = asyncio.create_task(runner._pump(container, "stdout", on_line))
            async with asyncio.timeout(60):
                await started.wait()
            pump.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pump
            assert open_responses(container.id) == []

            with pytest.raises(RuntimeError, match="log sink failed"):
                await runner._pump(container, "stdout", failing_on_line)
            assert open_responses(container.id) == []
        finally:
            with contextlib.suppress(aiodocker.DockerError):
                await container.delete(force=True)


async def test_pull_policy_never_fails_without_a_container(
    real_time_harness: Harness, docker_host: str
) -> None:
    source = f"""id: never
namespace: tests.scripts
tasks:
  - id: missing
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: localhost/podium-no-such-image
    taskRunner: {{type: io.kestra.plugin.scripts.runner.docker.Docker, host: "{docker_host}", pullPolicy: NEVER}}
    commands: ["true"]
"""
    outcome = await run_flow(real_time_harness, source)
    assert outcome.state == "FAILED"
    assert "not present and pullPolicy is NEVER" in (outcome.run("missing").error or "")


def _ended_pid() -> int:
    """The pid of a process that has ended: nothing runs under it, as after a crash."""
    ended = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(ended.stdout)


def test_only_containers_of_a_gone_process_of_this_host_are_orphans() -> None:
    gone = _ended_pid()
    mine = {"podium.managed": "true", "podium.host": HOSTNAME, "podium.pid": str(os.getpid())}
    assert not is_orphan(mine)
    assert is_orphan({**mine, "podium.pid": str(gone)})
    assert is_orphan({**mine, "podium.pid": "garbage"})
    assert not is_orphan({**mine, "podium.pid": str(gone), "podium.host": "elsewhere"})
    assert not is_orphan({"podium.host": HOSTNAME, "podium.pid": str(gone)})


async def test_cleanup_removes_the_containers_of_a_crashed_process(docker_host: str) -> None:
    labels = {"podium.managed": "true", "podium.host": HOSTNAME, "podium.pid": str(_ended_pid())}
    async with aiodocker.Docker(url=docker_host) as docker:
        config = {"Image": "localhost/podium-python", "Cmd": ["true"], "Labels": labels}
        orphan = await docker.containers.create(config)
        try:
            assert orphan.id in await cleanup_orphans(docker)
        finally:
            with contextlib.suppress(aiodocker.DockerError):
                await orphan.delete(force=True)
