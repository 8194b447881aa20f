"""The store contract: the projection of events, flows, and the reads the API needs.

The projector is the only writer of execution state (`apply`). Rows are the last event
applied for each entity, so a read returns the same models that travel on the bus.
Two implementations pass one contract suite: `SqliteStore` (embedded) and, with the
production issue, `PostgresStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, Self

from engine.events import EventDocument, ExecutionChanged, LogLine, TaskRunChanged
from engine.kv import KvRows
from engine.states import State
from engine.store.metrics import MetricRows
from engine.store.nsfiles import NamespaceFileStore
from engine.store.purge import PurgeReads

Journal = Callable[[dict[str, Any] | None, list[str]], dict[str, Any] | None]
"""What `Store.claim` makes of a trigger's state and the items it won: the new state."""

__all__ = [
    "EXECUTION_SORTS",
    "LEVELS",
    "PROJECTION_TABLES",
    "TERMINAL_SQL",
    "Applied",
    "ExecutionQuery",
    "ExecutionStats",
    "FailingFlow",
    "FlowRecord",
    "Journal",
    "LogEntry",
    "LogQuery",
    "StateChange",
    "Store",
    "UnfinishedExecution",
    "like_pattern",
    "prefix_pattern",
]

# Tables the projector fills: emptied by reset_projection (flows and triggers are kept).
PROJECTION_TABLES = (
    "executions",
    "task_runs",
    "state_changes",
    "logs",
    "metrics",
    "execution_epochs",
)

LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4}

# The terminal states as an SQL list, for `state NOT IN (…)` in statements of either store.
TERMINAL_SQL = ",".join(f"'{s.value}'" for s in State if s.is_terminal)


@dataclass(frozen=True, slots=True)
class FlowRecord:
    namespace: str
    id: str
    revision: int
    source: str
    updated_at: datetime
    is_deleted: bool = False

    def __repr__(self) -> str:
        return f"<FlowRecord {self.namespace}/{self.id} rev={self.revision}>"


@dataclass(frozen=True, slots=True)
class Applied:
    """What `Store.apply` did with a batch: the events that counted (in order, without the
    fenced ones) and how many of them changed a row (0 for a redelivered batch)."""

    events: Sequence[EventDocument]
    changed: int

    def __repr__(self) -> str:
        return f"<Applied {len(self.events)} events, {self.changed} changed a row>"


@dataclass(frozen=True, slots=True)
class UnfinishedExecution:
    """What an executor needs to pick up an execution after a crash."""

    execution: ExecutionChanged
    task_runs: tuple[TaskRunChanged, ...]
    last_seq: int

    def __repr__(self) -> str:
        return f"<UnfinishedExecution {self.execution.execution_id} {self.execution.state}>"


# The orders a search may ask for: API name -> column. Stores accept only these.
EXECUTION_SORTS = {
    "startDate": "created_at",
    "endDate": "ended_at",
    "state": "state",
    "namespace": "namespace",
    "flowId": "flow_id",
    "id": "id",
}


