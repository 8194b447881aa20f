"""What a task plugin sees of Podium: the `Task` base model, `RunContext`, the registry.

A task is a pydantic model of its YAML properties plus an async `run(ctx)` that returns
its outputs. It never imports the bus, the store or the executor: everything it may do
goes through the `RunContext` it is handed. Flow-control tasks (If, ForEach, …) are
`FlowableTask`s: they ask the context to run child task lists and the executor walks them.

Registries are filled from an explicit index of plugin families (`tasks.FAMILIES`,
`triggers.FAMILIES`; engine/catalog.py) and the `podium.tasks` entry-point group, and
frozen before the first flow loads; a family's module is imported when a flow first
names one of its types.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from engine.durations import format_duration, is_template, parse_duration
from engine.states import State

__all__ = [
    "ChildKind",
    "Duration",
    "ExecutionCount",
    "ExecutionHistory",
    "ExecutionReader",
    "ExecutionSummary",
    "DurationOrTemplate",
    "FlowSource",
    "FlowableTask",
    "FlowsAccess",
    "LevelMethods",
    "LogSelection",
    "NamespaceFilesAccess",
    "PluginFamily",
    "PluginLoader",
    "PluginRegistry",
    "PollContext",
    "PolledItem",
    "PolledTrigger",
    "PurgeCounts",
    "PurgeSelection",
    "Retry",
    "RunContext",
    "Task",
    "TaskKv",
    "TaskLogger",
    "TaskRunSummary",
    "TaskStorage",
    "TriggerSwitch",
    "lazy_import",
    "plugin",
]

# ---------------------------------------------------------------------------
# Shared property types


def _to_duration(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return parse_duration(value)
    return value


def _to_duration_or_template(value: Any) -> Any:
    if isinstance(value, str) and is_template(value):
        return value
    return _to_duration(value)


_dump_duration = PlainSerializer(
    lambda v: v if isinstance(v, str) else format_duration(v), return_type=str
)
Duration = Annotated[timedelta, BeforeValidator(_to_duration), _dump_duration]
"""An ISO-8601 duration checked when the flow loads."""
DurationOrTemplate = Annotated[
    timedelta | str, BeforeValidator(_to_duration_or_template), _dump_duration
]
"""A duration, or a template that renders to one at run time."""

TaskId = Annotated[str, Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$", max_length=256)]


class Model(BaseModel):
    """Strict base for everything a user writes in YAML."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        arbitrary_types_allowed=True,
        coerce_numbers_to_str=True,  # `format: 1` means "1", as Kestra reads it
        defer_build=True,
    )


class Asset(Model):
    """One data asset a task or flow reads or writes (Kestra 1.x lineage)."""

    model_config = ConfigDict(extra="allow", frozen=True)  # metadata fields are free-form
    id: str = Field(min_length=1)
    type: str | None = None
    namespace: str | None = None
    displayName: str | None = None
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Assets(Model):
    """Kestra 1.x `assets`: lineage declarations, recorded and shown, never executed."""

    inputs: tuple[Asset, ...] = ()
    outputs: tuple[Asset, ...] = ()
    enableAuto: bool | None = None


class TaskCache(Model):
    """Kestra 1.x `taskCache`: reuse the outputs of an identical run for `ttl`
    (engine/task_cache.py); without `ttl` they are kept until the cache is cleared."""

    enabled: bool = False
    ttl: Duration | None = None


