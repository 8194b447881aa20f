"""A flow's task tree for the Topology view, from the loaded model.

Each task says which properties hold child tasks (`Task.children`, a `ChildKind` per
property), so the graph needs no list of flowable types: a new flowable plugin shows up
with its branches as soon as it declares them. A branch is `parallel` when its tasks run
side by side: Parallel, a Dag, ForEach with a concurrency limit other than 1. A
Subflow with a literal namespace and flow id names it (`subflow`), for a link.
"""

from __future__ import annotations

from typing import Any

from engine.flow import Flow
from engine.plugin import ChildKind, Task

__all__ = ["flow_graph"]

# Python-side property names that differ from the YAML's.
_ALIASES = {"else_": "else", "finally_": "finally"}


def _is_parallel(task: Task, prop: str) -> bool:
    if prop in ("errors", "finally_"):
        return False
    kind = type(task).children.get(prop)
    if kind is ChildKind.DAG:
        return True
    type_name = type(task).type_name.rsplit(".", 1)[-1]
    if type_name == "Parallel":
        return True
    if type_name == "ForEach":
        return getattr(task, "concurrencyLimit", 1) != 1
    return False


def _node(task: Task) -> dict[str, Any]:
    branches: list[dict[str, Any]] = []
    for prop, kind in type(task).children.items():
        held = getattr(task, prop, None)
        if not held:
            continue
        if kind is ChildKind.MAP_OF_LISTS:
            for case, tasks in held.items():
                branches.append(
                    {"name": str(case), "parallel": False, "tasks": [_node(t) for t in tasks]}
                )
            continue
        if kind is ChildKind.DAG:
            tasks = [node.task for node in held]
            depends = {node.task.id: list(node.dependsOn or ()) for node in held}
        elif kind is ChildKind.SINGLE:
            tasks, depends = [held], {}
        else:
            tasks, depends = list(held), {}
        nodes = [_node(t) for t in tasks]
        for node in nodes:
            if node["id"] in depends:
                node["dependsOn"] = depends[node["id"]]
        branches.append(
            {"name": _ALIASES.get(prop, prop), "parallel": _is_parallel(task, prop), "tasks": nodes}
        )
    drawn: dict[str, Any] = {
        "id": task.id,
        "type": task.type,
        "description": task.description,
        "disabled": task.disabled,
        "flowable": task.is_flowable,
        "branches": branches,
    }
    subflow = _subflow(task)
    if subflow is not None:
        drawn["subflow"] = subflow
    return drawn


def _subflow(task: Task) -> dict[str, str] | None:
    """The flow a Subflow task starts, when its namespace and id are written out (not
    templates, which only an execution can render): the Topology links to it."""
    if type(task).type_name.rsplit(".", 1)[-1] != "Subflow":
        return None
    namespace, flow_id = getattr(task, "namespace", None), getattr(task, "flowId", None)
    if not isinstance(namespace, str) or not isinstance(flow_id, str):
        return None
    if "{{" in namespace + flow_id or "{%" in namespace + flow_id:
        return None
    return {"namespace": namespace, "flowId": flow_id}


def flow_graph(flow: Flow) -> dict[str, Any]:
    return {
        "tasks": [_node(t) for t in flow.tasks],
        "errors": [_node(t) for t in flow.errors],
        "finally": [_node(t) for t in flow.finally_],
        "afterExecution": [_node(t) for t in flow.afterExecution],
        "triggers": [{"id": t.id, "type": t.type, "disabled": t.disabled} for t in flow.triggers],
    }
