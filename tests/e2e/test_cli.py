"""The `podium` command as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import course_flow

ROOT = Path(__file__).resolve().parents[2]
PODIUM = [sys.executable, "-m", "engine.cli"]

pytestmark = pytest.mark.e2e


def podium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PODIUM, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_flow_run_hello_world_live() -> None:
    done = podium("flow", "run", str(course_flow("01_hello_world.yaml")), "--input", "name=Ada")
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
    flow = tmp_path / "typed.yaml"
    flow.write_text(
        "id: typed\nnamespace: t\ninputs:\n  - {id: n, type: INT}\n"
        "tasks:\n  - {id: say, type: io.kestra.plugin.core.log.Log, message: hi}\n"
    )
    done = podium("flow", "run", str(flow), "--input", "n=abc")
    assert done.returncode == 2
    assert "input 'n'" in done.stderr


def test_flow_validate_prints_every_problem_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nnamespace: t\ntasks:\n"
        "  - id: a\n    type: io.kestra.plugin.core.log.Logg\n    message: x\n"
        "  - id: b\n    type: io.kestra.plugin.core.flow.Sleep\n    duration: 5 minutes\n"
    )
    good = course_flow("01_hello_world.yaml")
    done = podium("flow", "validate", str(good), str(bad))
    assert done.returncode == 1
    assert f"{good}: ok" in done.stdout
    assert f"{bad}:5:5: tasks[0].type: unknown task type" in done.stdout
    assert f"{bad}:9:5: tasks[1].duration:" in done.stdout
    assert podium("flow", "validate", str(good)).returncode == 0


def test_projector_rebuild_refuses_when_the_embedded_bus_trimmed_old_events(
    tmp_path: Path,
) -> None:
    import asyncio

    from tests.conftest import Harness, running_podium

    async def run_one() -> None:
        async with running_podium(tmp_path / "data") as podium:
            outcome = await Harness(podium, None).run(
                "id: f\nnamespace: n\ntasks:\n"
                "  - {id: a, type: io.kestra.plugin.core.log.Log, message: hi}\n"
            )
            assert outcome.state == "SUCCESS"
            await asyncio.sleep(0.2)  # offsets saved, records trimmed

    asyncio.run(run_one())
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "projector", "rebuild", "--yes",
         "--data", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "no longer starts at offset 0" in done.stderr and "--partial" in done.stderr


def test_flow_run_quiet_prints_only_the_summary_with_every_task_runs_outputs(
    tmp_path: Path,
) -> None:
    flow = tmp_path / "outs.yaml"
    flow.write_text(
        "id: outs\nnamespace: t\ntasks:\n"
        '  - {id: a, type: io.kestra.plugin.core.debug.Return, format: "one"}\n'
        "  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n"
        '    values: ["x", "y"]\n    tasks:\n'
        "      - {id: b, type: io.kestra.plugin.core.debug.Return,"
        ' format: "{{ taskrun.value }} two"}\n'
        "  - {id: say, type: io.kestra.plugin.core.log.Log, message: hi}\n"
        'outputs:\n  - {id: o, type: STRING, value: "{{ outputs.a.value }}"}\n'
    )
    done = podium("flow", "run", "-q", str(flow))
    assert done.returncode == 0, done.stderr
    first, *rest = done.stdout.splitlines()
    assert first.startswith("SUCCESS   execution ")
    assert rest == [
        "outputs:",
        "  a.value = one",
        "  each.iterations = 2",
        "  b[x].value = x two",
        "  b[y].value = y two",
        "flow outputs:",
        "  o = one",
    ]