class Retry(Model):
    """Kestra's retry policy: constant, exponential or random intervals."""

    type: Literal["constant", "exponential", "random"]
    interval: Duration | None = None
    maxAttempts: int | None = Field(default=None, ge=1, alias="maxAttempts")
    maxDuration: Duration | None = None
    maxInterval: Duration | None = None
    minInterval: Duration | None = None
    delayFactor: float | None = Field(default=None, gt=0)
    warningOnRetry: bool = False
    behavior: Literal["RETRY_FAILED_TASK", "CREATE_NEW_EXECUTION"] = "RETRY_FAILED_TASK"

    @model_validator(mode="before")
    @classmethod
    def _legacy_spelling(cls, data: Any) -> Any:
        # Kestra 0.x wrote `maxAttempt`; real flows still carry it.
        if isinstance(data, dict) and "maxAttempt" in data:
            data = dict(data)
            data.setdefault("maxAttempts", data.pop("maxAttempt"))
        return data

    @model_validator(mode="after")
    def _check(self) -> Retry:
        if self.type in ("constant", "exponential") and self.interval is None:
            raise ValueError(f"a {self.type} retry needs an 'interval'")
        if self.type == "random" and (self.minInterval is None or self.maxInterval is None):
            raise ValueError("a random retry needs 'minInterval' and 'maxInterval'")
        if self.maxAttempts is None and self.maxDuration is None:
            raise ValueError("a retry needs 'maxAttempts' or 'maxDuration'")
        return self

    def delay(self, retry_number: int, draw: float = 0.5) -> timedelta:
        """The wait before retry number `retry_number` (1 = first retry). `draw` in [0, 1)."""
        if self.type == "constant":
            assert self.interval is not None
            return self.interval
        if self.type == "random":
            assert self.minInterval is not None and self.maxInterval is not None
            span = self.maxInterval - self.minInterval
            return self.minInterval + span * draw
        assert self.interval is not None
        delay = self.interval * ((self.delayFactor or 2.0) ** (retry_number - 1))
        return min(delay, self.maxInterval) if self.maxInterval else delay


# ---------------------------------------------------------------------------
# What a running task may use


@runtime_checkable
class TaskLogger(Protocol):
    def trace(self, message: str) -> None: ...
    def debug(self, message: str) -> None: ...
    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...
    def log(self, level: str, message: str) -> None: ...


class LevelMethods:
    """`trace` … `error` in terms of `log(level, message)`, for loggers to inherit."""

    def log(self, level: str, message: str) -> None:
        raise NotImplementedError

    def trace(self, message: str) -> None:
        self.log("TRACE", message)

    def debug(self, message: str) -> None:
        self.log("DEBUG", message)

    def info(self, message: str) -> None:
        self.log("INFO", message)

    def warning(self, message: str) -> None:
        self.log("WARN", message)

    def error(self, message: str) -> None:
        self.log("ERROR", message)


class TaskStorage(Protocol):
    """Internal storage as a task sees it: URIs in, URIs out, files under its root only."""

    def put_bytes(self, name: str, data: bytes) -> str: ...
    def put_file(self, name: str, path: Path) -> str: ...
    def new_file(self, name: str) -> tuple[Path, str]:
        """A file of this task run to write in place (no copy afterwards): its local path
        (its folder exists; an existing file of that name is replaced) and its URI."""

    def local_path(self, uri: str) -> Path: ...
    def execution_file(self, uri: str) -> Path:
        """The local path of a file of this execution; another execution's file (or a
        namespace's) raises StorageError."""

    def read_bytes(self, uri: str) -> bytes: ...
    def purge_execution(self) -> list[str]: ...


class TaskKv(Protocol):
    """The namespace key/value store as a task sees it (engine/kv/service.py). A namespace
    left out is the flow's; a refused key, value or namespace raises TaskFailed. A change
    is visible to every read that starts after it returned."""

    async def get(self, key: str, *, namespace: str | None = None) -> tuple[bool, Any]:
        """(found, value). An expired entry is not found."""

    async def set(
        self,
        key: str,
        value: Any,
        *,
        namespace: str | None = None,
        kv_type: str | None = None,
        ttl: timedelta | None = None,
        description: str | None = None,
        overwrite: bool = True,
    ) -> None: ...

    async def delete(self, key: str, *, namespace: str | None = None) -> bool: ...

    async def keys(self, *, namespace: str | None = None, prefix: str | None = None) -> list[str]:
        """The live keys of one namespace, in order."""

    async def purge(
        self,
        *,
        namespaces: Sequence[str] | None,
        namespace_pattern: str | None,
        include_children: bool,
        key_pattern: str | None,
        expired_only: bool,
    ) -> int: ...


