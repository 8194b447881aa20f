"""templating.TemplatedTask: a task whose whole spec is a template, rendered, then run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import FlowDefinitionError, TaskFailed
from engine.plugin import RunContext, Task, plugin
from engine.yaml_loader import load_yaml_value

__all__ = ["MAX_SPEC_CHARS", "TASKS", "TemplatedTask"]

MAX_SPEC_CHARS = 256 << 10
# The task's own settings: a spec that sets one is refused, as they would not apply
# (the TemplatedTask's retry, timeout, runIf… do)
_RUN_SETTINGS = frozenset(Task.model_fields) - {"id", "type", "description"}
# Kestra runs only a RunnableTask: besides flowable ones (with child tasks), these are
# flowable, executable (a subflow) or execution-updating tasks there
_NOT_RUNNABLE = frozenset(
    f"io.kestra.plugin.core.{name}"
    for name in (
        "flow.Pause",
        "flow.Subflow",
        "flow.ForEachItem",
        "execution.Exit",
        "execution.Labels",
        "execution.Resume",
        "execution.SetVariables",
        "execution.UnsetVariables",
    )
)


@plugin(
    "io.kestra.plugin.core.templating.TemplatedTask",
    "io.kestra.core.tasks.templating.TemplatedTask",
)
class TemplatedTask(Task):
    """Render `spec` (YAML: a `type` and its properties) and run the task it describes,
    in this task run: its outputs and logs are this run's. The task is built as a flow's
    are (the flow's pluginDefaults apply, unknown properties are refused); it may not be
    a flowable task nor another TemplatedTask. Kestra: TemplatedTask.java,
    TemplatedTaskTest (templatedType, templatedFlowable, templatedTemplated, plugin
    defaults forced or not)."""

    spec: str

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        text = ctx.render_text(self.spec)
        if len(text) > MAX_SPEC_CHARS:
            raise TaskFailed(f"the rendered spec is over {MAX_SPEC_CHARS:,} characters")
        try:
            spec = load_yaml_value(text, source="spec", max_bytes=MAX_SPEC_CHARS * 4)
        except FlowDefinitionError as exc:
            raise TaskFailed(f"the rendered spec is not YAML: {exc}") from None
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            raise TaskFailed("the rendered spec must be a YAML map with a 'type'")
        spec.setdefault("id", self.id)
        task = ctx.load_task(spec)
        if isinstance(task, TemplatedTask):
            raise TaskFailed(
                "The templated task cannot be of type "
                "'io.kestra.plugin.core.templating.TemplatedTask'"
            )
        if task.is_flowable or getattr(type(task), "type_name", "") in _NOT_RUNNABLE:
            raise TaskFailed("The templated task must be a runnable task")
        settings = sorted(_RUN_SETTINGS & task.model_fields_set)
        if settings:
            raise TaskFailed(
                f"the templated task sets {', '.join(settings)}: set them on the "
                "TemplatedTask itself, where they apply"
            )
        return await task.run(ctx)


TASKS: tuple[type, ...] = (TemplatedTask,)
