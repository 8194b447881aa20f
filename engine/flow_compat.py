"""Older Kestra forms that Kestra 1.x still loads, rewritten to their 1.x form at load.

Each rewrite leaves a deprecation warning (path and message) so `podium flow validate`
and the validate API can say what to change; forms Kestra 1.x refuses, or that Podium
cannot honour, become load problems instead, never a property accepted and ignored.
Works on the plain YAML data, before tasks become models (loading stays pure).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["rewrite_legacy"]

Path = tuple[str | int, ...]
Report = Callable[[Path, str], None]

_FOREACH = "io.kestra.plugin.core.flow.ForEach"
_LOG = "io.kestra.plugin.core.log.Log"
_SUBFLOW_TYPES = ("io.kestra.plugin.core.flow.Subflow", "io.kestra.plugin.core.flow.Flow")
_TASK_LISTS = ("tasks", "errors", "finally", "afterExecution")
_TEMPLATE_TYPES = ("io.kestra.plugin.core.flow.Template", "io.kestra.core.tasks.flows.Template")


def _kind(type_name: Any) -> str:
    """The short class name of a plugin type ("EachSequential"), or ""."""
    return type_name.rsplit(".", 1)[-1] if isinstance(type_name, str) else ""


def rewrite_legacy(data: dict[str, Any], deprecated: Report, problem: Report) -> None:
    """Rewrite `data` (a flow's YAML mapping) in place; report what was found."""
    if "taskDefaults" in data:
        legacy = data.pop("taskDefaults")
        deprecated(("taskDefaults",), "taskDefaults is deprecated: use pluginDefaults")
        if isinstance(legacy, list):
            current = data.get("pluginDefaults")
            data["pluginDefaults"] = [*legacy, *(current if isinstance(current, list) else [])]
    if "listeners" in data:
        data.pop("listeners")
        problem(
            ("listeners",),
            "listeners were removed from Kestra: start a second flow with a Flow trigger "
            "(io.kestra.plugin.core.trigger.Flow) on this flow's executions instead",
        )
    for index, spec in enumerate(_list(data.get("inputs"))):
        if isinstance(spec, dict) and spec.get("type") == "ENUM":
            spec["type"] = "SELECT"
            deprecated(("inputs", index, "type"), "input type ENUM is deprecated: use SELECT")
    identity = (data.get("namespace"), data.get("id"))
    for key in _TASK_LISTS:
        _walk(data.get(key), (key,), identity, deprecated, problem)
    for index, trigger in enumerate(_list(data.get("triggers"))):
        if isinstance(trigger, dict) and "workerGroup" in trigger:
            problem(("triggers", index, "workerGroup"), _WORKER_GROUP)
        is_schedule = isinstance(trigger, dict) and _kind(trigger.get("type")) == "Schedule"
        if is_schedule and "backfill" in trigger:
            deprecated(("triggers", index, "backfill"), _SCHEDULE_BACKFILL)


def _list(value: Any) -> list[Any]:
    """A list the flow holds, or nothing: a wrong shape is the model's to report."""
    return value if isinstance(value, list) else []


# Kestra 1.x keeps the property so old flows load, and no longer reads it.
_SCHEDULE_BACKFILL = (
    "Schedule `backfill` is deprecated and not acted on (Kestra 1.x ignores it too): start "
    "a backfill with POST /api/v1/triggers/{namespace}/{flowId}/{triggerId}/backfill, the "
    "UI's Triggers tab or `podium trigger backfill`"
)

_WORKER_GROUP = (
    "workerGroup is a Kestra Enterprise feature that Podium does not have: remove it "
    "(every Podium worker runs every task)"
)


def _walk(
    node: Any, path: Path, identity: tuple[Any, Any], deprecated: Report, problem: Report
) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _walk(item, (*path, index), identity, deprecated, problem)
        _unfold_pause_tasks(node, path, deprecated)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("type"), str) and "id" in node:
        _task(node, path, identity, deprecated, problem)
    for key, value in node.items():
        if isinstance(value, (dict, list)):
            _walk(value, (*path, key), identity, deprecated, problem)


def _unfold_pause_tasks(tasks: list[Any], path: Path, deprecated: Report) -> None:
    """Kestra 0.x Pause ran its own `tasks` once resumed: the same as those tasks right
    after the Pause in the list that holds it."""
    index = 0
    for original, item in enumerate(list(tasks)):
        if (
            isinstance(item, dict)
            and _kind(item.get("type")) == "Pause"
            and isinstance(item.get("tasks"), list)
        ):
            children = item.pop("tasks")
            deprecated(
                (*path, original, "tasks"),
                "Pause `tasks` is deprecated: put the tasks after the Pause",
            )
            tasks[index + 1 : index + 1] = children
            index += len(children)
        index += 1


def _task(
    task: dict[str, Any], path: Path, identity: tuple[Any, Any], deprecated: Report, problem: Report
) -> None:
    kind = _kind(task["type"])
    if "workerGroup" in task:
        problem((*path, "workerGroup"), _WORKER_GROUP)
    if task["type"] in _SUBFLOW_TYPES and "outputs" in task:
        deprecated(
            (*path, "outputs"),
            "Subflow `outputs` is deprecated: declare `outputs:` in the subflow and read "
            "them as outputs.<this task>.outputs.<id>",
        )
    if kind in ("EachSequential", "EachParallel"):
        deprecated((*path, "type"), f"{kind} is deprecated: use ForEach")
        task["type"] = _FOREACH
        if "value" in task:
            task["values"] = task.pop("value")
        concurrent = task.pop("concurrent", 0) if kind == "EachParallel" else 1
        task.setdefault("concurrencyLimit", concurrent)
    elif kind == "Echo" and "debug" in task["type"]:
        deprecated((*path, "type"), "debug.Echo is deprecated: use log.Log")
        task["type"] = _LOG
        if "format" in task:
            task["message"] = task.pop("format")
    elif kind == "Switch" and "defaults" in task and task["defaults"] is None:
        deprecated((*path, "defaults"), "`defaults: null` is deprecated: leave defaults out")
        del task["defaults"]
    elif kind == "LocalFiles" and ".storage" in task["type"]:
        deprecated(
            (*path, "type"),
            "storage.LocalFiles is deprecated: use the WorkingDirectory's `inputFiles` "
            "and `outputFiles`",
        )
    elif kind == "Template" and task["type"] in _TEMPLATE_TYPES:
        problem(
            (*path, "type"),
            "flow.Template is deprecated and disabled in Kestra (templates were removed): "
            "put the reusable tasks in a flow of their own and call it with "
            "io.kestra.plugin.core.flow.Subflow",
        )
    elif (
        task["type"] in _SUBFLOW_TYPES
        and identity[0] is not None
        and (task.get("namespace"), task.get("flowId")) == identity
    ):
        problem((*path, "flowId"), "a Subflow cannot call its own flow (infinite recursion)")