class NamespaceFilesAccess(Protocol):
    """Namespace files as a task sees them. Paths are `/a/b.txt`; a bad path, a file over
    the size limit or a missing file raise a PodiumError with a message to show."""

    async def list_files(self, namespace: str) -> list[tuple[str, int]]:
        """Every current file of the namespace: (path, size), by path."""

    async def read(self, namespace: str, path: str) -> bytes: ...

    async def put(
        self, namespace: str, files: Mapping[str, bytes], *, conflict: str = "OVERWRITE"
    ) -> list[str]:
        """Write files in one transaction; `conflict` is OVERWRITE, ERROR or SKIP.
        Returns the paths written."""

    async def delete(self, namespace: str, paths: Sequence[str]) -> list[str]:
        """Delete files (or folders); returns the paths deleted."""


@dataclass(frozen=True)
class TaskRunSummary:
    """One task run of an execution, as an execution summary lists it."""

    id: str
    task_id: str
    state: str
    value: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class ExecutionSummary:
    """What a notification says about an execution (read-only; engine/context.py)."""

    id: str
    namespace: str
    flow_id: str
    state: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    task_runs: tuple[TaskRunSummary, ...]
    link: str  # its page in the UI, on the server's public URL (settings `url`)

    def __repr__(self) -> str:
        return f"<ExecutionSummary {self.namespace}.{self.flow_id} {self.id} {self.state}>"


class ExecutionReader(Protocol):
    """Executions as a task may read them: a summary, never a way to change one."""

    async def summary(self, execution_id: str) -> ExecutionSummary | None:
        """The execution as projected once everything published so far is in the store;
        None when no such execution exists."""


@dataclass(frozen=True)
class PurgeSelection:
    """Which ended executions a purge deletes (what is running is never selected).

    `namespace` is a prefix (`company` takes `company.team` too) unless `flow_id` is given;
    `excluded` are namespaces (with their children) left out; `start` bounds the creation
    time from below, `end` the end time from above."""

    end: datetime
    namespace: str | None = None
    flow_id: str | None = None
    states: tuple[State, ...] = ()
    start: datetime | None = None
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogSelection:
    """Which log lines a purge deletes: those stamped in [start, end] (start open when
    None), of a namespace (a prefix unless `flow_id` is given), a flow, an execution,
    and of the levels given (all when empty); `excluded` namespaces are left out."""

    end: datetime
    namespace: str | None = None
    flow_id: str | None = None
    execution_id: str | None = None
    levels: tuple[str, ...] = ()
    start: datetime | None = None
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True)
class PurgeCounts:
    """What a purge deleted (Kestra's PurgeExecutions outputs)."""

    executions: int = 0
    task_runs: int = 0
    logs: int = 0
    metrics: int = 0
    files: int = 0

    def __add__(self, other: PurgeCounts) -> PurgeCounts:
        return PurgeCounts(
            self.executions + other.executions,
            self.task_runs + other.task_runs,
            self.logs + other.logs,
            self.metrics + other.metrics,
            self.files + other.files,
        )


@dataclass(frozen=True)
class ExecutionCount:
    """Executions of one flow (or, with `flow_id` None, of one namespace)."""

    namespace: str
    flow_id: str | None
    count: int


class ExecutionHistory(Protocol):
    """Past executions as a task may count and purge them (engine/purge.py). A purge is
    published as events that the projector applies, like every change of execution
    state, and returns once it is in the store; running executions are never deleted."""

    async def count_executions(
        self,
        *,
        flows: Sequence[tuple[str, str]],
        namespaces: Sequence[str],
        states: Sequence[State],
        start: datetime | None,
        end: datetime | None,
    ) -> list[ExecutionCount]:
        """Per flow of `flows` (0 when none), then per namespace of `namespaces` (exact
        names) that has executions created in [start, end]."""

    async def purge_executions(
        self,
        selection: PurgeSelection,
        *,
        executions: bool = True,
        logs: bool = True,
        metrics: bool = True,
        storage: bool = True,
        batch_size: int = 100,
    ) -> PurgeCounts: ...

    async def purge_logs(self, selection: LogSelection, *, batch_size: int | None = None) -> int:
        """How many log lines were deleted (`batch_size` per transaction)."""


