"""Deleting past executions, their logs, metrics and files: `Purger`.

One service for the `PurgeExecutions`, `PurgeLogs` and `Count` tasks (it is their
`RunContext.history`) and for the retention job (engine/retention.py). A purge never
writes the store itself: it reads what matches, publishes the deletions as events
(`ExecutionsPurged` keyed by the flow, `LogsPurged`) and waits until the projector — the
only writer of execution state — has applied them. It goes in batches, each its own short
transaction, so a purge of a million rows never holds a lock for long.

Files of internal storage (an execution's folder, `<namespace>/<flow>/executions/<id>/`)
are not in the store: they are deleted here, once the projection holds, for executions
that are gone or still ended then (a restart in between keeps its files).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.bus.base import Bus, Topics
from engine.clock import Clock, SystemClock
from engine.errors import StorageError
from engine.events import ExecutionsPurged, LogsPurged, encode
from engine.plugin import (
    ExecutionCount,
    LogSelection,
    PurgeCounts,
    PurgeSelection,
)
from engine.states import State
from engine.storage import LocalStorage
from engine.store.base import Store
from engine.store.purge import PurgeCandidate

__all__ = ["MAX_BATCH", "PurgeProgress", "Purger"]

log = logging.getLogger("podium.purge")

# The most executions one deletion event names (and one projector transaction deletes).
MAX_BATCH = 1_000
# The most log lines one LogsPurged deletes.
LOG_BATCH = 10_000
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")  # an execution id that is one path part


@dataclass(frozen=True)
class PurgeProgress:
    """What `Purger.purge_executions` did, and where it stopped in the selection's order
    (end time, id): the retention job starts its next file purge from there."""

    counts: PurgeCounts
    last: tuple[datetime, str] | None


class Purger:
    def __init__(
        self,
        bus: Bus,
        store: Store,
        storage: LocalStorage,
        *,
        wait_projected: Callable[[], Awaitable[None]],
        topics: Topics = Topics(),
        clock: Clock | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.storage = storage
        self.topics = topics
        self.clock = clock or SystemClock()
        self._wait_projected = wait_projected

    def __repr__(self) -> str:
        return f"<Purger {self.store!r}>"

    # -- the ExecutionHistory a task sees -------------------------------------------------

    async def count_executions(
        self,
        *,
        flows: Sequence[tuple[str, str]],
        namespaces: Sequence[str],
        states: Sequence[State],
        start: datetime | None,
        end: datetime | None,
    ) -> list[ExecutionCount]:
        """Kestra's shape: every flow asked for, in order, 0 when it has none; then one
        row per namespace asked for that has executions (flow id None)."""
        found = await self.store.execution_counts(
            flows=flows,
            namespaces=namespaces,
            states=[s.value for s in states],
            start=start,
            end=end,
        )
        by_flow = {(c.namespace, c.flow_id): c.count for c in found}
        counts = [ExecutionCount(ns, flow, by_flow.get((ns, flow), 0)) for ns, flow in flows]
        per_namespace: dict[str, int] = defaultdict(int)
        for c in found:
            if c.namespace in namespaces:
                per_namespace[c.namespace] += c.count
        counts += [ExecutionCount(ns, None, n) for ns, n in per_namespace.items()]
        return counts

    async def purge_executions(
        self,
        selection: PurgeSelection,
        *,
        executions: bool = True,
        logs: bool = True,
        metrics: bool = True,
        storage: bool = True,
        batch_size: int = 100,
    ) -> PurgeCounts:
        progress = await self.purge(
            selection,
            executions=executions,
            logs=logs,
            metrics=metrics,
            storage=storage,
            batch_size=batch_size,
        )
        return progress.counts

    async def purge_logs(self, selection: LogSelection, *, batch_size: int | None = None) -> int:
        """Delete matching log lines, `batch_size` per transaction; returns how many."""
        batch_size = max(1, min(batch_size or LOG_BATCH, 100_000))
        total = await self.store.count_logs(selection)
        remaining = total
        while remaining > 0:
            event = LogsPurged(
                namespace=selection.namespace,
                flow_id=selection.flow_id,
                execution_id=selection.execution_id,
                levels=selection.levels,
                start=selection.start,
                end=selection.end,
                excluded=selection.excluded,
                limit=batch_size,
                at=self.clock.now(),
            )
            await self.bus.publish(self.topics.events, event.key, encode(event))
            await self._wait_projected()
            remaining -= batch_size
        return total

    # -- the engine's side ---------------------------------------------------------------

    async def purge(
        self,
        selection: PurgeSelection,
        *,
        executions: bool = True,
        logs: bool = True,
        metrics: bool = True,
        storage: bool = True,
        batch_size: int = 100,
        after: tuple[datetime, str] | None = None,
    ) -> PurgeProgress:
        """Purge what `selection` matches, `batch_size` executions at a time, from `after`
        in (end time, id) order."""
        batch_size = max(1, min(batch_size, MAX_BATCH))
        if any(not s.is_terminal for s in selection.states):
            raise ValueError("only ended executions can be purged")
        totals = PurgeCounts()
        while True:
            batch = await self.store.purge_candidates(selection, after=after, limit=batch_size)
            if not batch:
                break
            after = batch[-1].position
            totals += await self._purge_batch(
                batch, executions=executions, logs=logs, metrics=metrics, storage=storage
            )
            if len(batch) < batch_size:
                break
        return PurgeProgress(totals, after)

    async def _purge_batch(
        self,
        batch: Sequence[PurgeCandidate],
        *,
        executions: bool,
        logs: bool,
        metrics: bool,
        storage: bool,
    ) -> PurgeCounts:
        ids = [c.id for c in batch]
        counts = PurgeCounts()
        if executions or logs or metrics:
            task_runs, log_lines, metric_rows = await self.store.purge_counts(ids)
            by_flow: dict[tuple[str, str], list[str]] = defaultdict(list)
            for candidate in batch:
                by_flow[(candidate.namespace, candidate.flow_id)].append(candidate.id)
            now = self.clock.now()
            await self.bus.publish_many(
                self.topics.events,
                [
                    (
                        f"{namespace}/{flow_id}",
                        encode(
                            ExecutionsPurged(
                                namespace=namespace,
                                flow_id=flow_id,
                                execution_ids=tuple(flow_ids),
                                executions=executions,
                                logs=logs,
                                metrics=metrics,
                                at=now,
                            )
                        ),
                    )
                    for (namespace, flow_id), flow_ids in by_flow.items()
                ],
            )
            await self._wait_projected()
            counts = PurgeCounts(
                executions=len(ids) if executions else 0,
                task_runs=task_runs if executions else 0,
                logs=log_lines if logs else 0,
                metrics=metric_rows if metrics else 0,
            )
        # what a restart made run again since it was selected keeps everything
        running = await self.store.unfinished_among(ids)
        if running:
            log.info("not purging %d executions that run again", len(running))
            kept = [c for c in batch if c.id not in running]
            if executions:
                counts = PurgeCounts(
                    executions=len(kept),
                    task_runs=counts.task_runs,
                    logs=counts.logs,
                    metrics=counts.metrics,
                )
            batch = kept
        if storage and batch:
            files = await asyncio.to_thread(self._delete_files, batch)
            counts = counts + PurgeCounts(files=files)
        return counts

    def _delete_files(self, batch: Sequence[PurgeCandidate]) -> int:
        """Delete the executions' folders; most have none, so each is looked for with
        one lstat under its flow's folder (checked once to stay in the storage root)."""
        by_flow: dict[tuple[str, str], list[str]] = defaultdict(list)
        for candidate in batch:
            by_flow[(candidate.namespace, candidate.flow_id)].append(candidate.id)
        deleted = 0
        for (namespace, flow_id), ids in by_flow.items():
            prefix = f"{namespace.replace('.', '/')}/{flow_id}/executions"
            try:
                folder = self.storage.path_of(self.storage.uri_for(prefix))
            except StorageError as exc:
                log.warning("not purging files under %s: %s", prefix, exc)
                continue
            for execution_id in ids:
                if _SAFE_ID.fullmatch(execution_id) and not os.path.lexists(folder / execution_id):
                    continue
                deleted += len(self.storage.delete_tree(f"{prefix}/{execution_id}"))
        return deleted