@dataclass(frozen=True, slots=True)
class ExecutionQuery:
    """A search over executions. `namespace` matches the namespace and its children
    (`company` finds `company.team`), as in Kestra; `q` is a case-insensitive substring
    of the id, namespace, flow id or labels; `start`/`end` bound the creation time.
    `trigger_execution_id` keeps the executions another one started (a subflow's, a flow
    trigger's: their trigger's `variables.executionId`); `child_filter` CHILD keeps only
    such executions, MAIN only the others (Kestra's childFilter)."""

    namespace: str | None = None
    flow_id: str | None = None
    states: tuple[State, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    q: str | None = None
    trigger_execution_id: str | None = None
    child_filter: Literal["CHILD", "MAIN"] | None = None
    sort: str = "startDate"
    is_descending: bool = True
    limit: int = 25
    offset: int = 0

    def __post_init__(self) -> None:
        if self.sort not in EXECUTION_SORTS:
            raise ValueError(f"cannot sort executions by {self.sort!r}")


@dataclass(frozen=True, slots=True)
class LogQuery:
    """A search over log lines, oldest first (newest first with `is_descending`). `q` is a
    case-insensitive substring; `start`/`end` bound the line's time (start included).

    `after` keeps the lines stored after the one with that `LogEntry.position`, in the
    order they were stored: a cursor for following logs while they arrive (a line of
    one task may arrive after a later-stamped line of another)."""

    execution_id: str | None = None
    namespace: str | None = None
    flow_id: str | None = None
    min_level: str = "TRACE"
    task_run_id: str | None = None
    task_id: str | None = None
    attempt: int | None = None
    q: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    after: int | None = None
    is_descending: bool = False
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class LogEntry:
    execution_id: str
    namespace: str
    flow_id: str
    line: LogLine
    position: int = 0  # the order lines were stored in: see LogQuery.after

    def __repr__(self) -> str:
        return f"<LogEntry {self.execution_id} {self.line.level} {self.line.message[:20]!r}>"

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> LogEntry:
        """From the columns both stores select: at, level_name, message, task_run_id,
        task_id, attempt, execution_id, namespace, flow_id, position."""
        line = LogLine(
            at=row[0],
            level=row[1],
            message=row[2],
            task_run_id=row[3],
            task_id=row[4],
            attempt=row[5],
        )
        return cls(row[6], row[7], row[8], line, row[9])


@dataclass(frozen=True, slots=True)
class StateChange:
    """One state an execution (`task_run_id` None) or a task run attempt went through."""

    task_run_id: str | None
    attempt: int
    state: State
    at: datetime
    seq: int

    def __repr__(self) -> str:
        return f"<StateChange {self.task_run_id or 'execution'}#{self.attempt} {self.state}>"


@dataclass(frozen=True, slots=True)
class FailingFlow:
    namespace: str
    flow_id: str
    failed: int
    last_failure: datetime


@dataclass(frozen=True, slots=True)
class ExecutionStats:
    """Counts for the dashboard: per time bucket and state, plus what runs now."""

    buckets: tuple[tuple[datetime, Mapping[str, int]], ...]
    running: int
    queued: int
    failing_flows: tuple[FailingFlow, ...]

    def __repr__(self) -> str:
        return f"<ExecutionStats {len(self.buckets)} buckets running={self.running}>"


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with its wildcards escaped (ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def prefix_pattern(namespace: str) -> str:
    """A LIKE pattern for the children of a namespace (`a.b` -> `a.b.%`), escaped."""
    return like_pattern(namespace)[1:-1] + ".%"


class Store(KvRows, NamespaceFileStore, PurgeReads, MetricRows, Protocol):
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...

    # -- the projection (projector only) --
    async def apply(self, events: Sequence[EventDocument]) -> Applied:
        """Apply a batch of events in one transaction (without the fenced ones,
        engine/fencing.py)."""

    # -- flows --
    async def save_flow(self, namespace: str, flow_id: str, source: str) -> FlowRecord:
        """Store a new revision if the source changed; return the current one."""

    async def get_flow(
        self, namespace: str, flow_id: str, revision: int | None = None
    ) -> FlowRecord | None: ...
    async def list_flows(self) -> list[FlowRecord]: ...
    async def delete_flow(self, namespace: str, flow_id: str) -> bool: ...
    async def search_flows(
        self,
        *,
        q: str | None = None,
        namespace: str | None = None,
        limit: int = 25,
        offset: int = 0,
    ) -> tuple[list[FlowRecord], int]:
        """Current, undeleted flows whose id or namespace contains `q`, in namespace
        order, and how many match in all."""

    async def flow_revisions(self, namespace: str, flow_id: str) -> list[FlowRecord]:
        """Every stored revision with its source, oldest first (deletions excluded)."""

    # -- reads --
    async def get_execution(self, execution_id: str) -> ExecutionChanged | None: ...
    async def existing_executions(
        self, execution_ids: Sequence[str]
    ) -> dict[str, ExecutionChanged]:
        """Those of the ids that are stored, in one round trip."""

    async def list_executions(
        self,
        *,
        namespace: str | None = None,
        flow_id: str | None = None,
        states: Sequence[State] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> list[ExecutionChanged]: ...
    async def search_executions(self, query: ExecutionQuery) -> tuple[list[ExecutionChanged], int]:
        """One page of matching executions and how many match in all."""

    async def latest_executions(
        self, flows: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], ExecutionChanged]:
        """The newest execution of each (namespace, flow id) that has one."""

    async def task_runs(self, execution_id: str) -> list[TaskRunChanged]: ...
    async def state_history(self, execution_id: str) -> list[StateChange]:
        """Every state the execution and its task runs went through, in seq order."""

    async def search_logs(self, query: LogQuery) -> tuple[list[LogEntry], int]: ...
    async def execution_stats(
        self, start: datetime, end: datetime, interval: Literal["hour", "day"]
    ) -> ExecutionStats:
        """Executions created in [start, end) counted per bucket and state (buckets are
        UTC hours or days; empty ones are left out), the executions running and queued
        now, and the flows with failures in the range, most failures first."""

    async def count_executions(self) -> dict[str, int]:
        """How many executions are in each state now (for /metrics)."""

    async def reset_projection(self) -> None:
        """Empty everything the projector writes (executions, task runs, histories, logs,
        metrics), keeping flows, trigger state and claims: for a rebuild from the events."""

    async def logs(
        self,
        execution_id: str,
        *,
        min_level: str = "TRACE",
        task_ids: Sequence[str] = (),
        task_run_id: str | None = None,
        limit: int = 10_000,
        offset: int = 0,
    ) -> list[LogLine]: ...
    async def unfinished_executions(self) -> list[UnfinishedExecution]: ...

    # -- trigger state (written by triggers, never execution state) --
    async def get_trigger_state(self, scope: str) -> dict[str, Any] | None: ...
    async def set_trigger_state(self, scope: str, state: dict[str, Any]) -> None: ...
    async def claim(
        self, scope: str, items: Sequence[str], *, journal: Journal | None = None
    ) -> list[str]:
        """Record each item under `scope` once; returns the items this call recorded first.
        What makes a schedule slot or a file version fire once, whoever asks.

        With `journal`, the same transaction reads the trigger state of `scope` and
        stores `journal(state, won)` in its place (unless that is None): the claims and
        the record of what they owe are stored together or not at all, so no process
        dies between the two. `journal` may run more than once (a retried transaction)
        and in the store's own thread: it only computes."""

    async def release(self, scope: str, items: Sequence[str]) -> None:
        """Forget claims (e.g. a backfill asked to run slots again)."""