@dataclass(frozen=True)
class FlowSource:
    namespace: str
    id: str
    source: str
    revision: int = 0


class FlowsAccess(Protocol):
    """Stored flows as a task sees them (git.SyncFlows, git.PushFlows). `save` validates
    as the API does and raises a PodiumError with the flow's problems; nothing is saved
    then."""

    async def list(self, namespace: str, *, include_children: bool) -> list[FlowSource]:
        """The current flows of a namespace (and its children), by namespace and id."""

    def validate(self, source: str, *, name: str) -> tuple[str, str]:
        """(namespace, id) of a valid flow source; FlowDefinitionError otherwise."""

    async def save(self, source: str, *, name: str) -> tuple[str, str, int]:
        """(namespace, id, revision) of the saved flow."""

    async def delete(self, namespace: str, flow_id: str) -> bool: ...


class TriggerSwitch(Protocol):
    """Triggers as a task may change them (trigger.Toggle): the same switch as the API's
    enable/disable, kept in the scheduler's trigger state."""

    async def set_enabled(
        self, namespace: str, flow_id: str, trigger_id: str, *, enabled: bool
    ) -> bool:
        """Enable or disable one trigger of a stored flow; returns whether the trigger
        will run (False when its YAML or its flow disables it whatever is asked). An
        unknown flow or trigger raises a PodiumError that says which."""


class RunContext(Protocol):
    """Everything a task may do while it runs."""

    execution_id: str
    task_run_id: str
    namespace: str
    flow_id: str
    attempt: int
    value: str | None
    logger: TaskLogger
    storage: TaskStorage
    kv: TaskKv
    namespace_files: NamespaceFilesAccess
    executions: ExecutionReader
    history: ExecutionHistory
    flows: FlowsAccess
    triggers: TriggerSwitch
    variables: Mapping[str, Any]

    @property
    def template_context(self) -> Mapping[str, Any]: ...

    def render(self, value: Any, *, extra: Mapping[str, Any] | None = None) -> Any:
        """Render every template inside `value` (strings, lists, maps) in the task's context,
        with `extra` merged over it (one level deep)."""

    def render_text(self, template: str) -> str: ...

    def evaluate(self, expression: str) -> Any:
        """Evaluate one expression (`{{ x }}` or `x`) to a Python value."""

    def is_true(self, template: str) -> bool:
        """Render and apply Kestra's truthiness (only false, 0, -0 and '' are false)."""

    def working_dir(self) -> Path:
        """A private folder for this attempt, removed after it (or shared in WorkingDirectory)."""

    def cache_dir(self, name: str) -> Path:
        """A folder that outlives executions (e.g. installed script dependencies),
        shared by every task of the same kind: `name` says which kind."""

    def share_working_dir(self) -> Path:
        """This run's children all work in one folder (WorkingDirectory)."""

    def warn(self) -> None:
        """Make this attempt end in WARNING rather than SUCCESS."""

    def metric(
        self,
        name: str,
        value: float,
        *,
        kind: str = "counter",
        tags: Mapping[str, str] | None = None,
    ) -> None: ...

    def mask(self, text: str) -> str:
        """Hide every secret value this execution revealed."""

    def environment(self) -> dict[str, str]:
        """Variables a task's subprocess gets: the attempt's idempotency key among them."""

    def host_environment(self) -> dict[str, str]:
        """What a local process may see of the server's environment: PATH, HOME, LANG,
        TZ and the variables `scripts.env_allow` names; nothing else (no PODIUM_*, no
        SECRET_*). A container gets none of it."""

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
        """Walk a child task list (sequentially, with its errors/finally branches) and
        return the state it ended in. `value` becomes `taskrun.value` of the children."""

    async def run_dag(
        self, nodes: Sequence[tuple[Task, Sequence[str]]], *, concurrency: int
    ) -> State: ...

    def set_labels(self, labels: Mapping[str, str]) -> None: ...

    @property
    def execution_variables(self) -> Mapping[str, Any]:
        """The execution's `vars` as the following tasks will see them: the flow's
        `variables` until a task changed them."""

    def set_execution_variables(self, variables: Mapping[str, Any]) -> None:
        """Replace the execution's `vars` for the tasks that run after this one (Kestra's
        SetVariables/UnsetVariables); recorded in the execution when this run ends."""

    def exit_execution(self, state: State) -> None:
        """End the execution in `state` once this run ends (Kestra's Exit): this run and
        its parents take that state, no further task starts; KILLED also kills the tasks
        still running."""

    def load_task(self, spec: Mapping[str, Any]) -> Task:
        """A task built from its YAML map as the flow's loader builds one (the flow's and
        the server's pluginDefaults applied, unknown properties refused); TaskFailed
        lists the problems."""

    async def pause(self, *, delay: timedelta | None, timeout: timedelta | None) -> str:
        """Wait until resumed (returns 'RESUMED'), or until delay/timeout ('DELAY', 'TIMEOUT')."""

    def resume_inputs(self) -> Mapping[str, Any]:
        """The `onResume` inputs the last resume of this (Pause) task gave, validated."""

    async def resume_execution(
        self, execution_id: str, namespace: str | None = None, flow_id: str | None = None
    ) -> None: ...

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
        """Start another flow's execution; with wait, also its final state and outputs
        (its flow `outputs`, or else `output_templates` rendered in its own context)."""

    async def fetch_logs(
        self, *, execution_id: str | None, min_level: str, task_ids: Sequence[str]
    ) -> list[Mapping[str, Any]]: ...

    async def sleep(self, seconds: float) -> None:
        """Sleep on the engine's clock (tests use a fake one)."""

    def now(self) -> Any: ...


