"""Deleting from the projection: what both stores share (sqlite_purge.py, postgres_purge.py).

Deletions travel as events (`ExecutionsPurged`, `LogsPurged`; engine/purge.py publishes
them) so the projector stays the only writer. A batch of events is applied in log order:
the events before a purge are written, then the purge, then what follows it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from engine.events import PURGE_KINDS, EventDocument
from engine.plugin import ExecutionCount, LogSelection, PurgeSelection

__all__ = ["PurgeCandidate", "PurgeReads", "purge_segments", "stamp"]


@dataclass(frozen=True, slots=True)
class PurgeCandidate:
    """An ended execution a purge selected, with its place in the selection's order."""

    id: str
    namespace: str
    flow_id: str
    ended_at: datetime

    def __repr__(self) -> str:
        return f"<PurgeCandidate {self.namespace}.{self.flow_id} {self.id}>"

    @property
    def position(self) -> tuple[datetime, str]:
        return (self.ended_at, self.id)


def purge_segments(
    events: Sequence[EventDocument],
) -> Iterator[tuple[Sequence[EventDocument], EventDocument | None]]:
    """The batch as (events to write, then the purge that follows them or None)."""
    start = 0
    for index, event in enumerate(events):
        if event.doc["kind"] in PURGE_KINDS:
            yield events[start:index], event
            start = index + 1
    if start < len(events):
        yield events[start:], None


def stamp(moment: datetime) -> str:
    """A time as events write it (pydantic's JSON: UTC with `Z`), so that SQLite, which
    keeps times as that text, compares them in order."""
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class PurgeReads(Protocol):
    """What the purge service reads before it publishes a deletion."""

    async def purge_candidates(
        self,
        selection: PurgeSelection,
        *,
        after: tuple[datetime, str] | None = None,
        limit: int = 500,
    ) -> list[PurgeCandidate]:
        """Ended executions that match, in (end time, id) order, after `after`."""

    async def purge_counts(self, execution_ids: Sequence[str]) -> tuple[int, int, int]:
        """(task runs, log lines, metrics) these executions have in the store."""

    async def count_logs(self, selection: LogSelection) -> int: ...

    async def execution_counts(
        self,
        *,
        flows: Sequence[tuple[str, str]],
        namespaces: Sequence[str],
        states: Sequence[str],
        start: datetime | None,
        end: datetime | None,
    ) -> list[ExecutionCount]:
        """Executions created in [start, end] per (namespace, flow) of `flows` or of the
        namespaces `namespaces` (exact names), only those with some."""

    async def unfinished_among(self, execution_ids: Sequence[str]) -> set[str]:
        """Those of the ids whose execution is stored and has not ended."""
