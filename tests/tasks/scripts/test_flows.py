"""Python and shell script tasks run through the whole embedded Podium (Process runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.catalog import default_registries
from tasks.scripts import python, shell
from tests.conftest import Harness

PROCESS = "taskRunner: {type: io.kestra.plugin.core.runner.Process}"


def flow(tasks: str, inputs: str = "") -> str:
    return f"id: f\nnamespace: tests.scripts\n{inputs}tasks:\n{tasks}"


async def test_python_script_env_input_output_files_and_working_dir(
    real_time_harness: Harness,
) -> None:
    source = flow(
        f"""
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    outputFiles: [seed.csv]
    commands: ["printf 'a,b\\n1,2\\n' > seed.csv"]
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    {PROCESS}
    env:
      GREETING: "hello {{{{ inputs.name }}}}"
      COUNT: 3
    inputFiles:
      data/seed.csv: "{{{{ outputs.make.outputFiles['seed.csv'] }}}}"
      notes.txt: "for {{{{ inputs.name }}}}"
    outputFiles: ["out/**", "*.json"]
    script: |
      import json, os
      assert os.getcwd() == "{{{{ workingDir }}}}" == os.environ["WORKING_DIR"]
      rows = open("data/seed.csv").read().splitlines()
      os.makedirs("out/sub", exist_ok=True)
      open("out/sub/report.txt", "w").write(open("notes.txt").read())
      json.dump(rows, open("rows.json", "w"))
      print(os.environ["GREETING"], os.environ["COUNT"])
      print(json.dumps({{"outputs": {{"rows": len(rows), "attempt": os.environ["PODIUM_ATTEMPT_KEY"]}}}}).join(["::", "::"]))
  - id: read
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    commands:
      - cat {{{{ outputs.py.outputFiles['out/sub/report.txt'] }}}}
      - echo " rows={{{{ outputs.py.vars.rows }}}}"
""",
        inputs="inputs:\n  - {id: name, type: STRING, defaults: world}\n",
    )
    outcome = await real_time_harness.run(source)
    assert outcome.state == "SUCCESS", outcome.task_runs
    py = outcome.run("py").outputs
    assert py["exitCode"] == 0
    assert py["vars"]["rows"] == 2
    assert py["vars"]["attempt"].startswith(outcome.execution.execution_id)
    assert set(py["outputFiles"]) == {"out/sub/report.txt", "rows.json"}
    assert all(uri.startswith("kestra:///") for uri in py["outputFiles"].values())
    assert "hello world 3" in outcome.messages("py")
    assert outcome.messages("read") == ["for world rows=2"]


async def test_python_commands_with_before_commands(real_time_harness: Harness) -> None:
    source = flow(
        f"""
  - id: cmds
    type: io.kestra.plugin.scripts.python.Commands
    {PROCESS}
    inputFiles:
      main.py: |
        import sys
        print("args", sys.argv[1:])
    beforeCommands: ["echo preparing"]
    commands: ["python main.py one 'two words'"]
"""
    )
    outcome = await real_time_harness.run(source)
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.messages("cmds") == ["preparing", "args ['one', 'two words']"]


async def test_shell_commands_stop_at_the_first_failure(real_time_harness: Harness) -> None:
    source = flow(
        f"""
  - id: strict
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    allowFailure: true
    commands: ["echo first", "exit 3", "echo never"]
  - id: lenient
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    failFast: false
    commands: ["false", "echo after"]
  - id: script
    type: io.kestra.plugin.scripts.shell.Script
    {PROCESS}
    beforeCommands: ["X=from-before"]
    script: |
      echo "$X"
      false
      echo unreachable