# ---------------------------------------------------------------------------
# Task models


class ChildKind(Enum):
    """How a flowable task holds child tasks, so loading can find and build them."""

    LIST = "list"  # a list of tasks
    MAP_OF_LISTS = "map"  # {key: [tasks]} (Switch cases)
    DAG = "dag"  # [{task: {...}, dependsOn: [...]}]
    SINGLE = "single"  # one task (ForEachItem's inner subflow is a property, not this)


class Task(Model):
    """Properties every Kestra task has. Subclasses add theirs and implement `run`."""

    type_name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    children: ClassVar[Mapping[str, ChildKind]] = {}
    # A finished run of this task ended the whole execution (Exit): a walk done again
    # after a crash stops there too.
    ends_execution: ClassVar[bool] = False

    id: TaskId
    """The task's id, unique in the flow: `outputs.<id>` reads its outputs."""
    type: str
    description: str | None = None
    """What the task does, for people reading the flow."""
    retry: Retry | None = None
    """Run the task again when it fails: constant, exponential or random intervals."""
    timeout: DurationOrTemplate | None = None
    """The longest an attempt may run (an ISO-8601 duration); then it fails."""
    disabled: bool = False
    """A disabled task is skipped, as if it were not in the flow."""
    allowFailure: bool = False
    """When the task fails, the execution goes on and ends in WARNING."""
    allowWarning: bool = False
    """A task ending in WARNING counts as SUCCESS."""
    runIf: str | bool | None = None
    """A condition (usually a template): when it renders false, the task is skipped."""
    logLevel: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] | None = None
    """The lowest level of the task's log lines that is kept."""
    logToFile: bool = False
    """Also write each attempt's log lines to a file in internal storage (its `logFile`)."""
    workerGroup: dict[str, Any] | None = None
    """Kestra Enterprise's worker group: refused at load, Podium has one group of workers."""
    version: str | None = None
    """Which installed version of the plugin to use; Podium has one version of each type."""
    assets: Assets | None = None
    """Data assets the task reads and writes (lineage), recorded and shown."""
    taskCache: TaskCache | None = None
    """Reuse the outputs of an identical earlier run for `ttl`."""

    @property
    def is_flowable(self) -> bool:
        return bool(self.children)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        raise NotImplementedError(f"{type(self).__name__}.run")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r}>"

    def child_lists(self) -> Iterator[tuple[str, Sequence[Task]]]:
        """Every child task list, named by the property that holds it."""
        for name, kind in self.children.items():
            held = getattr(self, name, None)
            if not held:
                continue
            if kind is ChildKind.LIST:
                yield name, held
            elif kind is ChildKind.MAP_OF_LISTS:
                for key, tasks in held.items():
                    yield f"{name}.{key}", tasks
            elif kind is ChildKind.DAG:
                yield name, [node.task for node in held]
            elif kind is ChildKind.SINGLE:
                yield name, [held]

    def static_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """Checks a model validator cannot place precisely (e.g. an unknown dependsOn)."""
        return iter(())

    def walk(self) -> Iterator[Task]:
        """This task and every task nested in it, depth first."""
        yield self
        for _, tasks in self.child_lists():
            for task in tasks:
                yield from task.walk()


