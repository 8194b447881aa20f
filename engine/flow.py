"""The flow model, and `load_flow`: YAML text in, a validated `Flow` out.

Loading is pure (no I/O, no rendering) and complete: it reports every problem it finds,
each with the file, line, column and path (`tasks[3].then[0].sql`), and a flow that fails
to load never runs. The steps:

1. `engine.yaml_loader` parses strictly (duplicate keys, alias bombs, YAML 1.2 scalars);
2. `pluginDefaults` are merged into every nested map whose `type` they match;
3. tasks, triggers and conditions are built bottom-up through the plugin registries, so an
   error deep inside a flowable task keeps its full path;
4. whole-flow checks: unique task ids, non-empty task lists, input declarations, and
   every template (`engine.templating.flow_checks`: syntax, unknown functions, filters and
   tests, `outputs.x` of a task that does not exist or has not run yet).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from pydantic import Field, TypeAdapter, ValidationError, field_validator

from engine.checks import Check
from engine.errors import FlowDefinitionError, Problem
from engine.flow_compat import rewrite_legacy
from engine.inputs import DeclaredInput, input_adapter
from engine.lazy_schema import OnFirstUse, adapter_of
from engine.plugin import (
    Assets,
    ChildKind,
    Model,
    PluginRegistry,
    Retry,
    Task,
    Trigger,
    did_you_mean,
)
from engine.sla import DeclaredSla
from engine.templating.flow_checks import template_problems
from engine.yaml_loader import YamlDocument, format_path, load_yaml

__all__ = [
    "NOT_YAML",
    "Concurrency",
    "Flow",
    "FlowOutput",
    "PluginDefault",
    "Registries",
    "load_flow",
]

Path = tuple[str | int, ...]


class Concurrency(Model):
    limit: int = Field(ge=1)
    behavior: Literal["QUEUE", "CANCEL", "FAIL"] = "QUEUE"


class PluginDefault(Model):
    type: str = Field(min_length=1)
    values: dict[str, Any] = Field(default_factory=dict)
    forced: bool = False

    def matches(self, type_name: str) -> bool:
        return type_name == self.type or type_name.startswith(self.type + ".")


class FlowOutput(Model):
    id: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
    type: Literal[
        "STRING", "INT", "FLOAT", "BOOL", "BOOLEAN", "DATETIME", "DATE", "TIME", "DURATION",
        "JSON", "YAML", "URI", "EMAIL", "FILE", "SECRET", "ARRAY",
    ] = "STRING"  # fmt: skip
    value: Any = None
    description: str | None = None
    displayName: str | None = None
    required: bool = True

    def coerce(self, value: Any) -> Any:
        """The rendered value converted to the output's type, as an input of that type."""
        if value is None:
            if self.required:
                raise ValueError(f"output {self.id!r} is required but has no value")
            return None
        if self.type == "ARRAY":
            return (
                list(value)
                if isinstance(value, list | tuple)
                else input_adapter().validate_python({"id": self.id, "type": "JSON"}).coerce(value)
            )
        spec = input_adapter().validate_python({"id": self.id, "type": self.type})
        try:
            return spec.coerce(value)
        except ValueError as exc:
            raise ValueError(f"output {self.id!r}: {exc}") from None


def _labels(value: Any) -> dict[str, str]:
    # Kestra accepts a map, or a list of {key, value} pairs.
    if value is None:
        return {}
    if isinstance(value, list):
        out: dict[str, str] = {}
        for item in value:
            if not isinstance(item, dict) or set(item) != {"key", "value"}:
                raise ValueError("a label list holds maps with exactly 'key' and 'value'")
            out[str(item["key"])] = str(item["value"])
    elif isinstance(value, dict):
        out = {str(k): _label_text(v) for k, v in value.items()}
    else:
        raise ValueError("labels are a map or a list of {key, value}")
    reserved = sorted(k for k in out if k.startswith("system."))
    if reserved:
        # as Kestra: the engine sets system labels (correlationId, replay…); a flow may not
        raise ValueError(f"system labels are set by the engine, not by a flow: {reserved}")
    return out


def _label_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@cache
def _problems() -> TypeAdapter[tuple[Problem, ...]]:
    return adapter_of(tuple[Problem, ...])


if TYPE_CHECKING:
    Deprecations = tuple[Problem, ...]
else:  # set by `load_flow`, never validated but when a YAML writes this engine-only key
    Deprecations = Annotated[Any, OnFirstUse(_problems)]

# Fields of `Flow` that loading sets, never the YAML: not offered in messages or schemas.
NOT_YAML = ("source", "deprecations", "may_read_files")


