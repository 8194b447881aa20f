"""What must hold after any run, checked from the event log and the store.

`check_invariants` reads every event the bus retains and the store the projector wrote:
- every execution reached a terminal state (or is visibly QUEUED / PAUSED);
- no task run that had finished ran again (after its first terminal event, no later
  event of it says it is running — a restart's RESTARTED excepted);
- the projection equals a replay of the events into an empty store (so nothing was
  applied twice, lost, or left half-applied).
It returns the problems found, as sentences; an empty list means every invariant held.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from engine.bus.base import Bus, Topics
from engine.events import EventDocument
from engine.projector import rebuild
from engine.states import State
from engine.store.base import Store

__all__ = ["check_invariants", "read_events", "snapshot"]

SETTLED = {s.value for s in State if s.is_terminal} | {"QUEUED", "PAUSED"}


async def read_events(bus: Bus, topics: Topics = Topics()) -> list[dict[str, Any]]:
    return [
        EventDocument.parse(record.value).doc
        async for batch in bus.read_all(topics.events)
        for record in batch
    ]


async def snapshot(store: Store) -> dict[str, Any]:
    """The projection as the API sees it, in a comparable form."""
    out: dict[str, Any] = {}
    for execution in await store.list_executions(limit=1_000_000):
        runs = await store.task_runs(execution.execution_id)
        logs = await store.logs(execution.execution_id, limit=1_000_000)
        out[execution.execution_id] = {
            "execution": execution.model_dump(mode="json", exclude={"event_id"}),
            "task_runs": sorted(
                (r.model_dump(mode="json", exclude={"event_id"}) for r in runs),
                key=lambda r: r["task_run_id"],
            ),
            "logs": sorted(
                (line.model_dump(mode="json") for line in logs),
                key=lambda line: json.dumps(line, sort_keys=True),
            ),
        }
    return out


def _settling_problems(events: list[dict[str, Any]], *, allow_running: bool) -> list[str]:
    problems = []
    last: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in events:
        if doc["kind"] == "ExecutionChanged":
            known = last.get(doc["execution_id"])
            if known is None or doc["seq"] > known["seq"]:
                last[doc["execution_id"]] = doc
        elif doc["kind"] == "TaskRunChanged":
            runs[doc["task_run_id"]].append(doc)
    if not allow_running:
        for execution_id, doc in sorted(last.items()):
            if doc["state"] not in SETTLED:
                problems.append(f"execution {execution_id} ended {doc['state']}")
    for run_id, docs in runs.items():
        docs.sort(key=lambda d: d["seq"])
        finished = None
        for doc in docs:
            state = State(doc["state"])
            if finished is not None and not state.is_terminal and state is not State.RESTARTED:
                problems.append(
                    f"task run {run_id} ({doc['task_id']}) ran again after it ended "
                    f"{finished['state']} (execution {doc['execution_id']})"
                )
                break
            if state is State.RESTARTED:
                finished = None
            elif state.is_terminal and finished is None:
                finished = doc
    return problems


async def check_invariants(
    bus: Bus,
    store: Store,
    empty_store: Store,
    *,
    topics: Topics = Topics(),
    allow_running: bool = False,
) -> list[str]:
    """`empty_store` receives the replay; it must be a fresh store of any kind."""
    events = await read_events(bus, topics)
    problems = _settling_problems(events, allow_running=allow_running)
    await rebuild(bus, empty_store, topics=topics)
    live, replayed = await snapshot(store), await snapshot(empty_store)
    for execution_id in sorted(set(live) | set(replayed)):
        a, b = live.get(execution_id), replayed.get(execution_id)
        if a is None or b is None:
            problems.append(
                f"execution {execution_id} is only in the {'replay' if a is None else 'store'}"
            )
            continue
        for part in ("execution", "task_runs", "logs"):
            if a[part] != b[part]:
                problems.append(
                    f"execution {execution_id}: the stored {part} differ from a replay "
                    f"({len(a[part]) if isinstance(a[part], list) else 1} stored, "
                    f"{len(b[part]) if isinstance(b[part], list) else 1} replayed)"
                )
    return problems
