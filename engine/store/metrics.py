"""Task-run metrics as the store keeps them (MetricEmitted events, projected into the
`metrics` table) and the reads Kestra's metric API makes: an execution's metrics, the
metric names and task ids of a flow, and the values of one metric over a time range.

A metric row has no namespace or flow of its own: both come from its execution, so a
deleted execution's metrics (deleted with it) leave every read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

__all__ = ["MetricEntry", "MetricQuery", "MetricRows"]


@dataclass(frozen=True, slots=True)
class MetricEntry:
    namespace: str
    flow_id: str
    execution_id: str
    task_id: str | None
    task_run_id: str | None
    kind: str  # counter or timer (Kestra's `type`)
    name: str
    value: float
    at: datetime
    tags: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<MetricEntry {self.execution_id} {self.name}={self.value}>"


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """Metrics matching every given field, oldest first. `start`/`end` bound the time
    they were emitted at (start inclusive, end exclusive)."""

    execution_id: str | None = None
    task_run_id: str | None = None
    task_id: str | None = None
    namespace: str | None = None
    flow_id: str | None = None
    name: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100
    offset: int = 0


class MetricRows(Protocol):
    async def search_metrics(self, query: MetricQuery) -> tuple[list[MetricEntry], int]:
        """One page of matching metrics and how many match in all."""

    async def metric_names(
        self, namespace: str, flow_id: str, task_id: str | None = None
    ) -> list[str]:
        """The names of the metrics the flow's executions (or one task) emitted, sorted."""

    async def metric_task_ids(self, namespace: str, flow_id: str) -> list[str]:
        """The ids of the flow's tasks that emitted metrics, sorted."""