class FlowableTask(Task):
    """A task that holds other tasks. Kestra gives flowables their own errors/finally."""

    errors: tuple[Task, ...] = ()
    finally_: tuple[Task, ...] = Field(default=(), alias="finally")


T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class PluginFamily:
    """Plugin classes one module exports as `TASKS`, `TRIGGERS` and `CONDITIONS`, and the
    type-name prefixes that every name of theirs (aliases included) starts with.

    The catalog imports the module the first time a flow names a type under one of the
    prefixes, so a process pays only for the families its flows use; a prefix may be a
    whole type name. tests/engine/test_catalog.py checks that no name lies outside."""

    module: str  # "tasks.core.log"
    prefixes: tuple[str, ...]  # ("io.kestra.plugin.core.log.",)


@dataclass(frozen=True)
class OptionalFamily:
    """A plugin family behind a pip extra: `module` exports `TASKS` (and may export
    `TRIGGERS`, `CONDITIONS`); when its dependencies are missing, its types under
    `prefix` are refused at load with the `pip install` to run."""

    prefix: str  # "io.kestra.plugin.gcp."
    module: str  # "tasks.gcp"
    extra: str  # "gcp"
    # The modules the extra installs, found without importing them (an SDK may take a
    # second to import: the family imports it when one of its tasks runs).
    requires: tuple[str, ...] = ()

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (self.prefix,)

    @property
    def install_hint(self) -> str:
        return f"it needs the {self.extra!r} extra: pip install 'podium[{self.extra}]'"

    def missing_module(self) -> str | None:
        """The first required module that is not installed, or None."""
        for name in self.requires:
            try:
                if importlib.util.find_spec(name) is None:
                    return name
            except (ImportError, ValueError):  # a parent package is missing or hidden
                return name
        return None


