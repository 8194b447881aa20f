"""Evaluating an expression against an ended task run's context: Kestra's "debug
expression" (`POST /api/v1/executions/{id}/eval/{taskRunId}`).

The context is rebuilt from what the store recorded — the execution's header, its task
runs and the flow revision it ran — the way the walk builds it for a running task
(engine/walk.py `context_for`): flow, execution, inputs, vars, outputs, trigger, labels,
envs, task, taskrun, parent and parents. Then the expression is rendered by the same
sandboxed templating as flows, with these bounds, since anyone who may read executions
can send one:

- no secrets: `secret()` fails ("secrets are not available here"), SECRET inputs are
  ******, and the result is masked by the server's secret store like any API answer;
- bounded: the expression's size (the API's), the render's time, loops and output size
  (a `Renderer` of its own), rendered in a worker thread, never on the event loop;
- files: `fileSize()` and its siblings read only this execution's files, as in a flow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import PodiumError
from engine.events import ExecutionChanged, TaskRunChanged
from engine.flow import Flow
from engine.templating import Renderer
from engine.templating.execution_functions import FileStore
from engine.templating.secrets import MASK, SecretStore
from engine.walk import nested_labels

__all__ = ["EVAL_MAX_OUTPUT_CHARS", "EVAL_TIME_LIMIT", "Evaluated", "eval_context", "evaluate"]

EVAL_TIME_LIMIT = 2.0
EVAL_MAX_OUTPUT_CHARS = 256 << 10
EVAL_MAX_LOOP_ITERATIONS = 10_000


@dataclass(frozen=True, slots=True)
class Evaluated:
    """Kestra's EvalResult: the rendered text, or why it could not be rendered."""

    result: str | None = None
    error: str | None = None

    def __repr__(self) -> str:
        return f"<Evaluated {'error' if self.error is not None else 'result'}>"


def _values(run: TaskRunChanged, by_id: Mapping[str, TaskRunChanged]) -> list[str]:
    """The loop values from the outermost ForEach down to `run`: what keys its outputs."""
    chain: list[str] = []
    node: TaskRunChanged | None = run
    seen: set[str] = set()
    while node is not None and node.task_run_id not in seen:
        seen.add(node.task_run_id)
        if node.value is not None:
            chain.append(node.value)
        node = by_id.get(node.parent_task_run_id) if node.parent_task_run_id else None
    return chain[::-1]


def _outputs(runs: Sequence[TaskRunChanged], by_id: Mapping[str, TaskRunChanged]) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for run in sorted(runs, key=lambda r: r.seq):
        if not run.outputs:
            continue
        values = _values(run, by_id)
        if not values:
            outputs[run.task_id] = run.outputs
            continue
        node = outputs.setdefault(run.task_id, {})
        for value in values[:-1]:
            node = node.setdefault(value, {})
        node[values[-1]] = run.outputs
    return outputs


def eval_context(
    flow: Flow,
    header: ExecutionChanged,
    runs: Sequence[TaskRunChanged],
    run: TaskRunChanged,
    *,
    envs: Mapping[str, str],
) -> dict[str, Any]:
    """The template context `run` had (its outputs included, as a later task sees them)."""
    by_id = {r.task_run_id: r for r in runs}
    secret_inputs = {i.id for i in flow.inputs if i.type == "SECRET"}
    inputs = {
        k: MASK if k in secret_inputs and v is not None else v for k, v in header.inputs.items()
    }
    task = flow.find_task(run.task_id)
    context: dict[str, Any] = {
        "flow": {
            "id": flow.id,
            "namespace": flow.namespace,
            "revision": header.revision,
            "tenantId": None,
        },
        "execution": {
            "id": header.execution_id,
            "startDate": header.created_at,
            "originalId": header.original_id or header.execution_id,
            "state": header.state.value,
        },
        "inputs": inputs,
        "vars": flow.variables,
        "outputs": _outputs(runs, by_id),
        "trigger": dict(header.trigger.get("variables", {})) if header.trigger else {},
        "labels": nested_labels(header.labels),
        "envs": dict(envs),
        "task": {"id": run.task_id, "type": task.type if task is not None else None},
        "taskrun": {
            "id": run.task_run_id,
            "startDate": run.started_at,
            "attemptsCount": run.attempt - 1,
            "parentId": run.parent_task_run_id,
            "value": run.value,
            "iteration": run.iteration,
        },
    }
    parents: list[dict[str, Any]] = []
    node = by_id.get(run.parent_task_run_id) if run.parent_task_run_id else None
    while node is not None and len(parents) < len(runs):
        parents.append(
            {
                "taskrun": {"id": node.task_run_id, "value": node.value,
                            "iteration": node.iteration},
                "outputs": node.outputs,
            }
        )  # fmt: skip
        node = by_id.get(node.parent_task_run_id) if node.parent_task_run_id else None
    if parents:
        context["parent"] = parents[0]
        context["parents"] = parents
    return context


async def evaluate(
    expression: str,
    context: Mapping[str, Any],
    *,
    storage: FileStore | None,
    masks: SecretStore | None,
) -> Evaluated:
    """Render `expression` in the sandbox, bounded, without secrets; masked by `masks`."""
    renderer = Renderer(
        secrets=None,
        storage=storage,
        time_limit=EVAL_TIME_LIMIT,
        max_output_chars=EVAL_MAX_OUTPUT_CHARS,
        max_loop_iterations=EVAL_MAX_LOOP_ITERATIONS,
    )
    try:
        result = await asyncio.to_thread(renderer.render, expression, context)
    except PodiumError as exc:
        message = str(exc)
        return Evaluated(error=masks.mask(message) if masks is not None else message)
    return Evaluated(result=masks.mask(result) if masks is not None else result)
