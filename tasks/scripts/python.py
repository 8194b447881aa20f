"""Python script tasks: python.Script (an inline script) and python.Commands.

Both take Kestra's Python properties: `dependencies` (pip requirement specifiers) with
`packageManager` PIP (Podium's default) or UV, installed before the commands:
- Process runner: into a cached virtual environment (`deps.PythonEnvironments`) whose
  `bin/` comes first on PATH, so `python` is the venv's and a second run installs nothing;
- Docker runner: inside the container, by a prelude line before `beforeCommands`.

The inline script is written to `.podium/<task run>-<attempt>.py` in the working directory
and run as `python <that path>`, as Kestra does, so `beforeCommands` and the interpreter
apply to it. `PYTHONUNBUFFERED` is set so that prints reach the logs while it runs.
"""

from __future__ import annotations

import asyncio
import shlex
from typing import ClassVar, Literal

from engine.plugin import plugin
from tasks.scripts.deps import (
    PackageManager,
    PythonEnvironments,
    check_requirements,
    docker_prelude,
    write_requirements,
)
from tasks.scripts.execution import Prepared, ScriptTask, Setup

__all__ = ["TASKS", "PythonCommands", "PythonScript"]


class PythonTask(ScriptTask):
    default_image: ClassVar[str] = "python:3.11-slim"
    IGNORED_PROPERTIES: ClassVar[tuple[str, ...]] = (
        *ScriptTask.IGNORED_PROPERTIES,
        "pythonVersion",
    )

    dependencies: list[str] | str | None = None
    packageManager: Literal["PIP", "UV"] | str = "PIP"
    pythonVersion: str | None = None
    dependencyCacheEnabled: bool | str = True  # Podium always caches the environment

    def base_env(self) -> dict[str, str]:
        return {
            "PYTHONUNBUFFERED": "true",
            "PIP_ROOT_USER_ACTION": "ignore",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }

    async def setup(self, prepared: Prepared) -> Setup:
        requirements = check_requirements(prepared.render_list(self.dependencies))
        if not requirements:
            return Setup()
        manager: PackageManager = (
            "UV" if str(prepared.render(self.packageManager)).upper() == "UV" else "PIP"
        )
        ctx = prepared.ctx
        if prepared.runner.is_container:
            path = prepared.internal_dir / f"{ctx.task_run_id}-{ctx.attempt}-requirements.txt"
            await asyncio.to_thread(write_requirements, path, requirements)
            return Setup(prelude=[docker_prelude(shlex.quote(str(path)), manager)])
        environments = PythonEnvironments(ctx.cache_dir("python-envs"), ctx.host_environment())
        env = await environments.ensure(requirements, manager, ctx.logger.log)
        return Setup(env={"VIRTUAL_ENV": str(env.path)}, path_prefix=(str(env.bin),))


@plugin("io.kestra.plugin.scripts.python.Script")
class PythonScript(PythonTask):
    """Run an inline Python script."""

    script: str

    async def script_lines(self, prepared: Prepared) -> list[str]:
        [source] = await prepared.localize([prepared.render(self.script)])
        ctx = prepared.ctx
        path = prepared.internal_dir / f"{ctx.task_run_id}-{ctx.attempt}.py"
        await asyncio.to_thread(path.write_text, source, encoding="utf-8")
        return [f"python {shlex.quote(str(path))}"]


@plugin("io.kestra.plugin.scripts.python.Commands")
class PythonCommands(PythonTask):
    """Run commands (typically `python some_file.py`) with Python and its dependencies."""

    commands: list[str] | str

    async def script_lines(self, prepared: Prepared) -> list[str]:
        return await prepared.localize(prepared.render_list(self.commands))


TASKS: tuple[type, ...] = (PythonCommands, PythonScript)
