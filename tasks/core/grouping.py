"""Grouping tasks: Sequential, Parallel, Dag, AllowFailure, WorkingDirectory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import Field

from engine.plugin import ChildKind, FlowableTask, Model, RunContext, Task, plugin
from tasks.scripts.execution import as_list
from tasks.scripts.models import NamespaceFilesSpec
from tasks.scripts.nsfiles import load_namespace_files

__all__ = ["TASKS", "AllowFailure", "Dag", "Parallel", "Sequential", "WorkingDirectory"]

_LIST_CHILDREN: Mapping[str, ChildKind] = {
    "tasks": ChildKind.LIST,
    "errors": ChildKind.LIST,
    "finally_": ChildKind.LIST,
}


@plugin("io.kestra.plugin.core.flow.Sequential")
class Sequential(FlowableTask):
    children: ClassVar[Mapping[str, ChildKind]] = _LIST_CHILDREN

    tasks: tuple[Task, ...]

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        await ctx.run_tasks(self.tasks)
        return None


@plugin("io.kestra.plugin.core.flow.Parallel")
class Parallel(FlowableTask):
    """Run child tasks at the same time, at most `concurrent` at once (0: no limit)."""

    children: ClassVar[Mapping[str, ChildKind]] = _LIST_CHILDREN

    tasks: tuple[Task, ...]
    concurrent: int = Field(default=0, ge=0)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        await ctx.run_dag([(task, ()) for task in self.tasks], concurrency=self.concurrent)
        return None


class DagNode(Model):
    task: Task
    dependsOn: tuple[str, ...] = ()


@plugin("io.kestra.plugin.core.flow.Dag")
class Dag(FlowableTask):
    """Run tasks as soon as the tasks they depend on succeeded."""

    children: ClassVar[Mapping[str, ChildKind]] = {
        "tasks": ChildKind.DAG,
        "errors": ChildKind.LIST,
        "finally_": ChildKind.LIST,
    }

    tasks: tuple[DagNode, ...]
    concurrent: int = Field(default=0, ge=0)

    def static_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        ids = [node.task.id for node in self.tasks]
        for i, node in enumerate(self.tasks):
            for j, dep in enumerate(node.dependsOn):
                if dep not in ids:
                    yield ("tasks", i, "dependsOn", j), f"unknown task {dep!r} in dependsOn"
                elif dep == node.task.id:
                    yield ("tasks", i, "dependsOn", j), "a task cannot depend on itself"
        cycle = _find_cycle({n.task.id: [d for d in n.dependsOn if d in ids] for n in self.tasks})
        if cycle:
            yield ("tasks",), "dependency cycle: " + " -> ".join(cycle)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        await ctx.run_dag([(n.task, n.dependsOn) for n in self.tasks], concurrency=self.concurrent)
        return None


def _find_cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for dep in graph.get(node, ()):
            found = visit(dep)
            if found:
                return found
        visiting.pop()
        done.add(node)
        return None

    for start in graph:
        found = visit(start)
        if found:
            return found
    return None


@plugin("io.kestra.plugin.core.flow.AllowFailure")
class AllowFailure(FlowableTask):
    """Run child tasks; if they fail, end in WARNING and let the flow go on."""

    children: ClassVar[Mapping[str, ChildKind]] = _LIST_CHILDREN

    tasks: tuple[Task, ...]
    allowFailure: bool = True

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        await ctx.run_tasks(self.tasks)
        return None


@plugin("io.kestra.plugin.core.flow.WorkingDirectory")
class WorkingDirectory(FlowableTask):
    """Run child tasks in one shared working directory (files persist between them)."""

    children: ClassVar[Mapping[str, ChildKind]] = _LIST_CHILDREN

    tasks: tuple[Task, ...]
    inputFiles: dict[str, str] | None = None
    namespaceFiles: NamespaceFilesSpec | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        folder = ctx.share_working_dir()
        await load_namespace_files(
            ctx,
            folder,
            self.namespaceFiles,
            render=ctx.render,
            render_list=lambda value: as_list(ctx.render(value)),
        )
        for name, content in (self.inputFiles or {}).items():
            target = (folder / name).resolve()
            if not target.is_relative_to(folder.resolve()):
                raise ValueError(
                    f"input file {name!r} would be written outside the working directory"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            rendered = ctx.render_text(content)
            if rendered.startswith("kestra://"):
                target.write_bytes(ctx.storage.read_bytes(rendered))
            else:
                target.write_text(rendered)
        await ctx.run_tasks(self.tasks)
        return None


TASKS: tuple[type, ...] = (AllowFailure, Dag, Parallel, Sequential, WorkingDirectory)