class LazyModule:
    """A module imported on first attribute access, so that a plugin family's SDK costs
    nothing until one of its tasks uses it (see `lazy_import`)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"<LazyModule {self._name}>"

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


def lazy_import(name: str) -> Any:
    """`name`, imported when first used. Give mypy the real module:

    if TYPE_CHECKING:
        from google.cloud import bigquery
    else:
        bigquery = lazy_import("google.cloud.bigquery")
    """
    return LazyModule(name)


def plugin(type_name: str, *aliases: str) -> Any:
    """Mark a class with its Kestra type name. Marks only; registration is explicit."""

    def mark(cls: T) -> T:
        cls.type_name = type_name  # type: ignore[attr-defined]
        cls.aliases = tuple(aliases)  # type: ignore[attr-defined]
        return cls

    return mark


_OLD_PREFIXES = {
    # Kestra 0.x names that real flows still use, mapped onto the 1.x ones.
    "io.kestra.core.tasks.log.": "io.kestra.plugin.core.log.",
    "io.kestra.core.tasks.debugs.": "io.kestra.plugin.core.debug.",
    "io.kestra.core.tasks.flows.": "io.kestra.plugin.core.flow.",
    "io.kestra.core.tasks.executions.": "io.kestra.plugin.core.execution.",
    "io.kestra.core.tasks.storages.": "io.kestra.plugin.core.storage.",
    "io.kestra.core.models.triggers.types.": "io.kestra.plugin.core.trigger.",
    "io.kestra.core.models.conditions.types.": "io.kestra.plugin.core.condition.",
}


def current_name(type_name: str) -> str:
    """The Kestra 1.x name of a 0.x type name (the name itself when it has none)."""
    for old, new in _OLD_PREFIXES.items():
        if type_name.startswith(old):
            return new + type_name[len(old) :]
    return type_name


class PluginLoader(Protocol):
    """What fills a registry on demand (engine/catalog.py): the families a type name may
    belong to, or everything (every family and every entry point)."""

    def load_for(self, type_name: str) -> None: ...
    def load_all(self) -> None: ...


class PluginRegistry:
    """Plugin classes keyed by Kestra type name. Filled at start, then frozen.

    With a `loader`, what the registry holds is still decided at start (the loader's
    index of families is fixed), but a family's module is imported only when a type of
    it is first looked up: a miss loads the families the name may belong to, then, if
    the name is still unknown, everything, so a lookup answers as if every family had
    been registered up front. Whatever lists the types (`names`, iteration, `suggest`,
    `load_all`) loads everything first."""

    def __init__(self, kind: str, *, loader: PluginLoader | None = None) -> None:
        self.kind = kind
        self._loader = loader
        self._by_name: dict[str, type] = {}
        self._unavailable: dict[str, str] = {}  # type-name prefix -> why it cannot load
        self._is_frozen = False

    def __repr__(self) -> str:
        state = "frozen" if self._is_frozen else "open"
        return f"<PluginRegistry {self.kind} {len(self._by_name)} types loaded, {state}>"

    def register(self, *classes: type) -> None:
        if self._is_frozen:
            raise RuntimeError(f"the {self.kind} registry is frozen")
        self.add(*classes)

    def add(self, *classes: type) -> None:
        """Register classes of the loader's families, also once frozen (the loader's
        index was fixed before the freeze; only its imports come later)."""
        for cls in classes:
            name = getattr(cls, "type_name", "")
            if not name:
                raise ValueError(f"{cls!r} has no type name; decorate it with @plugin(...)")
            for key in (name, *getattr(cls, "aliases", ())):
                if key in self._by_name and self._by_name[key] is not cls:
                    raise ValueError(f"{self.kind} type {key!r} is registered twice")
                self._by_name[key] = cls

    def freeze(self) -> None:
        self._is_frozen = True

    def mark_unavailable(self, prefix: str, reason: str) -> None:
        """Types under `prefix` exist in Kestra but cannot load here, for `reason` (an
        optional extra not installed, say): a flow using one is refused with it."""
        self._unavailable[prefix] = reason

    def unavailable_reason(self, type_name: str) -> str | None:
        """Why an unknown type cannot load, when a family of types was marked so."""
        self.load_all()
        found = [p for p in self._unavailable if type_name.startswith(p)]
        return self._unavailable[max(found, key=len)] if found else None

    def get(self, type_name: str) -> type | None:
        found = self._lookup(type_name)
        if found is None and self._loader is not None:
            self._loader.load_for(current_name(type_name))
            found = self._lookup(type_name)
            if found is None:
                self._loader.load_all()
                found = self._lookup(type_name)
        return found

    def _lookup(self, type_name: str) -> type | None:
        found = self._by_name.get(type_name)
        if found is None:
            renamed = current_name(type_name)
            if renamed != type_name:
                return self._by_name.get(renamed)
        return found

    def load_all(self) -> None:
        """Import every family and entry point, for those who list every type."""
        if self._loader is not None:
            self._loader.load_all()

    def names(self) -> list[str]:
        self.load_all()
        return sorted(self._by_name)

    def suggest(self, type_name: str) -> list[str]:
        """Close known names, for "did you mean" messages."""
        names = self.names()
        close = difflib.get_close_matches(type_name, names, n=3, cutoff=0.6)
        if not close:
            short = type_name.rsplit(".", 1)[-1].lower()
            close = [n for n in names if n.rsplit(".", 1)[-1].lower() == short][:3]
        return close

    def __contains__(self, type_name: object) -> bool:
        return isinstance(type_name, str) and self.get(type_name) is not None

    def __iter__(self) -> Iterator[tuple[str, type]]:
        self.load_all()
        return iter(sorted(self._by_name.items()))


def did_you_mean(options: Iterable[str]) -> str:
    options = list(options)
    return f"; did you mean {' or '.join(repr(o) for o in options)}?" if options else ""


_IDENT = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")


def is_identifier(text: str) -> bool:
    return bool(_IDENT.match(text))


# ---------------------------------------------------------------------------
# Triggers and conditions (their behaviour lives in triggers/; the model is shared)


class Condition(Model):
    """A test on an execution (or a date) that a trigger uses to decide whether to fire."""

    type_name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()

    type: str

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        """`facts` is a template context: execution, flow, trigger …"""
        raise NotImplementedError


class Trigger(Model):
    """Properties every Kestra trigger has."""

    type_name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()

    id: TaskId
    """The trigger's id, unique in the flow."""
    type: str
    description: str | None = None
    """What the trigger is for, for people reading the flow."""
    disabled: bool = False
    """A disabled trigger never fires."""
    conditions: tuple[Condition, ...] = ()
    """Conditions that must all hold for the trigger to start an execution."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] | list[dict[str, str]] = Field(default_factory=dict)
    stopAfter: tuple[State, ...] = ()
    logLevel: str | None = None
    minLogLevel: str | None = None
    workerGroup: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r}>"


# ---------------------------------------------------------------------------
# Polling triggers: the model says what is there; triggers/polling.py does the rest


@dataclass(frozen=True)
class PolledItem:
    """One thing a polling trigger found. `id` names this version of it (a file's
    bucket/key/generation, a row's key): the same id never fires twice. `data` is what
    the trigger needs later (plain JSON: it is journaled until its firing is done)."""

    id: str
    data: Mapping[str, Any]


class PollContext(Protocol):
    """What a polling trigger may use while it polls, fires and acts."""

    namespace: str
    flow_id: str
    logger: TaskLogger

    def render(self, value: Any, *, extra: Mapping[str, Any] | None = None) -> Any:
        """Render templates (flow, envs, secret()) in `value`, `extra` merged over them."""

    def mask(self, text: str) -> str:
        """Hide every secret value revealed so far."""

    def download_target(self, execution_id: str, item_id: str, name: str) -> tuple[Path, str]:
        """A local path to write a copy of an item into, and the internal-storage URI it
        is then read by: under the execution's own folder, so purging it removes it."""


class PolledTrigger(Trigger):
    """A trigger that looks every `interval` and fires for what it had not seen yet.

    Subclasses implement `poll` (what is there now), `variables` (the `trigger.*` of one
    execution) and, if they have an action, `after_fire`. `batch` says whether one poll
    fires one execution for all its new items (Kestra's file triggers) or one each.
    triggers/polling.py claims each item id once in the trigger state, across restarts
    and schedulers, and journals a firing until its action is done."""

    batch: ClassVar[bool] = True

    interval: Duration = timedelta(seconds=60)

    def max_items(self) -> int:
        """New items fired per poll (the rest wait for the next)."""
        return 1000

    def is_exclusive(self) -> bool:
        """Whether the trigger must not poll while an execution it started still runs
        (Kestra's polling triggers without `allowConcurrent`)."""
        return False

    async def poll(self, ctx: PollContext) -> Sequence[PolledItem]:
        raise NotImplementedError(f"{type(self).__name__}.poll")

    async def variables(
        self, ctx: PollContext, execution_id: str, items: Sequence[PolledItem]
    ) -> Mapping[str, Any]:
        """The trigger variables of the execution `execution_id` that fires for `items`."""
        raise NotImplementedError(f"{type(self).__name__}.variables")

    async def after_fire(self, ctx: PollContext, items: Sequence[PolledItem]) -> None:
        """The action on the items once their execution was requested (MOVE, DELETE…)."""
