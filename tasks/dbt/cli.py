"""dbt.cli.DbtCLI and the one-command tasks (Build, Run, Test, Seed, Snapshot, Compile,
Deps): script tasks (tasks/scripts) whose commands are dbt's.

An attempt, on top of a script task's (runner, env, namespaceFiles, inputFiles…):
- `profiles` is written to `profiles.yml` in the working directory and dbt is pointed at
  it (`DBT_PROFILES_DIR`); `projectDir` becomes `DBT_PROJECT_DIR`;
- dbt logs as `logFormat` says (`DBT_LOG_FORMAT`, JSON by default), read by
  `results.DbtLogCollector`: a WARN line makes the task end in WARNING, as Kestra's
  `warningDetected`; dbt never phones home
  (`DBT_SEND_ANONYMOUS_USAGE_STATS=false`);
- `loadManifest` puts a manifest from the KV store at `<project>/target/manifest.json`
  (for `--state ./target`); `storeManifest` saves `target/manifest.json` into the KV
  store after the run (failed or not), and both files become `outputFiles`;
- `parseRunResults` turns `target/run_results.json` into `outputs.<task>.runResults`,
  and a failed node makes the task FAILED with the node named.
With the Process runner, dbt is the one `pip install 'podium[dbt]'` installed next to
Podium's Python when it has the profiles' adapters, else a cached virtual environment with
dbt-core and those adapters (environment.py); with Docker, the image's (default
`ghcr.io/kestra-io/dbt`).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from engine.errors import TaskFailed
from engine.plugin import Model, RunContext, plugin
from tasks.dbt import environment
from tasks.dbt.environment import adapters_in_profiles, adapters_in_project, requirements
from tasks.dbt.results import DbtLogCollector, failures, read_run_results
from tasks.scripts.deps import PythonEnvironments
from tasks.scripts.execution import Prepared, ScriptTask, Setup, run_script
from tasks.scripts.protocol import OutputCollector

__all__ = ["COMMAND_TASKS", "DbtCLI"]


class KvLocation(Model):
    key: str
    namespace: str | None = None


class DbtTask(ScriptTask):
    default_image: ClassVar[str] = "ghcr.io/kestra-io/dbt"

    profiles: str | None = None
    projectDir: str | None = None
    parseRunResults: bool = True
    storeManifest: KvLocation | None = None
    loadManifest: KvLocation | None = None
    logFormat: Literal["JSON", "TEXT", "DEBUG", "NONE"] = "JSON"
    engine: Literal["CORE", "FUSION"] = "CORE"
    alertWebhook: dict[str, Any] | None = None

    def line_collector(self, ctx: RunContext) -> OutputCollector:
        return DbtLogCollector(ctx)

    def base_env(self) -> dict[str, str]:
        env = {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_USE_COLORS": "false",
            "PYTHONUNBUFFERED": "true",
        }
        if self.logFormat != "NONE":
            env["DBT_LOG_FORMAT"] = self.logFormat.lower()
        return env

    async def setup(self, prepared: Prepared) -> Setup:
        working = prepared.working_dir
        env = {"DBT_PROFILES_DIR": str(working)}
        if self.projectDir:
            env["DBT_PROJECT_DIR"] = str(self._project(prepared.ctx, working))
        profiles = prepared.render(self.profiles) if self.profiles else None
        if profiles:
            await asyncio.to_thread(
                (working / "profiles.yml").write_text, str(profiles), encoding="utf-8"
            )
        if self.loadManifest is not None:
            await self._load_manifest(prepared.ctx, working)
        if prepared.runner.is_container:
            return Setup(env=env)
        return await self._process_dbt(prepared, str(profiles or ""), env)

    async def _process_dbt(self, prepared: Prepared, profiles: str, env: dict[str, str]) -> Setup:
        """The Process runner's dbt: Podium's own, or a cached environment (environment.py)."""
        ctx = prepared.ctx
        adapters = adapters_in_profiles(profiles) or await asyncio.to_thread(
            adapters_in_project, self._project(ctx, prepared.working_dir)
        )
        if environment.beside_podium(adapters):
            return Setup(env=env, path_prefix=(str(Path(sys.executable).parent),))
        environments = PythonEnvironments(ctx.cache_dir("python-envs"), ctx.host_environment())
        built = await environments.ensure(requirements(adapters), "PIP", ctx.logger.log)
        return Setup(env={**env, "VIRTUAL_ENV": str(built.path)}, path_prefix=(str(built.bin),))

    def _project(self, ctx: RunContext, working: Path) -> Path:
        relative = str(ctx.render(self.projectDir or ""))
        project = (working / relative).resolve()
        if not project.is_relative_to(working.resolve()):
            raise TaskFailed(f"'projectDir' {relative!r} is outside the working directory")
        return project

    async def _load_manifest(self, ctx: RunContext, working: Path) -> None:
        assert self.loadManifest is not None
        key = str(ctx.render(self.loadManifest.key))
        namespace = ctx.render(self.loadManifest.namespace) if self.loadManifest.namespace else None
        found, value = await ctx.kv.get(key, namespace=namespace)
        if not found:
            ctx.logger.warning(f"no manifest under KV key {key!r}: dbt runs without one")
            return
        text = value if isinstance(value, str) else json.dumps(value)
        target = self._project(ctx, working) / "target" / "manifest.json"

        def write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

        await asyncio.to_thread(write)
        ctx.logger.info(f"loaded dbt's manifest from KV key {key!r} into {target}")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        if self.engine == "FUSION":
            raise TaskFailed("engine FUSION (dbt 2.0) is not supported yet: use CORE")
        if self.alertWebhook is not None:
            raise TaskFailed("'alertWebhook' is not supported yet: use the flow's errors branch")
        working = ctx.working_dir()
        project = self._project(ctx, working)
        try:
            outputs = await run_script(self, ctx)
        except TaskFailed as failed:
            outputs = dict(failed.outputs)
            results = await self._after(ctx, project, outputs)
            failing = failures(results or [])
            if failing:
                raise TaskFailed(f"dbt failed: {', '.join(failing)}", outputs=outputs) from None
            raise TaskFailed(str(failed), outputs=outputs) from None
        await self._after(ctx, project, outputs)
        return outputs

    async def _after(
        self, ctx: RunContext, project: Path, outputs: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        """What follows every run, failed or not: artifacts, the manifest, the results."""
        target = project / "target"
        files = dict(outputs.get("outputFiles") or {})
        for name in ("manifest.json", "run_results.json"):
            if (target / name).is_file():
                files[name] = ctx.storage.put_file(name, target / name)
        outputs["outputFiles"] = files
        if self.storeManifest is not None and (target / "manifest.json").is_file():
            await self._store_manifest(ctx, project)
        return await self._results(project, outputs)

    async def _results(self, project: Path, outputs: dict[str, Any]) -> list[dict[str, Any]] | None:
        if not self.parseRunResults:
            return None
        try:
            results = await asyncio.to_thread(read_run_results, project)
        except (OSError, ValueError) as exc:
            raise TaskFailed(f"cannot read dbt's run_results.json: {exc}") from None
        if results is not None:
            outputs["runResults"] = results
        return results

    async def _store_manifest(self, ctx: RunContext, project: Path) -> None:
        assert self.storeManifest is not None
        path = project / "target" / "manifest.json"
        if not path.is_file():
            raise TaskFailed("'storeManifest': dbt wrote no target/manifest.json")
        manifest = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
        key = str(ctx.render(self.storeManifest.key))
        namespace = (
            ctx.render(self.storeManifest.namespace) if self.storeManifest.namespace else None
        )
        await ctx.kv.set(key, manifest, namespace=namespace)
        ctx.logger.info(f"stored dbt's manifest under KV key {key!r}")


@plugin("io.kestra.plugin.dbt.cli.DbtCLI")
class DbtCLI(DbtTask):
    """Run dbt commands (`dbt deps`, `dbt build`…), one after the other."""

    commands: list[str] | str

    async def script_lines(self, prepared: Prepared) -> list[str]:
        return await prepared.localize(prepared.render_list(self.commands))


class DbtCommand(DbtTask):
    """One dbt command with Kestra's options for it."""

    command: ClassVar[str] = ""
    dbtPath: str = "dbt"
    debug: bool = False
    warnError: bool = False
    select: list[str] | None = None
    exclude: list[str] | None = None
    selector: str | None = None
    target: str | None = None
    thread: int | None = None

    def arguments(self, prepared: Prepared) -> list[str]:
        args = [str(prepared.render(self.dbtPath)), self.command]
        if self.debug:
            args.append("--debug")
        if self.warnError:
            args.append("--warn-error")
        for option, values in (("--select", self.select), ("--exclude", self.exclude)):
            if values:
                args += [option, *(str(v) for v in prepared.render(values))]
        if self.selector:
            args += ["--selector", str(prepared.render(self.selector))]
        if self.target:
            args += ["--target", str(prepared.render(self.target))]
        if self.thread:
            args += ["--threads", str(self.thread)]
        return args

    async def script_lines(self, prepared: Prepared) -> list[str]:
        return [shlex.join(self.arguments(prepared))]


class DbtRefreshing(DbtCommand):
    fullRefresh: bool = False

    def arguments(self, prepared: Prepared) -> list[str]:
        return super().arguments(prepared) + (["--full-refresh"] if self.fullRefresh else [])


def _command(name: str, base: type[DbtCommand]) -> type[DbtCommand]:
    cls = type(name, (base,), {"__doc__": f"dbt {name.lower()}", "command": name.lower()})
    return plugin(f"io.kestra.plugin.dbt.cli.{name}")(cls)


COMMAND_TASKS: tuple[type[DbtCommand], ...] = (
    _command("Build", DbtRefreshing),
    _command("Run", DbtRefreshing),
    _command("Seed", DbtRefreshing),
    _command("Test", DbtCommand),
    _command("Snapshot", DbtCommand),
    _command("Compile", DbtCommand),
    _command("Deps", DbtCommand),
)
