"""Python dependencies in a cached virtual environment, and the real `kestra` package.

This installs `kestra` from the package index once (about 15 s), then checks that
nothing is installed again: by the engine's own log lines and by the environment folder,
which must be the very same directory (inode and modification time unchanged).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.errors import TaskFailed
from tasks.scripts.deps import check_requirements, docker_prelude
from tests.conftest import Harness, Outcome

PROCESS = "taskRunner: {type: io.kestra.plugin.core.runner.Process}"

FLOW = f"""id: deps
namespace: tests.scripts
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: stats
        type: io.kestra.plugin.scripts.python.Script
        {PROCESS}
        dependencies: [kestra]
        packageManager: MANAGER
        script: |
          import sys
          from kestra import Kestra
          Kestra.outputs({{"rows": 7, "venv": sys.prefix != sys.base_prefix}})
          Kestra.counter("rows", 7, {{"table": "orders"}})
          Kestra.timer("took", 1.5)
          Kestra.logger().info("from the logger")
          Kestra.logger().error("something bad")
      - id: cmds
        type: io.kestra.plugin.scripts.python.Commands
        {PROCESS}
        dependencies: [" kestra ", kestra]
        packageManager: MANAGER
        commands: ["python -c 'import kestra; print(\\"imported\\")'"]
"""


def _installs(outcome: Outcome) -> list[str]:
    return [m for m in outcome.messages() if m.startswith("installing ")]


def _environments(root: Path) -> list[Path]:
    [cache] = list(root.rglob("python-envs"))
    return sorted(p for p in cache.iterdir() if not p.name.startswith("."))


async def _metrics(harness: Harness, execution_id: str) -> list[tuple[str, str, float, dict]]:
    def query() -> list[tuple[str, str, float, str]]:
        return harness.podium.store.db.execute(
            "SELECT name, kind, value, tags FROM metrics WHERE execution_id = ? ORDER BY name",
            (execution_id,),
        ).fetchall()

    rows = await harness.podium.store._call(query)
    return [(name, kind, value, json.loads(tags)) for name, kind, value, tags in rows]


async def _run(harness: Harness, manager: str) -> Outcome:
    execution_id = await harness.start(FLOW.replace("MANAGER", manager))
    outcome = await harness.wait(execution_id, timeout=300)
    assert outcome.state == "SUCCESS", (outcome.task_runs, outcome.messages())
    return outcome


async def test_kestra_package_in_a_cached_environment(
    real_time_harness: Harness, tmp_path: Path
) -> None:
    first = await _run(real_time_harness, "PIP")
    assert len(_installs(first)) == 1  # two tasks, one install: the other one waited
    assert first.run("stats").outputs["vars"] == {"rows": 7, "venv": True}
    assert first.messages("cmds")[-1] == "imported"
    levels = {line.message.split(" - ", 1)[-1]: line.level for line in first.logs}
    assert levels["from the logger"] == "INFO" and levels["something bad"] == "ERROR"
    assert await _metrics(real_time_harness, first.execution.execution_id) == [
        ("rows", "counter", 7.0, {"table": "orders"}),
        ("took", "timer", 1.5, {}),
    ]
    [env] = _environments(tmp_path)
    before = env.stat()

    second = await _run(real_time_harness, "PIP")
    assert _installs(second) == []
    assert sum("reusing the cached Python environment" in m for m in second.messages()) == 2
    assert _environments(tmp_path) == [env]
    after = env.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    third = await _run(real_time_harness, "UV")
    if shutil.which("uv") is None:  # Kestra's rule: UV falls back to pip when missing
        assert _installs(third) == []
        assert any("'uv' is not installed" in m for m in third.messages())
    else:
        assert len(_installs(third)) == 1 and len(_environments(tmp_path)) == 2


def test_requirements_are_checked_before_any_install() -> None:
    assert check_requirements(["b", " a ", "b", ""]) == ["a", "b"]
    for bad in ("--index-url=http://evil", "-e .", "a\nb", "x\x00"):
        with pytest.raises(TaskFailed):
            check_requirements([bad])
    assert "-r /w/r.txt" in docker_prelude("/w/r.txt", "PIP")
    assert docker_prelude("/w/r.txt", "UV").startswith("if command -v uv")
