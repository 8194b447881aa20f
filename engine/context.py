"""`TaskRunContext`: the engine's side of the `RunContext` a task is handed.

It is a thin view over one task run of an `ExecutionWalk`: rendering in the run's
template context, logging into the execution's log stream, storage scoped to the
execution, and the flow-control calls that hand child task lists back to the walk.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from engine.errors import FlowDefinitionError, Problem, TaskFailed
from engine.events import ExecutionRequested, ParentRef, ResumeRequested
from engine.flows import TaskFlows
from engine.kv.service import TaskKvStore
from engine.plugin import (
    ExecutionCount,
    ExecutionHistory,
    ExecutionSummary,
    LevelMethods,
    LogSelection,
    PurgeCounts,
    PurgeSelection,
    Task,
    TaskRunSummary,
    TriggerSwitch,
)
from engine.states import State, worst
from engine.storage import ScopedStorage, safe_name
from engine.store.base import LEVELS
from engine.templating.kv import is_reading_kv, reading_kv

if TYPE_CHECKING:
    from engine.walk import ExecutionWalk, TaskRun

__all__ = ["SCRIPT_BASE_ENV", "ExecutionSummaries", "RunLogger", "TaskRunContext", "TaskTriggers"]

T = TypeVar("T")

# What every script sees of the server's environment; anything more is named in
# scripts.env_allow. Never the rest: the server's own PODIUM_* (the admin password) and
# SECRET_* (read through secret(), and masked) are not a script's business.
SCRIPT_BASE_ENV = ("PATH", "HOME", "LANG", "TZ")


class RunLogger(LevelMethods):
    """Log lines of one attempt, filtered by the task's `logLevel`, masked for secrets."""

    def __init__(self, walk: ExecutionWalk, run: TaskRun) -> None:
        self._walk = walk
        self._run = run
        self._floor = LEVELS.get(run.task.logLevel or "TRACE", 0)

    def __repr__(self) -> str:
        return f"<RunLogger {self._run.task.id}>"

    def log(self, level: str, message: str) -> None:
        level = "WARN" if level.upper() == "WARNING" else level.upper()
        if LEVELS.get(level, 2) >= self._floor:
            self._walk.log(self._run, level, str(message))


class ExecutionSummaries:
    """`RunContext.executions`: read-only summaries of executions, from the projection."""

    def __init__(self, walk: ExecutionWalk) -> None:
        self._runtime = walk.runtime

    def __repr__(self) -> str:
        return "<ExecutionSummaries>"

    async def summary(self, execution_id: str) -> ExecutionSummary | None:
        fetch = self._runtime.fetch_execution
        if fetch is None:
            raise TaskFailed("executions cannot be read in this runtime")
        found = await fetch(execution_id)
        if found is None:
            return None
        header, runs = found
        return ExecutionSummary(
            id=header.execution_id,
            namespace=header.namespace,
            flow_id=header.flow_id,
            state=header.state.value,
            created_at=header.created_at,
            started_at=header.started_at,
            ended_at=header.ended_at,
            task_runs=tuple(
                TaskRunSummary(
                    id=run.task_run_id,
                    task_id=run.task_id,
                    state=run.state.value,
                    value=run.value,
                    started_at=run.started_at,
                    ended_at=run.ended_at,
                )
                for run in sorted(runs, key=lambda r: (r.created_at, r.seq))
            ),
            link=f"{self._runtime.ui_url.rstrip('/')}/ui/executions/{header.execution_id}",
        )


class _NoHistory:
    """`RunContext.history` where no server lends one (a bare executor in tests)."""

    def __repr__(self) -> str:
        return "<NoHistory>"

    async def count_executions(self, **_: Any) -> list[ExecutionCount]:
        raise TaskFailed("executions cannot be counted in this runtime")

    async def purge_executions(self, selection: PurgeSelection, **_: Any) -> PurgeCounts:
        raise TaskFailed("executions cannot be purged in this runtime")

    async def purge_logs(self, selection: LogSelection, **_: Any) -> int:
        raise TaskFailed("logs cannot be purged in this runtime")


_NO_HISTORY: ExecutionHistory = _NoHistory()