"""
    )
    outcome = await real_time_harness.run(source)
    assert outcome.state == "FAILED"
    strict = outcome.run("strict")
    assert strict.state.value == "WARNING" and strict.error == "the script exited with code 3"
    assert strict.outputs["exitCode"] == 3  # kept on failure, as Kestra does
    assert outcome.messages("strict")[:1] == ["first"]
    assert "never" not in outcome.messages("strict")
    assert outcome.run("lenient").state.value == "SUCCESS"
    assert outcome.run("lenient").outputs["exitCode"] == 0
    assert outcome.messages("script")[:1] == ["from-before"]
    assert outcome.run("script").error == "the script exited with code 1"


async def test_stderr_is_logged_as_error_and_does_not_warn(real_time_harness: Harness) -> None:
    source = flow(
        f"""
  - id: noisy
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    warningOnStdErr: true
    commands: ["echo out", "echo err >&2"]
"""
    )
    outcome = await real_time_harness.run(source)
    assert outcome.state == "SUCCESS"
    run = outcome.run("noisy")
    assert run.outputs["stdOutLineCount"] == 1 and run.outputs["stdErrLineCount"] == 1
    levels = {line.message: line.level for line in outcome.logs if line.task_id == "noisy"}
    assert levels == {"out": "INFO", "err": "ERROR"}


async def test_rendered_values_reach_the_script_without_injection(
    real_time_harness: Harness, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    evil = f"$(touch {marker}); `touch {marker}` \"q\" 'q' \\n"
    source = flow(
        f"""
  - id: echo
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    env: {{VALUE: "{{{{ inputs.value }}}}"}}
    commands: ['printf "%s\\n" "$VALUE"']
""",
        inputs="inputs:\n  - {id: value, type: STRING}\n",
    )
    outcome = await real_time_harness.run(source, {"value": evil})
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.messages("echo") == [evil]
    assert not marker.exists()


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ("{'../escape.txt': x}", "would leave the working directory"),
        ("{'/etc/evil': x}", "would leave the working directory"),
        ("{'a\\\\b': x}", "invalid input file name"),
    ],
)
async def test_input_files_cannot_leave_the_working_dir(
    real_time_harness: Harness, files: str, needle: str
) -> None:
    source = flow(
        f"""
  - id: bad
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    inputFiles: {files}
    commands: ["true"]
"""
    )
    outcome = await real_time_harness.run(source)
    assert outcome.state == "FAILED"
    assert needle in (outcome.run("bad").error or "")


async def test_without_a_docker_endpoint_the_default_runner_is_process(
    real_time_harness: Harness, no_docker_env: None
) -> None:
    source = flow(
        """
  - id: default
    type: io.kestra.plugin.scripts.shell.Script
    script: echo ran
"""
    )
    outcome = await real_time_harness.run(source)
    assert outcome.state == "SUCCESS"
    warning = [line for line in outcome.logs if line.level == "WARN"]
    assert len(warning) == 1 and "Process runner" in warning[0].message
    assert outcome.messages("default")[-1] == "ran"


async def test_unsupported_properties_are_accepted_with_a_warning(
    real_time_harness: Harness,
) -> None:
    source = flow(
        f"""
  - id: ns
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    outputDirectory: true
    commands: ["echo ok"]
"""
    )
    outcome = await real_time_harness.run(source)
    assert outcome.state == "SUCCESS"
    assert any("'outputDirectory'" in m for m in outcome.messages("ns"))


async def test_kestra_0x_runner_spelling_and_a_script_killed_by_a_signal(
    real_time_harness: Harness,
) -> None:
    source = flow(
        """
  - id: legacy
    type: io.kestra.plugin.scripts.shell.Commands
    runner: PROCESS
    docker: {image: ubuntu}
    commands: ["kill -9 $$"]
"""
    )
    outcome = await real_time_harness.run(source)
    assert outcome.state == "FAILED"
    assert outcome.run("legacy").error == "the script was killed by signal 9"


def test_the_four_kestra_types_are_registered() -> None:
    names = {cls.type_name for cls in (*python.TASKS, *shell.TASKS)}
    assert names == {
        "io.kestra.plugin.scripts.python.Script",
        "io.kestra.plugin.scripts.python.Commands",
        "io.kestra.plugin.scripts.shell.Script",
        "io.kestra.plugin.scripts.shell.Commands",
    }
    registries = default_registries()
    assert all(name in registries.tasks for name in names)
