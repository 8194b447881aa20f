"""What must hold after any run, checked from the event log and the store.

`check_invariants` reads every event the bus retains and the store the projector wrote:
- every execution reached a terminal state (or is visibly QUEUED / PAUSED), and with
  `settle_within`, did so within that long of its first event;
- no task run that had finished ran again (after its first terminal event, no later
  event of it says it is running — a restart's RESTARTED excepted);
- no two attempts of one task run overlap (attempt n+1 starts after attempt n ended);
- one writer per execution: no two different events of it carry the same `seq` (two
  executors publishing for one execution at once each count their own);
- with `concurrency_limits` ({"namespace/flow_id": limit}), no more executions of a flow
  were RUNNING at once than its limit, from the recorded RUNNING intervals;
- no event was applied twice: the store holds each log line of the events once and each
  task run once;
- each schedule slot fired once (one execution per flow, trigger and slot date), and with
  `contiguous_schedules` ({"namespace/flow_id": interval}) no slot between the first and
  the last fired one was skipped;
- with `secrets`, no secret value appears in any event, in the projection, or in any of
  `texts` (log files, API responses, error messages the caller collected);
- the projection equals a replay of the events into an empty store (so nothing was
  applied twice, lost, or left half-applied).
Events fenced off (engine/fencing.py: published by an owner that had lost the execution,
after the new owner's claim) do not count, for any check: the projector drops them too.
It returns the problems found, as sentences; an empty list means every invariant held.
The event-only checks are plain functions of the event documents (`check_events`), so
each can be fed a violating log in a unit test.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.bus.base import Bus, Topics
from engine.events import EventDocument
from engine.fencing import Fence
from engine.projector import rebuild
from engine.states import State
from engine.store.base import Store

__all__ = [
    "counted",
    "check_events",
    "check_invariants",
    "check_secrets",
    "check_stored_once",
    "read_events",
    "snapshot",
]

SETTLED = {s.value for s in State if s.is_terminal} | {"QUEUED", "PAUSED"}
SCHEDULE_TYPES = (
    "io.kestra.plugin.core.trigger.Schedule",
    "io.kestra.core.models.triggers.types.Schedule",
)


async def read_events(bus: Bus, topics: Topics = Topics()) -> list[dict[str, Any]]:
    return [
        EventDocument.parse(record.value).doc
        async for batch in bus.read_all(topics.events)
        for record in batch
    ]


def counted(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events in log order without the fenced ones (what the projector applies)."""
    fence = Fence()
    return [doc for doc in events if fence.admits(doc)]


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


