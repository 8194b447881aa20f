"""Running an ended execution again: restart (in place) and replay (a new execution).

Both are plans computed from what the store recorded — the execution's header and its
task runs — and handed to an `ExecutionWalk` as recorded runs. The walk already skips a
recorded run that ended and re-runs one that did not, so:

Both keep Kestra's system labels: `system.restarted` on a restarted execution,
`system.replay` and the original's `system.correlationId` on a replay.

- **restart** turns every FAILED or KILLED task run into a RESTARTED one with the next
  attempt number (the one way out of a terminal state), keeps the runs that succeeded,
  and moves the execution to RESTARTED. Flowable parents of a failed run failed too, so
  they run again and find their succeeded children recorded.
- **replay** copies, into a new execution, the runs that ended well before the chosen
  task run (not the run itself, its ancestors or its descendants), under the new
  execution's deterministic ids; without a task run, nothing is copied.
- **mark** a task run of an ended execution with another state (Kestra's "change task
  run state", `markAs`): the run takes that state (through RESTARTED, the one way out of
  a terminal state), its flowable ancestors run again like a restart's, the execution
  is RESTARTED, and the walk goes on from there: marked SUCCESS, a failed task lets the
  tasks after it run.
- **retry** as a new execution (a flow `retry` with behavior CREATE_NEW_EXECUTION): the
  request of the next attempt, same inputs, after the policy's delay, within its
  maxAttempts and maxDuration (counted from the first attempt's creation).

Pure functions: no bus, no store, no clock of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.events import ExecutionChanged, ExecutionRequested, TaskRunChanged
from engine.plugin import Retry
from engine.states import State
from engine.walk import task_run_id

__all__ = [
    "CORRELATION_ID",
    "MARKABLE",
    "Rerun",
    "RerunRefused",
    "plan_mark",
    "plan_replay",
    "plan_restart",
    "plan_retry",
]

# Kestra's system label tying together an execution, its subflows, retries and replays
CORRELATION_ID = "system.correlationId"

RESTARTABLE = frozenset({State.FAILED, State.KILLED})
KEPT_BY_REPLAY = frozenset({State.SUCCESS, State.WARNING, State.SKIPPED})
# the states a task run can be marked with (Kestra's UI offers these)
MARKABLE = (State.SUCCESS, State.WARNING, State.FAILED)


class RerunRefused(Exception):
    """The execution cannot be restarted or replayed as asked (the reason says why)."""


@dataclass(frozen=True, slots=True)
class Rerun:
    header: ExecutionChanged  # to publish first
    task_runs: tuple[TaskRunChanged, ...]  # to publish next, then give the walk as recorded
    last_seq: int

    def __repr__(self) -> str:
        return f"<Rerun {self.header.execution_id} runs={len(self.task_runs)}>"


def _last_seq(header: ExecutionChanged, runs: Sequence[TaskRunChanged]) -> int:
    return max([header.seq, *(r.seq for r in runs)])


def plan_restart(header: ExecutionChanged, runs: Sequence[TaskRunChanged], now: datetime) -> Rerun:
    if header.state not in RESTARTABLE:
        raise RerunRefused(
            f"execution {header.execution_id} is {header.state}: only FAILED or KILLED "
            "executions restart"
        )
    seq = _last_seq(header, runs)
    restarted = []
    for run in runs:
        if run.state in RESTARTABLE:
            seq += 1
            restarted.append(
                run.model_copy(
                    update={
                        "state": State.RESTARTED,
                        "attempt": run.attempt + 1,
                        "seq": seq,
                        "at": now,
                        "ended_at": None,
                        "error": None,
                        "outputs": {},
                    }
                )
            )
    if not restarted:
        raise RerunRefused(f"execution {header.execution_id} has no failed task run to restart")
    seq += 1
    new_header = header.model_copy(
        update={
            "state": State.RESTARTED,
            "seq": seq,
            "at": now,
            "ended_at": None,
            "error": None,
            "outputs": {},
            "labels": {**header.labels, "system.restarted": "true"},
        }
    )
    restarted_ids = {r.task_run_id for r in restarted}
    kept = [r for r in runs if r.task_run_id not in restarted_ids]
    return Rerun(new_header, (*restarted, *kept), seq)


def plan_mark(
    header: ExecutionChanged,
    runs: Sequence[TaskRunChanged],
    task_run_id: str,
    state: State,
    now: datetime,
) -> tuple[Rerun, tuple[TaskRunChanged, ...]]:
    """The rerun, and the task-run events to publish for it in order: the marked run
    RESTARTED then in its new state, its ancestors RESTARTED."""
    if not header.state.is_terminal:
        raise RerunRefused(
            f"execution {header.execution_id} is {header.state}: a task run's state is "
            "changed once the execution has ended"
        )
    if state not in MARKABLE:
        names = ", ".join(s.value for s in MARKABLE)
        raise RerunRefused(f"a task run can be marked {names}, not {state.value}")
    by_id = {r.task_run_id: r for r in runs}
    target = by_id.get(task_run_id)
    if target is None:
        raise RerunRefused(f"no task run {task_run_id} in {header.execution_id}")
    if target.state is state:
        raise RerunRefused(f"task run {task_run_id} is {state.value} already")
    seq = _last_seq(header, runs)
    published: list[TaskRunChanged] = []
    seq += 1
    published.append(
        target.model_copy(
            update={"state": State.RESTARTED, "seq": seq, "at": now, "ended_at": None}
        )
    )
    seq += 1
    marked = target.model_copy(
        update={"state": state, "seq": seq, "at": now, "ended_at": now,
                "error": None if not state.is_failure else target.error}
    )  # fmt: skip
    published.append(marked)
    changed = {marked.task_run_id: marked}
    parent = target.parent_task_run_id
    while parent is not None and parent in by_id and parent not in changed:
        seq += 1
        ancestor = by_id[parent].model_copy(
            update={"state": State.RESTARTED, "attempt": by_id[parent].attempt + 1,
                    "seq": seq, "at": now, "ended_at": None, "error": None, "outputs": {}}
        )  # fmt: skip
        published.append(ancestor)
        changed[parent] = ancestor
        parent = by_id[parent].parent_task_run_id
    seq += 1
    new_header = header.model_copy(
        update={"state": State.RESTARTED, "seq": seq, "at": now, "ended_at": None,
                "error": None, "outputs": {}}
    )  # fmt: skip
    recorded = tuple(changed.get(r.task_run_id, r) for r in runs)
    return Rerun(new_header, recorded, seq), tuple(published)


def plan_replay(
    header: ExecutionChanged,
    runs: Sequence[TaskRunChanged],
    *,
    new_execution_id: str,
    from_task_run_id: str | None,
    now: datetime,
) -> Rerun:
    if not header.state.is_terminal:
        raise RerunRefused(f"execution {header.execution_id} is still {header.state}")
    by_id = {r.task_run_id: r for r in runs}
    kept: list[TaskRunChanged] = []
    if from_task_run_id is not None:
        target = by_id.get(from_task_run_id)
        if target is None:
            raise RerunRefused(f"no task run {from_task_run_id} in {header.execution_id}")
        excluded = _lineage(target, by_id)
        kept = [
            r
            for r in runs
            if r.task_run_id not in excluded
            and r.state in KEPT_BY_REPLAY
            and r.created_at < target.created_at
        ]
    new_ids = _renumbered(kept, by_id, new_execution_id)
    seq = 0
    copies = []
    for run in sorted(kept, key=lambda r: r.seq):
        seq += 1
        parent = run.parent_task_run_id
        copies.append(
            run.model_copy(
                update={
                    "execution_id": new_execution_id,
                    "task_run_id": new_ids[run.task_run_id],
                    "parent_task_run_id": new_ids.get(parent) if parent else None,
                    "seq": seq,
                    "at": now,
                }
            )
        )
    seq += 1
    labels = {
        **header.labels,
        CORRELATION_ID: header.labels.get(CORRELATION_ID, header.execution_id),
        "system.replay": "true",
    }
    new_header = header.model_copy(
        update={
            "execution_id": new_execution_id,
            # as Kestra: from a task run, the new execution starts RESTARTED with the runs
            # it keeps; a replay of the whole execution starts afresh
            "state": State.RESTARTED if from_task_run_id is not None else State.CREATED,
            "seq": seq,
            "at": now,
            "created_at": now,
            "started_at": None,
            "ended_at": None,
            "error": None,
            "outputs": {},
            "not_before": None,
            "parent": None,
            "labels": labels,
            "replay_of": header.execution_id,
            "original_id": header.original_id or header.execution_id,
            "trigger": {
                "type": "replay",
                "executionId": header.execution_id,
                "taskRunId": from_task_run_id,
            },
        }
    )
    return Rerun(new_header, tuple(copies), seq)


def _lineage(target: TaskRunChanged, by_id: dict[str, TaskRunChanged]) -> set[str]:
    """The target, its ancestors (they must run again to reach it) and its descendants."""
    lineage = {target.task_run_id}
    parent = target.parent_task_run_id
    while parent is not None and parent in by_id:
        lineage.add(parent)
        parent = by_id[parent].parent_task_run_id
    for run in by_id.values():
        if _descends_from(run, target.task_run_id, by_id):
            lineage.add(run.task_run_id)
    return lineage


def _descends_from(run: TaskRunChanged, ancestor: str, by_id: dict[str, TaskRunChanged]) -> bool:
    parent = run.parent_task_run_id
    while parent is not None:
        if parent == ancestor:
            return True
        parent = by_id[parent].parent_task_run_id if parent in by_id else None
    return False


def _renumbered(
    kept: Sequence[TaskRunChanged], by_id: dict[str, TaskRunChanged], new_execution_id: str
) -> dict[str, str]:
    """Task run ids derive from the parent's id (the execution's at the top), so the
    copies get the ids the walk of the new execution will compute."""
    new_ids: dict[str, str] = {}

    def new_id(run: TaskRunChanged) -> str:
        known = new_ids.get(run.task_run_id)
        if known is not None:
            return known
        parent = run.parent_task_run_id
        parent_new = new_id(by_id[parent]) if parent and parent in by_id else new_execution_id
        new_ids[run.task_run_id] = task_run_id(parent_new, run.task_id, run.value, run.iteration)
        return new_ids[run.task_run_id]

    for run in kept:
        new_id(run)
    return new_ids


def plan_retry(
    header: ExecutionChanged, policy: Retry | None, now: datetime, jitter: float
) -> ExecutionRequested | None:
    """The next attempt of a failed execution as a new one, or None when its flow does not
    retry that way or the policy is spent. `jitter` in [0, 1) is the policy's random part."""
    if policy is None or policy.behavior != "CREATE_NEW_EXECUTION":
        return None
    attempt = int(header.labels.get("system.retryAttempt", "1"))
    first_created = header.trigger.get("retryOf", {}).get("createdAt") if header.trigger else None
    started = datetime.fromisoformat(first_created) if first_created else header.created_at
    delay = policy.delay(attempt, jitter)
    if policy.maxAttempts is not None and attempt >= policy.maxAttempts:
        return None
    if policy.maxDuration is not None and now + delay - started > policy.maxDuration:
        return None
    original = header.labels.get("system.retryOf", header.execution_id)
    return ExecutionRequested(
        execution_id=task_run_id(header.execution_id, "retry", None, attempt),
        namespace=header.namespace,
        flow_id=header.flow_id,
        revision=header.revision,
        inputs=header.inputs,
        labels={
            **header.labels,
            "system.retryOf": original,
            "system.retryAttempt": str(attempt + 1),
        },
        trigger={
            "type": "retry",
            "retryOf": {"executionId": original, "createdAt": started.isoformat()},
        },
        requested_at=now,
        not_before=now + delay,
    )