class Flow(Model):
    id: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$", max_length=100)
    namespace: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=150)
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    inputs: tuple[DeclaredInput, ...] = ()
    variables: dict[str, Any] = Field(default_factory=dict)
    tasks: tuple[Task, ...]
    errors: tuple[Task, ...] = ()
    finally_: tuple[Task, ...] = Field(default=(), alias="finally")
    afterExecution: tuple[Task, ...] = ()
    outputs: tuple[FlowOutput, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    concurrency: Concurrency | None = None
    pluginDefaults: tuple[PluginDefault, ...] = ()
    retry: Retry | None = None
    disabled: bool = False
    revision: int | None = Field(default=None, ge=1)
    tenantId: str | None = None
    deleted: bool = False
    assets: Assets | None = None  # Kestra 1.x lineage declarations (shown by the API)
    checks: tuple[Check, ...] = ()  # evaluated before an execution is created (engine/checks.py)
    sla: tuple[DeclaredSla, ...] = ()  # enforced by the executor (engine/sla.py)

    # Not YAML: where the flow came from, for messages and the API.
    source: str = Field(default="", exclude=True, repr=False)
    # Not YAML: older Kestra forms this flow uses (engine/flow_compat.py), located.
    deprecations: Deprecations = Field(default=(), exclude=True, repr=False)
    # Not YAML: False when no value of the flow, defaults merged, says `read(` (found once,
    # at load): its task runs then skip looking for it (engine/file_reader.py).
    may_read_files: bool = Field(default=True, exclude=True, repr=False)

    _normalize_labels = field_validator("labels", mode="before")(_labels)

    @property
    def key(self) -> str:
        """The partition key of everything about this flow."""
        return f"{self.namespace}/{self.id}"

    def __repr__(self) -> str:
        return f"<Flow {self.key} rev={self.revision}>"

    def all_tasks(self) -> Iterator[Task]:
        for branch in (self.tasks, self.errors, self.finally_, self.afterExecution):
            for task in branch:
                yield from task.walk()

    def find_task(self, task_id: str) -> Task | None:
        return next((t for t in self.all_tasks() if t.id == task_id), None)


@dataclass(frozen=True)
class Registries:
    tasks: PluginRegistry
    triggers: PluginRegistry
    conditions: PluginRegistry


_FLOW_TASK_LISTS = ("tasks", "errors", "finally", "afterExecution")


def load_flow(
    text: str | bytes,
    registries: Registries,
    *,
    source: str = "<flow>",
    global_defaults: Sequence[PluginDefault] = (),
    check_templates: bool = True,
) -> Flow:
    """Parse and validate a flow. Raises FlowDefinitionError listing every problem.

    `check_templates=False` skips the static template checks: for revisions stored when
    they passed the checks of their day, which must keep running."""
    doc = load_yaml(text, source=source)
    raw_text = text.decode("utf-8") if isinstance(text, bytes) else text
    builder = _Builder(doc, registries, global_defaults, raw_text if check_templates else None)
    flow = builder.build()
    if builder.problems:
        raise FlowDefinitionError(builder.problems)
    assert flow is not None
    return flow.model_copy(
        update={
            "source": raw_text,
            "deprecations": tuple(builder.deprecations),
            "may_read_files": builder.may_read_files,
        }
    )


def _mentions(data: Any, text: bytes) -> bool:
    """Whether `text` is in any key or value of the plain YAML data: one pass of orjson
    over the whole flow. True when the data cannot be written (too deep)."""
    try:
        return text in orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return True


class _Builder:
    def __init__(
        self,
        doc: YamlDocument,
        registries: Registries,
        global_defaults: Sequence[PluginDefault] = (),
        text: str | None = None,
    ) -> None:
        self.text = text  # None: templates are not checked
        self.global_defaults = list(global_defaults)
        self.doc = doc
        self.registries = registries
        self.problems: list[Problem] = []
        self.deprecations: list[Problem] = []
        # Places engine/flow_compat.py explained already: later, vaguer problems there
        # ("unknown task type") would only repeat it.
        self.explained: set[Path] = set()
        # (path of a map, key) -> index of the pluginDefaults entry that set it
        self.defaulted: dict[tuple[Path, str], int] = {}
        self.task_ids: dict[str, Path] = {}
        self.may_read_files = True

    def problem(self, path: Path, message: str) -> None:
        if path not in self.explained:
            self.problems.append(self.doc.problem(path, message))

    def _explain(self, path: Path, message: str) -> None:
        self.problem(path, message)
        self.explained.add(path)

    def build(self) -> Flow | None:
        # The document was parsed for this build alone (load_flow): its data is changed
        # in place (legacy forms, defaults, built tasks) rather than copied first. Aliases
        # are no risk: the YAML loader builds every use of an anchor anew.
        data = self.doc.data
        if not isinstance(data, dict):
            self.problem((), "a flow is a YAML mapping")
            return None
        rewrite_legacy(
            data,
            lambda path, message: self.deprecations.append(self.doc.problem(path, message)),
            self._explain,
        )
        # The flow's own defaults come before the server's; forced ones are applied last
        # so they win over everything (Kestra's order).
        defaults = [*self._plugin_defaults(data.get("pluginDefaults")), *self.global_defaults]
        defaults.sort(key=lambda d: d.forced)
        if defaults:
            for key in (*_FLOW_TASK_LISTS, "triggers"):
                self._apply_defaults(data.get(key), (key,), defaults)
        self.may_read_files = _mentions(data, b"read(")
        if self.text is not None:  # on the plain data, before tasks become models
            self.problems += template_problems(data, self.registries.tasks, self.doc, self.text)
        for key in _FLOW_TASK_LISTS:
            if key in data:
                data[key] = self._task_list(data[key], (key,), allow_empty=key != "tasks")
        if "tasks" not in data:
            self.problem((), "a flow needs a 'tasks' list with at least one task")
        if "triggers" in data:
            data["triggers"] = self._plugin_list(
                data["triggers"], ("triggers",), self.registries.triggers, "trigger"
            )
        flow = self._validate(Flow, data, ())
        if flow is not None:
            self._check_unique_ids(flow)
            if flow.inputs:  # the input types are imported by the first flow with inputs
                from engine.input_types import check_declarations

                for loc, message in check_declarations(list(flow.inputs)):
                    self.problem(("inputs", *loc), message)
        return flow

    # -- pluginDefaults ----------------------------------------------------

    def _plugin_defaults(self, raw: Any) -> list[PluginDefault]:
        if raw is None:
            return []
        try:
            return list(TypeAdapter(list[PluginDefault]).validate_python(raw))
        except ValidationError:
            return []  # reported with its location when the flow itself is validated

    def _apply_defaults(self, node: Any, path: Path, defaults: list[PluginDefault]) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                self._apply_defaults(item, (*path, i), defaults)
            return
        if not isinstance(node, dict):
            return
        type_name = node.get("type")
        if isinstance(type_name, str):
            for index, default in enumerate(defaults):
                if default.matches(type_name):
                    self._merge(node, default.values, path, index, forced=default.forced)
        for key, value in node.items():
            self._apply_defaults(value, (*path, key), defaults)

    def _merge(
        self,
        node: dict[str, Any],
        values: Mapping[str, Any],
        path: Path,
        index: int,
        *,
        forced: bool,
    ) -> None:
        for key, value in values.items():
            if key not in node or forced:
                if isinstance(value, dict) and isinstance(node.get(key), dict):
                    self._merge(node[key], value, (*path, key), index, forced=forced)
                else:
                    node[key] = copy.deepcopy(value)
                    self.defaulted[(path, key)] = index
            elif isinstance(value, dict) and isinstance(node[key], dict):
                self._merge(node[key], value, (*path, key), index, forced=forced)

    # -- building plugins bottom-up ------------------------------------------

    def _task_list(self, raw: Any, path: Path, *, allow_empty: bool) -> Any:
        if not isinstance(raw, list):
            self.problem(path, "expected a list of tasks")
            return []
        if not raw and not allow_empty:
            self.problem(path, "a task list cannot be empty")
        return [t for t in (self._task(item, (*path, i)) for i, item in enumerate(raw)) if t]

    def _task(self, raw: Any, path: Path) -> Task | None:
        cls = self._plugin_class(raw, path, self.registries.tasks, "task")
        task_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(task_id, str):
            if task_id in self.task_ids:
                first = format_path(self.task_ids[task_id])
                self.problem(
                    (*path, "id"),
                    f"duplicate task id {task_id!r} (first at {first}): task ids are unique in a flow",
                )
            else:
                self.task_ids[task_id] = path
        if cls is None:
            return None
        data = dict(raw)
        for name, kind in cls.children.items():
            field = cls.model_fields[name]
            key = field.alias or name
            if key not in data:
                continue
            data[key] = self._children(
                data[key], (*path, key), kind, optional=name in ("errors", "finally_")
            )
        task = self._validate(cls, data, path)
        if task is not None:
            for loc, message in task.static_problems():
                self.problem((*path, *loc), message)
        return task

    def _children(self, raw: Any, path: Path, kind: ChildKind, *, optional: bool) -> Any:
        if kind is ChildKind.LIST:
            return self._task_list(raw, path, allow_empty=optional)
        if kind is ChildKind.SINGLE:
            return self._task(raw, path)
        if kind is ChildKind.MAP_OF_LISTS:
            if not isinstance(raw, dict):
                self.problem(path, "expected a map of task lists")
                return {}
            return {
                str(k): self._task_list(v, (*path, k), allow_empty=False) for k, v in raw.items()
            }
        if not isinstance(raw, list):  # DAG
            self.problem(path, "expected a list of {task, dependsOn}")
            return []
        if not raw:
            self.problem(path, "a task list cannot be empty")
        nodes = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or "task" not in item:
                self.problem(
                    (*path, i), "a dag entry is a map with 'task' and optional 'dependsOn'"
                )
                continue
            built = self._task(item["task"], (*path, i, "task"))
            if built is not None:
                nodes.append({**item, "task": built})
        return nodes

    def _plugin_list(self, raw: Any, path: Path, registry: PluginRegistry, kind: str) -> Any:
        if not isinstance(raw, list):
            self.problem(path, f"expected a list of {kind}s")
            return []
        built = (self._plugin(item, (*path, i), registry, kind) for i, item in enumerate(raw))
        return [b for b in built if b is not None]

    def _plugin(self, raw: Any, path: Path, registry: PluginRegistry, kind: str) -> Any:
        cls = self._plugin_class(raw, path, registry, kind)
        if cls is None:
            return None
        data = dict(raw)
        if "conditions" in data:
            data["conditions"] = self._conditions(data["conditions"], (*path, "conditions"))
        return self._validate(cls, data, path)

    def _conditions(self, raw: Any, path: Path) -> Any:
        """A trigger's list of conditions, or a MultipleCondition's map of them by key."""
        registry = self.registries.conditions
        if not isinstance(raw, dict):
            return self._plugin_list(raw, path, registry, "condition")
        built = {str(k): self._plugin(v, (*path, k), registry, "condition") for k, v in raw.items()}
        return {k: v for k, v in built.items() if v is not None}

    def _plugin_class(self, raw: Any, path: Path, registry: PluginRegistry, kind: str) -> Any:
        if not isinstance(raw, dict):
            self.problem(path, f"a {kind} is a map with an 'id' and a 'type'")
            return None
        type_name = raw.get("type")
        if not isinstance(type_name, str) or not type_name:
            where = (*path, "type") if "type" in raw else path
            self.problem(where, f"a {kind} needs a 'type'")
            return None
        cls = registry.get(type_name)
        if cls is None:
            reason = registry.unavailable_reason(type_name)
            self.problem(
                (*path, "type"),
                f"{kind} type {type_name!r} is not available: {reason}"
                if reason
                else f"unknown {kind} type {type_name!r}{did_you_mean(registry.suggest(type_name))}",
            )
        return cls

    def _validate(self, cls: Any, data: dict[str, Any], path: Path) -> Any:
        # A pluginDefaults entry by prefix (`io.kestra.plugin.gcp`) covers types with
        # different properties (`bucket` is the trigger's, not Upload's): as Kestra, a
        # default the type does not have is left out, not an error.
        if self.defaulted:
            known = {f.alias or n for n, f in cls.model_fields.items()} | set(cls.model_fields)
            for key in [k for k in data if k not in known and (path, k) in self.defaulted]:
                del data[key]
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                self._report(cls, data, path, error)
            return None

    def _report(self, cls: Any, data: Any, path: Path, error: Mapping[str, Any]) -> None:
        loc = _data_loc(data, error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            known = sorted((f.alias or n) for n, f in cls.model_fields.items() if n not in NOT_YAML)
            name = loc[-1] if loc else "?"
            close = difflib.get_close_matches(str(name), known, n=2)
            message = f"unknown property {name!r}{did_you_mean(close)}"
        elif error["type"] == "missing":
            message = f"missing required property {loc[-1]!r}" if loc else message
            loc = loc[:-1] if loc else loc
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        full = (*path, *loc)
        if len(full) > len(path):
            index = self.defaulted.get((full[:-1], str(full[-1])))
            if index is not None:
                message += f" (set by pluginDefaults[{index}])"
        self.problem(full, message)

    # -- whole-flow checks -----------------------------------------------------

    def _check_unique_ids(self, flow: Flow) -> None:
        trigger_ids = [t.id for t in flow.triggers]
        for i, trigger_id in enumerate(trigger_ids):
            if trigger_id in trigger_ids[:i]:
                self.problem(("triggers", i, "id"), f"duplicate trigger id {trigger_id!r}")


def _data_loc(data: Any, loc: Sequence[Any]) -> Path:
    """Keep the parts of a pydantic error location that name real places in the data
    (pydantic adds union member names such as `function-after[...]`)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and part == node.get("type"):
            continue  # a discriminated union's tag (an input's or an SLA's type)
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list | tuple)
            and isinstance(part, int)
            and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and "[" not in part:
            out.append(part)  # a missing or unknown key: name it
            node = None
        elif isinstance(node, Model):
            node = None
    return tuple(out)
