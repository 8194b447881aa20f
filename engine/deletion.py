"""Deleting an execution: its rows in the store, its logs and metrics, its files.

The store is changed by the projector only, so a deletion is an event: `delete_executions`
publishes one `ExecutionDeleted` per execution on the events topic (keyed by its flow, so
it follows every event of the execution already published), and the projector drops the
rows; the fence (engine/fencing.py) drops whatever the execution still publishes after it.
Its files (inputs, outputs, log files, under its folder in internal storage) are removed
here, after the event is published: a crash in between leaves files without an execution,
never an execution whose files are gone.

Used by the REST API (`DELETE /api/v1/executions/…`); retention can use it the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from engine.bus.base import Bus, Topics
from engine.clock import Clock
from engine.events import ExecutionChanged, ExecutionDeleted, encode
from engine.fencing import DELETED_SEQ
from engine.storage import LocalStorage, execution_folder

__all__ = ["Deletion", "delete_executions"]


@dataclass(frozen=True, slots=True)
class Deletion:
    """What to delete besides the execution (Kestra's deleteLogs, deleteMetrics and
    deleteStorage, all true by default)."""

    logs: bool = True
    metrics: bool = True
    files: bool = True


async def delete_executions(
    executions: Sequence[ExecutionChanged],
    *,
    bus: Bus,
    clock: Clock,
    storage: LocalStorage | None,
    topics: Topics = Topics(),
    what: Deletion = Deletion(),
) -> int:
    """Delete these executions; returns how many files were removed."""
    now = clock.now()
    for execution in executions:
        event = ExecutionDeleted(
            execution_id=execution.execution_id,
            namespace=execution.namespace,
            flow_id=execution.flow_id,
            seq=DELETED_SEQ,
            at=now,
            delete_logs=what.logs,
            delete_metrics=what.metrics,
        )
        await bus.publish(topics.events, event.key, encode(event))
    if not what.files or storage is None:
        return 0

    def remove() -> int:
        return sum(
            len(storage.delete_tree(execution_folder(e.namespace, e.flow_id, e.execution_id)))
            for e in executions
        )

    return await asyncio.to_thread(remove)
