"""The store contract: the projection of events, flows, and the reads the API needs.

The projector is the only writer of execution state (`apply`). Rows are the last event
applied for each entity, so a read returns the same models that travel on the bus.
Two implementations pass one contract suite: `SqliteStore` (embedded) and, with the
production issue, `PostgresStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, Self

from engine.events import EventDocument, ExecutionChanged, LogLine, TaskRunChanged
from engine.states import State

__all__ = ["LEVELS", "FlowRecord", "Store", "UnfinishedExecution"]

LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4}


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
class UnfinishedExecution:
    """What an executor needs to pick up an execution after a crash."""

    execution: ExecutionChanged
    task_runs: tuple[TaskRunChanged, ...]
    last_seq: int

    def __repr__(self) -> str:
        return f"<UnfinishedExecution {self.execution.execution_id} {self.execution.state}>"


class Store(Protocol):
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...

    # -- the projection (projector only) --
    async def apply(self, events: Sequence[EventDocument]) -> int:
        """Apply a batch of events in one transaction; returns how many changed a row."""

    # -- flows --
    async def save_flow(self, namespace: str, flow_id: str, source: str) -> FlowRecord:
        """Store a new revision if the source changed; return the current one."""

    async def get_flow(
        self, namespace: str, flow_id: str, revision: int | None = None
    ) -> FlowRecord | None: ...
    async def list_flows(self) -> list[FlowRecord]: ...
    async def delete_flow(self, namespace: str, flow_id: str) -> bool: ...

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
    async def task_runs(self, execution_id: str) -> list[TaskRunChanged]: ...
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
    async def claim(self, scope: str, items: Sequence[str]) -> list[str]:
        """Record each item under `scope` once; returns the items this call recorded first.
        What makes a schedule slot or a file version fire once, whoever asks."""

    async def release(self, scope: str, items: Sequence[str]) -> None:
        """Forget claims (e.g. a backfill asked to run slots again)."""
