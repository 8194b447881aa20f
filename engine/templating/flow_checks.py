"""Every template of a flow checked at load, each problem placed at its file:line:column.

Kestra finds a misspelled filter or an `outputs.x` of a task that does not exist only
when the task runs; Podium refuses the flow when it is saved or validated. Per string
that holds `{{` or `{%` (the only ones rendering touches), `checks.analyze` reports syntax
errors and unknown functions, filters and tests; here each `outputs.<id>` read is matched
against the flow's tasks:

- an id no task has is an error ("did you mean");
- an id whose task cannot have run yet is an error: a later sibling, a task in a later
  branch list (`else` does not see `then`), or a task of `errors`/`finally` read from the
  main tasks. What runs before a task: earlier siblings in its list and everything inside
  them, the same for each enclosing list; a flow's `errors` see its `tasks`, `finally`
  sees both, `afterExecution` and the flow's `outputs` see everything.
- never an error (it may be legitimate): siblings inside a container whose children run
  concurrently or repeatedly (Parallel, Dag, ForEach, WaitFor, LoopUntil), ancestors and
  descendants of the task (a WaitFor's condition reads its children), computed keys.
  `variables`, `labels`, triggers and inputs are only checked for unknown ids: they are
  rendered wherever they are used. Strings under `description` are documentation.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Problem
from engine.plugin import ChildKind, PluginRegistry, did_you_mean
from engine.templating.checks import Finding, analyze, known_names, locate_in_template, suggest
from engine.yaml_loader import YamlDocument, format_path

__all__ = ["template_problems"]

Path = tuple[str | int, ...]
# Containers whose children may all have run when any one of them runs.
_CONCURRENT_OR_LOOPING = frozenset(
    {"Parallel", "Dag", "ForEach", "WaitFor", "LoopUntil", "EachParallel", "EachSequential"}
)
_AFTER_MAIN = ("errors", "finally")
_NOT_RENDERED = frozenset({"description", "displayName"})
_FLOW_LISTS = ("tasks", "errors", "finally", "afterExecution")
_NOT_CHECKED = frozenset({"id", "namespace", "revision", "pluginDefaults", "tenantId"})
_NOT_TASK_TEMPLATES = frozenset({"id", "type"}) | _NOT_RENDERED
# ForEachItem's outputs are also published under these ids, as in Kestra.
_FOR_EACH_ITEM_SUFFIXES = ("_split", "_items", "_merge")
_Placed = tuple[Path, Any]  # a task's raw data and its path in the flow


@dataclass(slots=True)  # not frozen: made twice per task, and a frozen one costs twice as much
class _Scope:
    """The ids of the tasks that have run before a place of the flow, whose outputs a
    template there may read: `ids`, the first `limit` siblings of a task list (`order`
    maps each id of the list's subtree to its sibling's index), and the parent scope.

    Linked, not copied: copying the ids seen so far into a set for every task made the
    checks of a flow of n tasks cost n²; most templates read no output at all, and a
    lookup walks a few links."""

    ids: AbstractSet[str] = frozenset()
    order: Mapping[str, int] = field(default_factory=dict)
    limit: int = 0
    parent: _Scope | None = None

    def __repr__(self) -> str:
        return f"<_Scope {len(self.ids)} ids, {self.limit} siblings>"

    def __contains__(self, task_id: object) -> bool:
        scope: _Scope | None = self
        while scope is not None:
            if task_id in scope.ids:
                return True
            if scope.limit and scope.order.get(task_id, scope.limit) < scope.limit:  # type: ignore[call-overload]
                return True
            scope = scope.parent
        return False


# `visible` for templates rendered in another flow's execution: task ids are not checked
_OTHER_FLOW = _Scope()


def template_problems(
    data: dict[str, Any], registry: PluginRegistry, doc: YamlDocument, text: str
) -> list[Problem]:
    """Every template problem of the flow `data` (plain YAML data, pluginDefaults applied)."""
    walker = _Walker(registry, doc, text)
    walker.all_ids = frozenset(
        walker.subtree_ids([t for key in _FLOW_LISTS for t in _as_list(data.get(key))])
    )
    seen: set[str] = set()
    for key in _FLOW_LISTS:
        tasks = _as_list(data.get(key))
        visible = _Scope(walker.all_ids if key == "afterExecution" else frozenset(seen))
        placed: list[_Placed] = [((key, i), t) for i, t in enumerate(tasks)]
        walker.visit_list(placed, visible, frozenset(), concurrent=False)
        seen |= walker.subtree_ids(tasks)
    for key, value in data.items():
        if key not in _FLOW_LISTS and key not in _NOT_CHECKED and key not in _NOT_RENDERED:
            walker.check_value(value, (key,), None)
    return sorted(walker.problems, key=lambda p: (p.line or 0, p.column or 0))


def _kind(task: dict[str, Any]) -> str:
    return str(task.get("type", "")).rsplit(".", 1)[-1]


def _as_list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []


class _Walker:
    def __init__(self, tasks: PluginRegistry, doc: YamlDocument, text: str) -> None:
        self.tasks = tasks
        self.doc = doc
        self.text = text
        self.all_ids: frozenset[str] = frozenset()
        self.problems: list[Problem] = []
        self._child_properties: dict[str, tuple[tuple[str, ChildKind], ...]] = {}

    def __repr__(self) -> str:
        return f"<_Walker {len(self.problems)} problems>"

    # -- the task tree ----------------------------------------------------------------

    def children(self, task: dict[str, Any], path: Path) -> Iterator[tuple[str, list[_Placed]]]:
        """(property, [(path, task), ...]) for every child list of `task`, in property
        order; a Dag's entries give their `task`."""
        for key, kind in self.child_properties(task):
            raw = task.get(key)
            if raw is None:
                continue
            if kind is ChildKind.LIST:
                yield key, [((*path, key, i), t) for i, t in enumerate(_as_list(raw))]
            elif kind is ChildKind.SINGLE:
                yield key, [((*path, key), raw)]
            elif kind is ChildKind.MAP_OF_LISTS and isinstance(raw, dict):
                for case, tasks in raw.items():
                    yield key, [((*path, key, case, i), t) for i, t in enumerate(_as_list(tasks))]
            elif kind is ChildKind.DAG:
                yield (
                    key,
                    [
                        ((*path, key, i, "task"), entry.get("task"))
                        for i, entry in enumerate(_as_list(raw))
                        if isinstance(entry, dict)
                    ],
                )

    def child_properties(self, task: dict[str, Any]) -> tuple[tuple[str, ChildKind], ...]:
        """(YAML key, kind) of each child-task property of `task`'s type, looked up once
        per type: the walk asks for every task, several times."""
        type_name = task.get("type")
        if not isinstance(type_name, str):
            return ()
        found = self._child_properties.get(type_name)
        if found is None:
            cls: Any = self.tasks.get(type_name)
            found = (
                ()
                if cls is None
                else tuple(
                    (cls.model_fields[name].alias or name, kind)
                    for name, kind in cls.children.items()
                )
            )
            self._child_properties[type_name] = found
        return found

    def subtree_ids(self, tasks: Sequence[Any]) -> set[str]:
        ids: set[str] = set()
        for task in tasks:
            if not isinstance(task, dict):
                continue
            task_id = task.get("id")
            if isinstance(task_id, str):
                ids.add(task_id)
                if str(task.get("type", "")).endswith(".ForEachItem"):
                    ids |= {task_id + suffix for suffix in _FOR_EACH_ITEM_SUFFIXES}
            if self.child_properties(task):  # most tasks have no child list
                for _, placed in self.children(task, ()):
                    ids |= self.subtree_ids([t for _, t in placed])
        return ids

    def visit_list(
        self,
        placed: list[_Placed],
        before: _Scope,
        ancestors: frozenset[str],
        *,
        concurrent: bool,
    ) -> None:
        if concurrent:
            before = _Scope(frozenset(self.subtree_ids([t for _, t in placed])), parent=before)
        # a disabled task never renders: flows keep stale ones, Kestra loads them
        active = [
            (index, path, task)
            for index, (path, task) in enumerate(placed)
            if isinstance(task, dict) and task.get("disabled") is not True
        ]
        order: dict[str, int] = {}
        subtrees = {index: self.subtree_ids([task]) for index, _, task in active}
        if not concurrent:  # each task sees the active siblings before it
            for index, ids in subtrees.items():
                for task_id in ids:
                    order.setdefault(task_id, index)
        for index, path, task in active:
            scope = before if concurrent else _Scope(order=order, limit=index, parent=before)
            self.visit_task(task, path, scope, ancestors, subtrees[index])

    def visit_task(
        self,
        task: dict[str, Any],
        path: Path,
        before: _Scope,
        ancestors: frozenset[str],
        own: set[str],
    ) -> None:
        child_keys = [key for key, _ in self.child_properties(task)]
        # Kestra's deprecated Subflow `outputs` name the subflow's tasks: syntax only
        is_foreign = "outputs" in task and _kind(task) in ("Subflow", "Flow")
        visible = _Scope(own, parent=_Scope(ancestors, parent=before) if ancestors else before)
        for key, value in task.items():
            if key not in _NOT_TASK_TEMPLATES and key not in child_keys:
                is_other_flow = is_foreign and key == "outputs"
                self.check_value(value, (*path, key), _OTHER_FLOW if is_other_flow else visible)
        if not child_keys:
            return
        lists = list(self.children(task, path))
        if not lists:
            return
        concurrent = str(task.get("type", "")).rsplit(".", 1)[-1] in _CONCURRENT_OR_LOOPING
        inner = ancestors | {task["id"]} if isinstance(task.get("id"), str) else ancestors
        done: set[str] = set()
        for key, placed in lists:  # the branches: each sees only what ran before the task
            if key not in _AFTER_MAIN:
                self.visit_list(placed, before, inner, concurrent=concurrent)
                done |= self.subtree_ids([t for _, t in placed])
        for after in _AFTER_MAIN:  # errors, then finally: they see what ran before them
            for key, placed in lists:
                if key == after:
                    after_main = _Scope(frozenset(done), parent=before)
                    self.visit_list(placed, after_main, inner, concurrent=False)
                    done |= self.subtree_ids([t for _, t in placed])

    # -- one value --------------------------------------------------------------------

    def check_value(self, value: Any, path: Path, visible: _Scope | None) -> None:
        """Check every template in `value`; `visible` None: only unknown ids are errors."""
        if isinstance(value, str):
            if "{{" in value or "{%" in value:
                for finding in analyze(value):
                    self.report(value, finding, path, visible)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key in _NOT_RENDERED:
                    continue
                self.check_value(key, (*path, key), visible)
                self.check_value(item, (*path, key), visible)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.check_value(item, (*path, index), visible)

    def report(self, template: str, finding: Finding, path: Path, visible: _Scope | None) -> None:
        if visible is _OTHER_FLOW and finding.kind == "output":
            return
        message = _message(finding, self.all_ids, visible)
        if message is None:
            return
        line, column = self.position(template, finding, path)
        self.problems.append(Problem(message, format_path(path), self.doc.source, line, column))

    def position(
        self, template: str, finding: Finding, path: Path
    ) -> tuple[int | None, int | None]:
        """Where the finding is in the file: the same match counted from the start of the
        YAML scalar; the scalar itself when the text cannot be matched (escapes)."""
        mark = self.doc.locate(path)
        if mark is None:
            return None, None
        start = self._line_offsets[mark.line - 1] + mark.column - 1
        located = locate_in_template(template, finding)
        if located is not None:
            nth, pattern = located
            for count, match in enumerate(pattern.finditer(self.text, start)):
                if count == nth:
                    return self._line_column(match.start("at"))
        elif finding.kind == "syntax" and "\n" in template:
            lines = template.split("\n")
            wanted = lines[min(finding.line, len(lines)) - 1].strip()
            found = self.text.find(wanted, start) if wanted else -1
            if found >= 0:
                return self._line_column(found)
        return mark.line, mark.column

    @functools.cached_property
    def _line_offsets(self) -> list[int]:
        """Where each line of the text starts (only a flow with a problem needs them)."""
        return [0, *(m.end() for m in re.finditer("\n", self.text))]

    def _line_column(self, offset: int) -> tuple[int, int]:
        low, high = 0, len(self._line_offsets) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self._line_offsets[middle] <= offset:
                low = middle
            else:
                high = middle - 1
        return low + 1, offset - self._line_offsets[low] + 1


def _message(finding: Finding, all_ids: frozenset[str], visible: _Scope | None) -> str | None:
    if finding.kind == "syntax":
        return f"template syntax error: {finding.message}"
    if finding.kind in ("function", "filter", "test"):
        options = suggest(finding.name, known_names(finding.kind))
        return f"unknown template {finding.kind} {finding.name!r}{did_you_mean(options)}"
    task_id = finding.name
    if task_id not in all_ids:
        options = suggest(task_id, sorted(all_ids))
        return f"'outputs.{task_id}': no task has the id {task_id!r}{did_you_mean(options)}"
    if visible is not None and task_id not in visible:
        return (
            f"'outputs.{task_id}': task {task_id!r} does not run before this one, "
            "so its outputs are not available here"
        )
    return None
