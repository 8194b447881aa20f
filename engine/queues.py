"""Executions waiting for a concurrency slot: FIFO per flow, found by id in O(1).

The executor pushes an execution here when its flow's `concurrency.limit` is reached
with `behavior: QUEUE`, and admits the first of a flow whenever one of its executions
ends. A restarted or replayed execution keeps what it already did (`recorded`) until it
is admitted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime

from engine.events import ExecutionChanged, TaskRunChanged

__all__ = ["QueuedExecutions"]


class QueuedExecutions:
    """Executions waiting for a concurrency slot: FIFO per flow, found by id in O(1)."""

    def __init__(self) -> None:
        self._by_flow: dict[str, deque[ExecutionChanged]] = {}
        self._ids: set[str] = set()
        # what a restarted or replayed execution already did, kept until it is admitted
        self.recorded: dict[str, tuple[TaskRunChanged, ...]] = {}

    def __repr__(self) -> str:
        return f"<QueuedExecutions {len(self._ids)} in {len(self._by_flow)} flows>"

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._ids

    def flows(self) -> list[str]:
        return list(self._by_flow)

    def push(self, key: str, header: ExecutionChanged) -> None:
        self._by_flow.setdefault(key, deque()).append(header)
        self._ids.add(header.execution_id)

    def first(self, key: str) -> ExecutionChanged | None:
        queue = self._by_flow.get(key)
        return queue[0] if queue else None

    def pop(self, key: str) -> ExecutionChanged:
        header = self._by_flow[key].popleft()
        self._ids.discard(header.execution_id)
        self.recorded.pop(header.execution_id, None)
        if not self._by_flow[key]:
            del self._by_flow[key]
        return header

    def relabel(
        self, execution_id: str, labels: Mapping[str, str], now: datetime
    ) -> ExecutionChanged | None:
        """The queued header with these labels too, as the next event to publish."""
        for queue in self._by_flow.values():
            for i, header in enumerate(queue):
                if header.execution_id == execution_id:
                    queue[i] = header.model_copy(
                        update={
                            "labels": {**header.labels, **labels},
                            "seq": header.seq + 1,
                            "at": now,
                        }
                    )
                    return queue[i]
        return None

    def remove(self, execution_id: str) -> ExecutionChanged | None:
        if execution_id not in self._ids:
            return None
        for key, queue in self._by_flow.items():
            for header in queue:
                if header.execution_id == execution_id:
                    queue.remove(header)
                    self._ids.discard(execution_id)
                    self.recorded.pop(execution_id, None)
                    if not queue:
                        del self._by_flow[key]
                    return header
        return None
