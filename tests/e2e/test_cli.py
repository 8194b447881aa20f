"""The `podium` command as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_FLOWS

ROOT = Path(__file__).resolve().parents[2]
PODIUM = [sys.executable, "-m", "engine.cli"]

pytestmark = pytest.mark.e2e


def podium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PODIUM, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_flow_run_hello_world_live() -> None:
    done = podium("flow", "run", str(SHARED_FLOWS / "01_hello_world.yaml"), "--input", "name=Ada")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Hello, Ada!" in out
    assert "This is an output: I was generated during this workflow." in out
    assert "generate_output.value = I was generated during this workflow." in out
    lines = out.splitlines()
    sleep_line = next(line for line in lines if " sleep " in line and "SUCCESS" in line)
    assert "s" in sleep_line.split("SUCCESS")[1]  # a duration is shown
    assert any(line.startswith("SUCCESS") for line in lines)


def test_flow_run_exit_code_follows_the_final_state(tmp_path: Path) -> None:
    flow = tmp_path / "fails.yaml"
    flow.write_text(
        "id: fails\nnamespace: t\ntasks:\n  - {id: boom, type: io.kestra.plugin.core.execution.Fail, errorMessage: nope}\n"
    )
    done = podium("flow", "run", str(flow))
    assert done.returncode == 1
    assert "nope" in done.stdout


def test_flow_run_refuses_bad_inputs_before_running(tmp_path: Path) -> None:
    done = podium("flow", "run", str(SHARED_FLOWS / "01_hello_world.yaml"), "--input", "nope=1")
    assert done.returncode == 2
    assert "unknown input 'nope'" in done.stderr


def test_flow_validate_prints_every_problem_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nnamespace: t\ntasks:\n"
        "  - id: a\n    type: io.kestra.plugin.core.log.Logg\n    message: x\n"
        "  - id: b\n    type: io.kestra.plugin.core.flow.Sleep\n    duration: 5 minutes\n"
    )
    good = SHARED_FLOWS / "01_hello_world.yaml"
    done = podium("flow", "validate", str(good), str(bad))
    assert done.returncode == 1
    assert f"{good}: ok" in done.stdout
    assert f"{bad}:5:5: tasks[0].type: unknown task type" in done.stdout
    assert f"{bad}:9:5: tasks[1].duration:" in done.stdout
    assert podium("flow", "validate", str(good)).returncode == 0
