"""Tasks that act on the execution itself: Fail, Exit, Labels, Resume, SetVariables,
UnsetVariables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, plugin
from engine.states import State
from tasks.properties import render_choice, render_flag, render_mapping, render_strings

__all__ = ["TASKS", "Exit", "Fail", "Labels", "Resume", "SetVariables", "UnsetVariables"]


@plugin("io.kestra.plugin.core.execution.Fail")
class Fail(Task):
    """Fail the execution, or only when `condition` is true."""

    uses_worker_slot: ClassVar[bool] = False

    condition: str | bool | None = None
    errorMessage: str = "Flow failed"

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        if self.condition is not None:
            is_met = (
                self.condition if isinstance(self.condition, bool) else ctx.is_true(self.condition)
            )
            if not is_met:
                return None
        raise TaskFailed(ctx.render_text(self.errorMessage))


@plugin("io.kestra.plugin.core.execution.Labels")
class Labels(Task):
    """Add or change labels of the running execution."""

    uses_worker_slot: ClassVar[bool] = False

    labels: dict[str, Any] | list[dict[str, Any]] | str

    @field_validator("labels")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if isinstance(value, list) and not all(
            isinstance(i, dict) and set(i) == {"key", "value"} for i in value
        ):
            raise ValueError("a label list holds maps with exactly 'key' and 'value'")
        return value

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        raw: Any = self.labels
        if isinstance(raw, str):
            raw = ctx.evaluate(raw)
        if isinstance(raw, list):
            raw = {item["key"]: item["value"] for item in raw}
        if not isinstance(raw, dict):
            raise TaskFailed("labels must render to a map")
        rendered = ctx.render({str(k): v for k, v in raw.items()})
        labels = {str(k): _text(v) for k, v in rendered.items()}
        if any(k.startswith("system.") for k in labels):
            raise TaskFailed("labels starting with 'system.' are reserved")
        ctx.set_labels(labels)
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@plugin("io.kestra.plugin.core.execution.Resume")
class Resume(Task):
    """Resume a paused execution (this one by default)."""

    uses_worker_slot: ClassVar[bool] = False

    executionId: str | None = None
    namespace: str | None = None
    flowId: str | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        execution_id = ctx.render_text(self.executionId) if self.executionId else ctx.execution_id
        namespace = ctx.render_text(self.namespace) if self.namespace else None
        flow_id = ctx.render_text(self.flowId) if self.flowId else None
        await ctx.resume_execution(execution_id, namespace, flow_id)
        return None


_EXIT_STATES = {
    "SUCCESS": State.SUCCESS,
    "WARNING": State.WARNING,
    "KILLED": State.KILLED,
    "FAILED": State.FAILED,
    "CANCELED": State.CANCELLED,
    "CANCELLED": State.CANCELLED,
}


@plugin("io.kestra.plugin.core.execution.Exit")
class Exit(Task):
    """End the execution, from inside, in `state` (SUCCESS by default; WARNING, FAILED,
    KILLED or CANCELED): this task run and its parents end in that state, and no further
    task starts (nor an `errors` or `finally` branch; `afterExecution` still runs).
    KILLED also kills the tasks still running, a Parallel branch say; with another state
    they finish first. Kestra: Exit.java, ExitTest with flows exit.yaml (WARNING: two task
    runs, the If WARNING) and exit-killed.yaml (both task runs KILLED)."""

    uses_worker_slot: ClassVar[bool] = False
    ends_execution: ClassVar[bool] = True

    state: Literal["SUCCESS", "WARNING", "KILLED", "FAILED", "CANCELED"] | str = "SUCCESS"

    @field_validator("state")
    @classmethod
    def _known_state(cls, value: str) -> str:
        if "{{" not in value and value.strip().upper() not in _EXIT_STATES:
            raise ValueError(
                f"state must be one of SUCCESS, WARNING, KILLED, FAILED, CANCELED, not {value!r}"
            )
        return value

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        choice = render_choice(ctx, self.state, "state", tuple(_EXIT_STATES))
        assert choice is not None
        ctx.exit_execution(_EXIT_STATES[choice])
        return None


@plugin("io.kestra.plugin.core.execution.SetVariables")
class SetVariables(Task):
    """Merge `variables` (rendered) into the execution's `vars`, which the tasks after it
    read as `{{ vars.name }}`; nested maps merge, anything else is replaced. With
    `overwrite: false`, a name already there fails the task. Until a task changes them,
    `vars` are the flow's `variables`. Kestra: SetVariables.java, SetVariablesTest with
    flows set-variables.yaml ("Hello Loïc") and set-variables-duplicate.yaml (FAILED)."""

    uses_worker_slot: ClassVar[bool] = False

    variables: dict[str, Any] | str
    overwrite: bool | str = True

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        new = render_mapping(ctx, self.variables, "variables")
        current = dict(ctx.execution_variables)
        if not render_flag(ctx, self.overwrite, "overwrite"):
            taken = [name for name in new if name in current]
            if taken:
                raise TaskFailed(
                    "`overwrite` is set to false and the following variables already "
                    f"exist: {','.join(taken)}"
                )
        ctx.set_execution_variables(deep_merge(current, new))
        return None


def deep_merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`changes` over `base`: maps in both are merged, key by key; the rest replaced."""
    merged = dict(base)
    for key, value in changes.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


@plugin("io.kestra.plugin.core.execution.UnsetVariables")
class UnsetVariables(Task):
    """Remove names from the execution's `vars` (`a.b` removes `b` inside the map `a`).
    As Kestra does, a name that is not there is no error, but a path through a value
    that is not there (or not a map) fails, unless `ignoreMissing: true`.
    Kestra: UnsetVariables.java, UnsetVariablesTest with flow unset-variables.yaml."""

    uses_worker_slot: ClassVar[bool] = False

    variables: list[str] | str
    ignoreMissing: bool | str = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        names = render_strings(ctx, self.variables, "variables")
        ignore_missing = bool(render_flag(ctx, self.ignoreMissing, "ignoreMissing"))
        variables = _copy_maps(ctx.execution_variables)
        for name in names:
            _remove(variables, name, ignore_missing)
        ctx.set_execution_variables(variables)
        return None


def _copy_maps(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy_maps(v) for k, v in value.items()}
    return value


def _remove(variables: dict[str, Any], name: str, ignore_missing: bool) -> None:
    *path, last = name.split(".")
    node: Any = variables
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            if ignore_missing:
                return
            raise TaskFailed(f"cannot unset {name!r}: {part!r} is not a map of the variables")
    node.pop(last, None)


TASKS: tuple[type, ...] = (Exit, Fail, Labels, Resume, SetVariables, UnsetVariables)
