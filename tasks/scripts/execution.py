"""One attempt of a script task, from properties to outputs.

    render (after ctx.working_dir(), so `{{ workingDir }}` is known)
      -> write inputFiles, localise kestra:// URIs in the commands
      -> choose the runner (taskRunner, the deprecated `runner`, or the default)
      -> install dependencies (Python tasks) -> join the commands into one script
      -> run it, every line through the protocol collector
      -> upload outputFiles -> {exitCode, vars, outputFiles, …} or TaskFailed

Commands run as Kestra runs them: `beforeCommands` then the task's commands, joined by
newlines into ONE script handed to the interpreter (`/bin/sh -c` by default), with
`set -e` first while `failFast` is on, so the first failing command stops the rest.
Rendered values only ever reach that script through the YAML strings the user wrote (the
rendering happens on them); values Podium adds itself are paths it chose, and the
environment is passed as a real mapping, never spliced into shell text.

Default runner: Kestra's is Docker. Podium uses Docker when there is an endpoint
(DOCKER_HOST, PODIUM_DOCKER_HOST, or Docker's or Podman's usual socket: see
runners/docker.py `default_endpoint`) that answers, and otherwise the Process runner,
saying so in a WARN line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import TaskFailed
from engine.plugin import RunContext
from engine.values import jsonable
from tasks.scripts import files
from tasks.scripts.models import DockerRunnerSpec, ProcessRunnerSpec, ScriptProperties, is_true
from tasks.scripts.nsfiles import load_namespace_files
from tasks.scripts.protocol import OutputCollector
from tasks.scripts.runners.base import Launch, Runner
from tasks.scripts.runners.docker import DockerRunner, default_endpoint, is_reachable
from tasks.scripts.runners.process import ProcessRunner

__all__ = ["Prepared", "ScriptTask", "Setup", "as_list", "run_script", "select_runner"]


@dataclass
class Setup:
    """What a task adds to its launch before the script body (Python dependencies)."""

    prelude: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    path_prefix: tuple[str, ...] = ()


@dataclass
class Prepared:
    """An attempt's rendered essentials, handed to the task's hooks."""

    ctx: RunContext
    working_dir: Path
    runner: Runner
    extra: dict[str, Any]

    @property
    def internal_dir(self) -> Path:
        path = self.working_dir / files.INTERNAL_DIR
        path.mkdir(exist_ok=True)
        return path

    def render(self, value: Any) -> Any:
        return self.ctx.render(value, extra=self.extra)

    def render_list(self, value: list[str] | str | None) -> list[str]:
        return as_list(self.render(value))

    async def localize(self, texts: list[str]) -> list[str]:
        """`texts` with each kestra:// URI replaced by the path of a local copy."""
        return await files.localize_storage_uris(self.ctx, self.working_dir, texts)


class ScriptTask(ScriptProperties):
    """A script task: the shared properties plus the hooks each kind fills in."""

    def base_env(self) -> dict[str, str]:
        """Variables the kind of task always sets (the user's `env` wins over them)."""
        return {}

    async def script_lines(self, prepared: Prepared) -> list[str]:
        """The rendered commands that follow `beforeCommands`."""
        raise NotImplementedError

    async def setup(self, prepared: Prepared) -> Setup:
        """Anything to install or set before the commands (Python dependencies)."""
        return Setup()

    def line_collector(self, ctx: RunContext) -> OutputCollector:
        """What reads the script's lines (dbt reads its JSON log lines itself)."""
        return OutputCollector(ctx)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        return await run_script(self, ctx)