def _at(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _last_headers(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    last: dict[str, dict[str, Any]] = {}
    for doc in events:
        if doc["kind"] == "ExecutionChanged":
            known = last.get(doc["execution_id"])
            if known is None or doc["seq"] > known["seq"]:
                last[doc["execution_id"]] = doc
    return last


def _settling_problems(
    events: list[dict[str, Any]], *, allow_running: bool, settle_within: timedelta | None = None
) -> list[str]:
    problems = []
    last = _last_headers(events)
    first: dict[str, datetime] = {}
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in events:
        if doc["kind"] == "ExecutionChanged":
            at = _at(doc["at"])
            first[doc["execution_id"]] = min(at, first.get(doc["execution_id"], at))
        elif doc["kind"] == "TaskRunChanged":
            runs[doc["task_run_id"]].append(doc)
    if not allow_running:
        for execution_id, doc in sorted(last.items()):
            if doc["state"] not in SETTLED:
                problems.append(f"execution {execution_id} ended {doc['state']}")
            elif settle_within is not None and State(doc["state"]).is_terminal:
                took = _at(doc["at"]) - first[execution_id]
                if took > settle_within:
                    problems.append(
                        f"execution {execution_id} took {took.total_seconds():.1f}s to end "
                        f"{doc['state']} (bound {settle_within.total_seconds():g}s)"
                    )
    for run_id, docs in runs.items():
        docs.sort(key=lambda d: d["seq"])
        finished = None
        for doc in docs:
            state = State(doc["state"])
            if finished is not None and not state.is_terminal and state is not State.RESTARTED:
                problems.append(
                    f"task run {run_id} ({doc['task_id']}) ran again at {doc['at']} after it "
                    f"ended {finished['state']} (execution {doc['execution_id']})"
                )
                break
            if state is State.RESTARTED:
                finished = None
            elif state.is_terminal and finished is None:
                finished = doc
    return problems


def _attempt_overlaps(events: list[dict[str, Any]]) -> list[str]:
    """Attempt n of a task run lasts from its RUNNING event's start to the event that
    ended it (RETRYING or terminal); attempt n+1 must not start before that."""
    spans: dict[str, dict[int, list[datetime | None]]] = defaultdict(dict)
    names: dict[str, str] = {}
    for doc in sorted((d for d in events if d["kind"] == "TaskRunChanged"), key=lambda d: d["seq"]):
        state = State(doc["state"])
        if state is State.RESTARTED:
            spans.pop(doc["task_run_id"], None)  # a restart starts the attempts over
            continue
        attempt = int(doc.get("attempt") or 1)
        names[doc["task_run_id"]] = f"{doc['task_id']} of execution {doc['execution_id']}"
        span = spans[doc["task_run_id"]].setdefault(attempt, [None, None])
        if state is State.RUNNING:
            started = _at(doc.get("started_at") or doc["at"])
            span[0] = started if span[0] is None else min(span[0], started)
        elif state is State.RETRYING or state.is_terminal:
            ended = _at(doc.get("ended_at") or doc["at"])
            span[1] = ended if span[1] is None else max(span[1], ended)
    problems = []
    for run_id, attempts in spans.items():
        ordered = sorted(attempts.items())
        for (n, (_, end)), (m, (start, _)) in zip(ordered, ordered[1:], strict=False):
            if end is not None and start is not None and start < end:
                problems.append(
                    f"task run {run_id} ({names[run_id]}): attempt {m} started "
                    f"{(end - start).total_seconds():.3f}s before attempt {n} ended"
                )
    return problems


def _writer_problems(events: list[dict[str, Any]]) -> list[str]:
    """Redelivery repeats an event (same event id); only a second writer makes a
    different event with a seq already used."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    reported: set[str] = set()
    problems = []
    for doc in events:
        if "seq" not in doc or doc["execution_id"] in reported:
            continue
        key = (doc["execution_id"], int(doc["seq"]))
        first = seen.setdefault(key, doc)
        if first["event_id"] != doc["event_id"]:
            reported.add(doc["execution_id"])
            later = max(_at(first["at"]), _at(doc["at"]))
            problems.append(
                f"execution {doc['execution_id']}: two different events with seq {key[1]} "
                f"(two writers), the later at {later.isoformat()}"
            )
    return problems


def _concurrency_problems(events: list[dict[str, Any]], limits: Mapping[str, int]) -> list[str]:
    """An execution counts from the event that made it RUNNING to the one that made it
    anything else; at equal times, ends count before starts."""
    by_execution: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in events:
        if doc["kind"] == "ExecutionChanged" and f"{doc['namespace']}/{doc['flow_id']}" in limits:
            by_execution[doc["execution_id"]].append(doc)
    edges: dict[str, list[tuple[datetime, int, str]]] = defaultdict(list)
    for execution_id, docs in by_execution.items():
        docs.sort(key=lambda d: d["seq"])
        key = f"{docs[0]['namespace']}/{docs[0]['flow_id']}"
        is_running = False
        for doc in docs:
            now_running = doc["state"] == "RUNNING"
            if now_running != is_running:
                edges[key].append((_at(doc["at"]), 1 if now_running else 0, execution_id))
                is_running = now_running
    problems = []
    for key, flow_edges in sorted(edges.items()):
        running: set[str] = set()
        for at, is_start, execution_id in sorted(flow_edges):
            if is_start:
                running.add(execution_id)
                if len(running) > limits[key]:
                    problems.append(
                        f"flow {key}: {len(running)} executions RUNNING at {at.isoformat()} "
                        f"(limit {limits[key]}): {', '.join(sorted(running))}"
                    )
                    break
            else:
                running.discard(execution_id)
    return problems


def _schedule_problems(
    events: list[dict[str, Any]], contiguous: Mapping[str, timedelta]
) -> list[str]:
    fired: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for doc in events:
        trigger = doc.get("trigger") if doc["kind"] == "ExecutionChanged" else None
        if not trigger or trigger.get("type") not in SCHEDULE_TYPES:
            continue
        date = (trigger.get("variables") or {}).get("date")
        key = f"{doc['namespace']}/{doc['flow_id']}"
        fired[(key, str(trigger.get("id")), str(date))].add(doc["execution_id"])
    problems = [
        f"schedule {key}/{trigger_id}: slot {date} fired {len(ids)} executions ({', '.join(sorted(ids))})"
        for (key, trigger_id, date), ids in sorted(fired.items())
        if len(ids) > 1
    ]
    slots: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for key, trigger_id, date in fired:
        if key in contiguous:
            slots[(key, trigger_id)].append(_at(date))
    for (key, trigger_id), dates in sorted(slots.items()):
        dates.sort()
        step = contiguous[key]
        missing = [a + step for a, b in zip(dates, dates[1:], strict=False) if b - a != step]
        if missing:
            problems.append(
                f"schedule {key}/{trigger_id}: {len(missing)} gap(s) between fired slots, "
                f"the first after {missing[0] - step:%Y-%m-%dT%H:%M:%S%z}"
            )
    return problems


def check_events(
    events: list[dict[str, Any]],
    *,
    allow_running: bool = False,
    settle_within: timedelta | None = None,
    concurrency_limits: Mapping[str, int] | None = None,
    contiguous_schedules: Mapping[str, timedelta] | None = None,
) -> list[str]:
    """Every invariant that the event log alone can tell."""
    events = counted(events)
    return [
        *_settling_problems(events, allow_running=allow_running, settle_within=settle_within),
        *_attempt_overlaps(events),
        *_writer_problems(events),
        *_concurrency_problems(events, concurrency_limits or {}),
        *_schedule_problems(events, contiguous_schedules or {}),
    ]


def check_stored_once(events: list[dict[str, Any]], projection: Mapping[str, Any]) -> list[str]:
    """Each log line of the events is stored once, each task run once (an event applied
    twice shows as a second copy; the replay would make the same mistake, so this counts
    against the events themselves)."""
    expected: Counter[str] = Counter()
    seen_events: set[str] = set()
    runs: dict[str, set[str]] = defaultdict(set)
    for doc in events:
        if doc["kind"] == "LogsEmitted" and doc["event_id"] not in seen_events:
            seen_events.add(doc["event_id"])
            expected[doc["execution_id"]] += len(doc["lines"])
        elif doc["kind"] == "TaskRunChanged":
            runs[doc["execution_id"]].add(doc["task_run_id"])
    problems = []
    for execution_id, stored in sorted(projection.items()):
        logs = len(stored["logs"])
        if logs != expected[execution_id]:
            problems.append(
                f"execution {execution_id}: {logs} log lines stored, "
                f"{expected[execution_id]} in the events"
            )
        ids = [r["task_run_id"] for r in stored["task_runs"]]
        doubled = sorted(i for i, n in Counter(ids).items() if n > 1)
        if doubled or set(ids) != runs[execution_id]:
            problems.append(
                f"execution {execution_id}: {len(ids)} task runs stored "
                f"({len(doubled)} twice), {len(runs[execution_id])} in the events"
            )
    return problems


def check_secrets(secrets: Iterable[str], texts: Mapping[str, str]) -> list[str]:
    """No secret value (nor its JSON-escaped form) in any of `texts` ({where: text})."""
    needles = {s for s in secrets if s}
    needles |= {json.dumps(s)[1:-1] for s in needles}
    return [
        f"a secret value appears in {where} (at character {text.find(needle)})"
        for where, text in sorted(texts.items())
        for needle in sorted(needles)
        if needle in text
    ]


async def check_invariants(
    bus: Bus,
    store: Store,
    empty_store: Store,
    *,
    topics: Topics = Topics(),
    allow_running: bool = False,
    settle_within: timedelta | None = None,
    concurrency_limits: Mapping[str, int] | None = None,
    contiguous_schedules: Mapping[str, timedelta] | None = None,
    secrets: Iterable[str] = (),
    texts: Mapping[str, str] | None = None,
) -> list[str]:
    """`empty_store` receives the replay; it must be a fresh store of any kind."""
    events = counted(await read_events(bus, topics))
    problems = check_events(
        events,
        allow_running=allow_running,
        settle_within=settle_within,
        concurrency_limits=concurrency_limits,
        contiguous_schedules=contiguous_schedules,
    )
    await rebuild(bus, empty_store, topics=topics)
    live, replayed = await snapshot(store), await snapshot(empty_store)
    problems += check_stored_once(events, live)
    secrets = list(secrets)
    if secrets:
        problems += check_secrets(
            secrets,
            {
                **(texts or {}),
                "the events": json.dumps(events, default=str),
                "the store": json.dumps(live, default=str),
            },
        )
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