class TaskTriggers:
    """`RunContext.triggers` over the server's switch; refused where none is wired."""

    def __init__(self, switch: TriggerSwitch | None) -> None:
        self._switch = switch

    def __repr__(self) -> str:
        return f"<TaskTriggers {self._switch!r}>"

    async def set_enabled(
        self, namespace: str, flow_id: str, trigger_id: str, *, enabled: bool
    ) -> bool:
        if self._switch is None:
            raise TaskFailed("triggers cannot be enabled or disabled in this runtime")
        return await self._switch.set_enabled(namespace, flow_id, trigger_id, enabled=enabled)


class TaskRunContext:
    def __init__(
        self, walk: ExecutionWalk, run: TaskRun, *, working_dir: Path | None = None
    ) -> None:
        self._walk = walk
        self._run = run
        self._context: dict[str, Any] | None = None
        self._working_dir = working_dir or _shared_dir(run)
        self._owns_working_dir = False
        flow = walk.flow
        self.execution_id = walk.execution_id
        self.task_run_id = run.id
        self.namespace = flow.namespace
        self.flow_id = flow.id
        self.attempt = run.attempt
        # what identifies the attempt: the same when a crash made it run again
        self._key_attempt = run.attempt - run.recovered
        self.value = run.value
        self.variables = walk.variables
        self.namespace_files = walk.runtime.namespace_files
        self.history = walk.runtime.purger or _NO_HISTORY

    # The services a task may use are built when it first does: most tasks use one or
    # none, and a context is made for every task run (a tenth of a trivial one's CPU).

    @functools.cached_property
    def logger(self) -> RunLogger:
        return RunLogger(self._walk, self._run)

    @functools.cached_property
    def storage(self) -> ScopedStorage:
        walk, run = self._walk, self._run
        return ScopedStorage(
            walk.runtime.storage,
            self.namespace,
            self.flow_id,
            walk.execution_id,
            f"{run.task.id}/{run.id}",
        )

    @functools.cached_property
    def kv(self) -> TaskKvStore:
        return TaskKvStore(self._walk.runtime.kv, self.namespace)

    @functools.cached_property
    def executions(self) -> ExecutionSummaries:
        return ExecutionSummaries(self._walk)

    @functools.cached_property
    def flows(self) -> TaskFlows:
        return TaskFlows(self._walk.runtime.flows)

    @functools.cached_property
    def triggers(self) -> TaskTriggers:
        return TaskTriggers(self._walk.runtime.triggers)

    def __repr__(self) -> str:
        return f"<TaskRunContext {self._run.task.id} attempt={self.attempt}>"

    @property
    def template_context(self) -> dict[str, Any]:
        if self._context is None:
            self._context = self._walk.context_for(self._run)
            if self._working_dir is not None:
                self._context["workingDir"] = str(self._working_dir)
        return self._context

    # -- rendering --

    def render(self, value: Any, *, extra: Mapping[str, Any] | None = None) -> Any:
        context = self.template_context
        if extra:
            context = dict(context)
            for key, more in extra.items():
                base = context.get(key)
                context[key] = (
                    {**base, **more} if isinstance(base, dict) and isinstance(more, dict) else more
                )
        return self._reading_kv(self._walk.runtime.renderer.render_value, value, context)

    def render_text(self, template: str) -> str:
        return self._reading_kv(self._walk.runtime.renderer.render, template, self.template_context)

    def evaluate(self, expression: str) -> Any:
        return self._reading_kv(
            self._walk.runtime.renderer.evaluate, expression, self.template_context
        )

    def is_true(self, template: str) -> bool:
        return self._reading_kv(
            self._walk.runtime.renderer.is_true, template, self.template_context
        )

    def _reading_kv(
        self, render: Callable[[Any, Mapping[str, Any]], T], value: Any, context: Mapping[str, Any]
    ) -> T:
        """`render(value, context)` with this run's KV snapshot in scope for kv()."""
        snapshot = self._run.kv
        if snapshot is None and not is_reading_kv():
            # No snapshot (the flow never calls kv()) and none to hide: the `with` would set
            # and reset nothing, and cost a fifth of a one-expression render_text.
            return render(value, context)
        with reading_kv(snapshot):
            return render(value, context)

    def mask(self, text: str) -> str:
        secrets = self._walk.runtime.renderer.secrets
        return secrets.mask(text) if secrets is not None else text

    # -- files and environment --

    def working_dir(self) -> Path:
        if self._working_dir is None:
            root = self._walk.runtime.work_root
            root.mkdir(parents=True, exist_ok=True)
            self._working_dir = Path(tempfile.mkdtemp(prefix=f"{self._run.task.id}-", dir=root))
            self._owns_working_dir = True
            if self._context is not None:
                self._context["workingDir"] = str(self._working_dir)
        return self._working_dir

    def cache_dir(self, name: str) -> Path:
        path = self._walk.runtime.cache_root / safe_name(name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def share_working_dir(self) -> Path:
        """Used by WorkingDirectory: this run's children all work in one folder."""
        path = self.working_dir()
        self._run.shared_dir = path
        return path

    def close(self) -> None:
        if self._owns_working_dir and self._working_dir is not None:
            shutil.rmtree(self._working_dir, ignore_errors=True)

    def host_environment(self) -> dict[str, str]:
        names = (*SCRIPT_BASE_ENV, *self._walk.runtime.script_env_allow)
        return {name: os.environ[name] for name in names if name in os.environ}

    def environment(self) -> dict[str, str]:
        return {
            "PODIUM_ATTEMPT_KEY": f"{self.execution_id}:{self.task_run_id}:{self._key_attempt}",
            "PODIUM_EXECUTION_ID": self.execution_id,
            "PODIUM_TASKRUN_ID": self.task_run_id,
        }

    def metric(
        self,
        name: str,
        value: float,
        *,
        kind: str = "counter",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self._walk.pending_metrics.append((self._run, name, float(value), kind, dict(tags or {})))

    def warn(self) -> None:
        """Mark this attempt as ending in WARNING (e.g. output on stderr)."""
        self._run.has_warning = True

    # -- flow control --

    async def run_tasks(
        self,
        tasks: Sequence[Task],
        *,
        value: Any = None,
        iteration: int | None = None,
        errors: Sequence[Task] = (),
        finally_: Sequence[Task] = (),
        scope: str = "",
    ) -> State:
        state = await self._walk.run_list(
            tasks,
            parent=self._run,
            value=value,
            is_new_value=value is not None,
            iteration=iteration,
            errors=errors,
            finally_=finally_,
        )
        self._run.child_states.append(state)
        return state

    async def run_dag(
        self, nodes: Sequence[tuple[Task, Sequence[str]]], *, concurrency: int
    ) -> State:
        """Run tasks as soon as what they depend on succeeded, at most `concurrency` at once."""
        done: dict[str, asyncio.Event] = {task.id: asyncio.Event() for task, _ in nodes}
        results: dict[str, State] = {}
        gate = asyncio.Semaphore(concurrency if concurrency > 0 else len(nodes) or 1)

        async def one(task: Task, depends_on: Sequence[str]) -> None:
            try:
                for dep in depends_on:
                    await done[dep].wait()
                if any(results.get(dep, State.SKIPPED).is_failure for dep in depends_on):
                    results[task.id] = State.SKIPPED
                    return
                async with gate:
                    results[task.id] = await self._walk.run_task(task, self._run)
            finally:
                done[task.id].set()

        async with asyncio.TaskGroup() as group:
            for task, depends_on in nodes:
                group.create_task(one(task, depends_on))
        state = worst(results.values())
        self._run.child_states.append(state)
        return state

    def set_labels(self, labels: Mapping[str, str]) -> None:
        self._walk.labels.update(labels)
        self._walk.labels_changed = True

    @property
    def execution_variables(self) -> Mapping[str, Any]:
        return self._walk.variables

    def set_execution_variables(self, variables: Mapping[str, Any]) -> None:
        self._walk.set_variables(variables)
        self.variables = self._walk.variables
        self._context = None  # rendered from now on with the new `vars`

    def exit_execution(self, state: State) -> None:
        self._walk.exit_at(self._run, state)

    def load_task(self, spec: Mapping[str, Any]) -> Task:
        flows = self._walk.runtime.flows
        if flows is None:
            raise TaskFailed("tasks cannot be built in this runtime")
        flow = self._walk.flow
        document = {
            "id": flow.id,
            "namespace": flow.namespace,
            "pluginDefaults": [d.model_dump() for d in flow.pluginDefaults],
            "tasks": [dict(spec)],
        }
        try:
            # JSON is YAML: the loader checks it as it checks a flow (check_templates
            # off: the task's templates are rendered by the task, as any other's)
            built = flows.parse(
                orjson.dumps(document, default=str).decode(),
                name=f"the task built by {self._run.task.id}",
                check_templates=False,
            )
        except FlowDefinitionError as exc:
            problems = "; ".join(_spec_problem(p) for p in exc.problems)
            raise TaskFailed(f"invalid task: {problems}") from None
        return built.tasks[0]

    async def pause(self, *, delay: timedelta | None, timeout: timedelta | None) -> str:
        if delay is not None:
            outcome = await self._walk.wait_resume(self._run, delay.total_seconds())
            return "RESUMED" if outcome == "RESUMED" else "DELAY"
        return await self._walk.wait_resume(self._run, timeout.total_seconds() if timeout else None)

    def resume_inputs(self) -> Mapping[str, Any]:
        return self._walk.resumed_with.pop(self._run.id, {})

    async def resume_execution(
        self, execution_id: str, namespace: str | None = None, flow_id: str | None = None
    ) -> None:
        await self._walk.runtime.publish_request(
            ResumeRequested(
                execution_id=execution_id,
                namespace=namespace or self.namespace,
                flow_id=flow_id or self.flow_id,
            )
        )

    async def start_subflow(
        self,
        namespace: str,
        flow_id: str,
        *,
        inputs: Mapping[str, Any],
        labels: Mapping[str, str],
        wait: bool,
        revision: int | None = None,
        key: str = "",
        output_templates: Mapping[str, Any] | None = None,
    ) -> tuple[str, State | None, Mapping[str, Any]]:
        from engine.walk import task_run_id

        walk = self._walk
        child_id = task_run_id(self._run.id, f"subflow:{key}", None, self._key_attempt)
        # a subflow shares its root's correlation id (Kestra's system.correlationId)
        root = walk.labels.get("system.correlationId", walk.execution_id)
        labels = {**labels, "system.correlationId": root}
        await walk.runtime.publish_request(
            ExecutionRequested(
                execution_id=child_id,
                namespace=namespace,
                flow_id=flow_id,
                revision=revision,
                inputs=dict(inputs),
                labels=dict(labels),
                parent=ParentRef(
                    execution_id=walk.execution_id,
                    namespace=walk.flow.namespace,
                    flow_id=walk.flow.id,
                    task_run_id=self._run.id if not key else f"{self._run.id}:{key}",
                    task_id=self._run.task.id,
                    outputs=dict(output_templates) if output_templates else None,
                ),
                trigger={
                    "type": "io.kestra.plugin.core.flow.Subflow",
                    "id": self._run.task.id,
                    "variables": {
                        "executionId": walk.execution_id,
                        "namespace": walk.flow.namespace,
                        "flowId": walk.flow.id,
                    },
                },
                requested_at=walk.runtime.clock.now(),
            )
        )
        self.logger.info(f"started execution {child_id} of {namespace}/{flow_id}")
        if not wait:
            return child_id, None, {}
        state, outputs = await walk.wait_child(self._run.id if not key else f"{self._run.id}:{key}")
        return child_id, state, outputs

    async def fetch_logs(
        self, *, execution_id: str | None, min_level: str, task_ids: Sequence[str]
    ) -> list[Mapping[str, Any]]:
        fetch = self._walk.runtime.fetch_logs
        if fetch is None:
            raise TaskFailed("logs cannot be read in this runtime")
        await self._walk.flush_logs()
        lines = await fetch(
            execution_id or self.execution_id, min_level=min_level, task_ids=task_ids
        )
        return [line.model_dump(mode="json") for line in lines]

    async def sleep(self, seconds: float) -> None:
        await self._walk.runtime.clock.sleep(seconds)

    def now(self) -> datetime:
        return self._walk.runtime.clock.now()


def _spec_problem(problem: Problem) -> str:
    """A problem of the one-task flow `load_task` loads, placed in the task's spec."""
    where = problem.path.removeprefix("tasks[0]").lstrip(".")
    return f"{where}: {problem.message}" if where else problem.message


def _shared_dir(run: TaskRun) -> Path | None:
    node = run.parent
    while node is not None:
        if node.shared_dir is not None:
            return node.shared_dir
        node = node.parent
    return None