def as_list(value: Any) -> list[str]:
    """A list property that may also be given as a (rendered) JSON array or one string."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError:
                return [value]
            if isinstance(loaded, list):
                return [_text(v) for v in loaded]
        return [value] if text else []
    return [_text(v) for v in value]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(jsonable(value), separators=(",", ":"))
    return str(value)


def _as_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise TaskFailed(f"'{what}' must be a map or render to a JSON object") from None
    if not isinstance(value, Mapping):
        raise TaskFailed(f"'{what}' must be a map or render to a JSON object")
    return {str(k): _text(v) for k, v in value.items() if v is not None}


async def select_runner(task: ScriptTask, ctx: RunContext, extra: Mapping[str, Any]) -> Runner:
    spec: ProcessRunnerSpec | DockerRunnerSpec | None = task.taskRunner
    if spec is None and task.runner is not None:
        spec = (
            (task.docker or DockerRunnerSpec())
            if task.runner == "DOCKER"
            else ProcessRunnerSpec(type="io.kestra.plugin.core.runner.Process")
        )
    if isinstance(spec, ProcessRunnerSpec):
        return ProcessRunner(ctx.host_environment())
    if spec is None:
        endpoint = default_endpoint()
        if endpoint is None:
            ctx.logger.warning(
                "no Docker endpoint (DOCKER_HOST, PODIUM_DOCKER_HOST, or a Docker or Podman "
                "socket where they usually are): "
                "running with the Process runner instead of Kestra's default Docker runner"
            )
            return ProcessRunner(ctx.host_environment())
        problem = await is_reachable(endpoint)
        if problem:
            ctx.logger.warning(
                f"the Docker endpoint {endpoint} does not answer ({problem}): running with "
                "the Process runner instead of Kestra's default Docker runner"
            )
            return ProcessRunner(ctx.host_environment())
        spec = DockerRunnerSpec()
    rendered = ctx.render(spec.model_dump(mode="json", exclude_none=True), extra=dict(extra))
    docker = DockerRunnerSpec.model_validate(rendered)
    image = docker.image or task.containerImage or task.default_image
    return DockerRunner(docker, image=ctx.render(image, extra=dict(extra)), logger=ctx.logger)


async def run_script(task: ScriptTask, ctx: RunContext) -> dict[str, Any]:
    """Run one attempt of `task` and return its outputs; TaskFailed on a non-zero exit."""
    working_dir = ctx.working_dir()  # first: it puts `workingDir` in the template context
    extra: dict[str, Any] = {"workingDir": str(working_dir)}
    for name in task.ignored_settings():
        ctx.logger.warning(f"'{name}' is not supported by Podium yet and is ignored")

    runner = await select_runner(task, ctx, extra)
    prepared = Prepared(ctx, working_dir, runner, extra)

    env = _as_map(prepared.render(task.env), "env")
    await load_namespace_files(  # before inputFiles, which win a clash
        ctx,
        working_dir,
        task.namespaceFiles,
        render=prepared.render,
        render_list=prepared.render_list,
    )
    input_files = _as_map(prepared.render(task.inputFiles), "inputFiles")
    await files.write_input_files(ctx, working_dir, input_files)
    before = await prepared.localize(prepared.render_list(task.beforeCommands))
    body = await task.script_lines(prepared)
    setup = await task.setup(prepared)
    interpreter = prepared.render_list(task.interpreter)
    if not interpreter:
        raise TaskFailed("'interpreter' must not be empty")
    lines = ["set -e"] if is_true(prepared.render(task.failFast)) else []
    script = "\n".join([*lines, *setup.prelude, *before, *body])

    launch = Launch(
        argv=(*interpreter, script),
        env={
            **task.base_env(),
            **setup.env,
            **env,
            "WORKING_DIR": str(working_dir),
            **ctx.environment(),
        },
        working_dir=working_dir,
        labels={"podium.execution-id": ctx.execution_id, "podium.task-run-id": ctx.task_run_id},
        path_prefix=setup.path_prefix,
    )
    collector = task.line_collector(ctx)
    exit_code = await runner.run(launch, collector)
    if exit_code < 0:  # a Process runner's script ended by a signal it did not handle
        raise TaskFailed(f"the script was killed by signal {-exit_code}")
    patterns = prepared.render_list(task.outputFiles)
    output_files = await files.upload_output_files(ctx, working_dir, patterns)
    outputs = {
        "exitCode": exit_code,
        "vars": collector.vars,
        "outputFiles": output_files,
        "stdOutLineCount": collector.counts["stdout"],
        "stdErrLineCount": collector.counts["stderr"],
    }
    if exit_code != 0:  # Kestra keeps what the script produced before it failed
        raise TaskFailed(f"the script exited with code {exit_code}", outputs=outputs)
    return outputs
