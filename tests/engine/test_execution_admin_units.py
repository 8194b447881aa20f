"""The tricky parts of the executions' admin API, without a server: marking a task run
(engine/reruns.py `plan_mark`), the context a debug expression sees (loop values key
outputs as in the walk; no secret), and the metric aggregates' buckets (Kestra's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.catalog import default_registries
from engine.debug_expression import eval_context, evaluate
from engine.events import ExecutionChanged, TaskRunChanged
from engine.flow import load_flow
from engine.reruns import RerunRefused, plan_mark
from engine.states import State
from engine.templating.secrets import SecretStore
from engine.web.api.metrics import _bucket, _group_by

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

FLOW = """
id: looped
namespace: units
inputs:
  - {id: token, type: SECRET}
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [a, b]
    tasks:
      - {id: inner, type: io.kestra.plugin.core.debug.Return, format: "{{ taskrun.value }}"}
  - {id: after, type: io.kestra.plugin.core.debug.Return, format: done}
"""


def header(state: State = State.FAILED) -> ExecutionChanged:
    return ExecutionChanged(
        execution_id="e", namespace="units", flow_id="looped", seq=9, at=T0, revision=1,
        state=state, created_at=T0, inputs={"token": "s3cret-token"}, labels={"team.name": "x"},
    )  # fmt: skip


def run(
    run_id: str, task_id: str, state: State, *, parent: str | None = None,
    value: str | None = None, outputs: dict | None = None, seq: int = 1,
) -> TaskRunChanged:  # fmt: skip
    return TaskRunChanged(
        execution_id="e", namespace="units", flow_id="looped", seq=seq, at=T0,
        task_run_id=run_id, task_id=task_id, parent_task_run_id=parent, value=value,
        state=state, created_at=T0, outputs=outputs or {},
    )  # fmt: skip


RUNS = [
    run("r-each", "each", State.FAILED, seq=2),
    run("r-a", "inner", State.SUCCESS, parent="r-each", value="a", outputs={"value": "a"}, seq=3),
    run("r-b", "inner", State.FAILED, parent="r-each", value="b", seq=4),
]


def test_marking_a_task_run_restarts_its_ancestors_and_the_execution() -> None:
    plan, published = plan_mark(header(), RUNS, "r-b", State.SUCCESS, T0 + timedelta(1))
    assert [(r.task_run_id, r.state) for r in published] == [
        ("r-b", State.RESTARTED), ("r-b", State.SUCCESS), ("r-each", State.RESTARTED),
    ]  # fmt: skip
    seqs = [r.seq for r in published]
    assert seqs == sorted(seqs) and seqs[0] > 9 and plan.header.seq > seqs[-1]
    assert plan.header.state is State.RESTARTED and plan.last_seq == plan.header.seq
    recorded = {r.task_run_id: r for r in plan.task_runs}
    assert recorded["r-b"].state is State.SUCCESS and recorded["r-a"] == RUNS[1]
    assert recorded["r-each"].attempt == 2 and recorded["r-each"].state is State.RESTARTED


@pytest.mark.parametrize(
    ("execution", "task_run_id", "state", "reason"),
    [
        (header(State.RUNNING), "r-b", State.SUCCESS, "once the execution has ended"),
        (header(), "r-b", State.RUNNING, "can be marked"),
        (header(), "nope", State.SUCCESS, "no task run"),
        (header(), "r-a", State.SUCCESS, "already"),
    ],
)
def test_marking_is_refused_with_the_reason(
    execution: ExecutionChanged, task_run_id: str, state: State, reason: str
) -> None:
    with pytest.raises(RerunRefused, match=reason):
        plan_mark(execution, RUNS, task_run_id, state, T0)


async def test_a_debug_expression_sees_the_loop_outputs_and_no_secret() -> None:
    flow = load_flow(FLOW, default_registries())
    context = eval_context(flow, header(), RUNS, RUNS[2], envs={"region": "eu"})
    assert context["outputs"] == {"inner": {"a": {"value": "a"}}}
    assert context["taskrun"]["value"] == "b" and context["parent"]["taskrun"]["id"] == "r-each"
    assert context["inputs"] == {"token": "******"}
    assert context["labels"]["team"]["name"] == "x" and context["envs"] == {"region": "eu"}
    masks = SecretStore({})
    masks.reveal("s3cret-token")
    seen = await evaluate(
        "{{ outputs.inner.a.value }}/{{ taskrun.value }}/{{ task.type }}", context,
        storage=None, masks=masks,
    )  # fmt: skip
    assert seen.result == "a/b/io.kestra.plugin.core.debug.Return"
    leaked = dict(context, inputs={"token": "s3cret-token"})
    assert (await evaluate("{{ inputs.token }}", leaked, storage=None, masks=masks)).result == (
        "******"
    )
    for reaching_out in ("{{ secret('TOKEN') }}", "{{ read('query.sql') }}", "{{ kv('key') }}"):
        refused = await evaluate(reaching_out, context, storage=None, masks=masks)
        assert refused.result is None and "available" in (refused.error or ""), refused.error


def test_metric_buckets_follow_kestras_group_by() -> None:
    assert _group_by(timedelta(hours=6)) == "minute"
    assert _group_by(timedelta(hours=7)) == "hour"
    assert _group_by(timedelta(days=2)) == "day"
    assert _group_by(timedelta(days=181)) == "week"
    assert _group_by(timedelta(days=366)) == "month"
    assert _bucket(T0, "minute") == T0.replace(second=0)
    assert _bucket(T0, "week") == datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
    assert _bucket(T0, "month") == datetime(2026, 3, 1, tzinfo=UTC)
