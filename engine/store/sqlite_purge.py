"""Purges on SQLite: the reads a purge makes first, and the deletions the projector
applies (`_purge`, inside its transaction). See engine/store/purge.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from engine.plugin import ExecutionCount, LogSelection, PurgeSelection
from engine.store.base import LEVELS, TERMINAL_SQL, prefix_pattern
from engine.store.purge import PurgeCandidate, stamp

__all__ = ["SqlitePurge"]

T = TypeVar("T")

_CHUNK = 500  # SQLite's bound on parameters, with room to spare


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _namespace_clause(
    namespace: str | None, flow_id: str | None, excluded: Sequence[str]
) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if namespace is not None and flow_id is not None:
        clauses.append("namespace = ? AND flow_id = ?")
        args += [namespace, flow_id]
    elif namespace is not None:
        clauses.append("(namespace = ? OR namespace LIKE ? ESCAPE '\\')")
        args += [namespace, prefix_pattern(namespace)]
    elif flow_id is not None:
        clauses.append("flow_id = ?")
        args.append(flow_id)
    for name in excluded:
        clauses.append("NOT (namespace = ? OR namespace LIKE ? ESCAPE '\\')")
        args += [name, prefix_pattern(name)]
    return clauses, args


def _log_filter(selection: LogSelection) -> tuple[str, list[Any]]:
    clauses, args = _namespace_clause(selection.namespace, selection.flow_id, selection.excluded)
    if selection.execution_id is not None:
        clauses.append("execution_id = ?")
        args.append(selection.execution_id)
    if selection.levels:
        clauses.append(f"level IN ({_marks(selection.levels)})")
        args += [LEVELS[level] for level in selection.levels]
    if selection.start is not None:
        clauses.append("at >= ?")
        args.append(stamp(selection.start))
    clauses.append("at <= ?")
    args.append(stamp(selection.end))
    return " AND ".join(clauses), args


class SqlitePurge:
    if TYPE_CHECKING:

        @property
        def db(self) -> sqlite3.Connection: ...

        async def _call(self, fn: Callable[..., T], *args: Any) -> T: ...

    # -- reads ------------------------------------------------------------------------

    async def purge_candidates(
        self,
        selection: PurgeSelection,
        *,
        after: tuple[datetime, str] | None = None,
        limit: int = 500,
    ) -> list[PurgeCandidate]:
        clauses, args = _namespace_clause(
            selection.namespace, selection.flow_id, selection.excluded
        )
        # `+state`: walk the end-time index in order rather than the state index and sort
        clauses.append(f"+state IN ({TERMINAL_SQL})")
        clauses.append("ended_at IS NOT NULL AND ended_at <= ?")
        args.append(stamp(selection.end))
        if selection.states:
            clauses.append(f"state IN ({_marks(selection.states)})")
            args += [s.value for s in selection.states]
        if selection.start is not None:
            clauses.append("created_at >= ?")
            args.append(stamp(selection.start))
        if after is not None:  # `ended_at >=`: where the index scan starts
            clauses.append("ended_at >= ? AND (ended_at, id) > (?, ?)")
            args += [stamp(after[0]), stamp(after[0]), after[1]]
        sql = (
            "SELECT id, namespace, flow_id, ended_at FROM executions "
            f"WHERE {' AND '.join(clauses)} ORDER BY ended_at, id LIMIT ?"
        )

        def read() -> list[PurgeCandidate]:
            rows = self.db.execute(sql, (*args, limit)).fetchall()
            return [PurgeCandidate(r[0], r[1], r[2], datetime.fromisoformat(r[3])) for r in rows]

        return await self._call(read)

    async def purge_counts(self, execution_ids: Sequence[str]) -> tuple[int, int, int]:
        def read() -> tuple[int, int, int]:
            totals = [0, 0, 0]
            for start in range(0, len(execution_ids), _CHUNK):
                chunk = list(execution_ids[start : start + _CHUNK])
                for index, table in enumerate(("task_runs", "logs", "metrics")):
                    totals[index] += self.db.execute(
                        f"SELECT count(*) FROM {table} WHERE execution_id IN ({_marks(chunk)})",
                        chunk,
                    ).fetchone()[0]
            return totals[0], totals[1], totals[2]

        return await self._call(read)

    async def count_logs(self, selection: LogSelection) -> int:
        where, args = _log_filter(selection)

        def read() -> int:
            return int(
                self.db.execute(f"SELECT count(*) FROM logs WHERE {where}", args).fetchone()[0]
            )

        return await self._call(read)

    async def execution_counts(
        self,
        *,
        flows: Sequence[tuple[str, str]],
        namespaces: Sequence[str],
        states: Sequence[str],
        start: datetime | None,
        end: datetime | None,
    ) -> list[ExecutionCount]:
        which = ["(namespace = ? AND flow_id = ?)" for _ in flows]
        which += ["namespace = ?" for _ in namespaces]
        if not which:
            return []
        args: list[Any] = [v for pair in flows for v in pair] + list(namespaces)
        clauses = [f"({' OR '.join(which)})"]
        if states:
            clauses.append(f"state IN ({_marks(states)})")
            args += list(states)
        if start is not None:
            clauses.append("created_at >= ?")
            args.append(stamp(start))
        if end is not None:
            clauses.append("created_at <= ?")
            args.append(stamp(end))
        sql = (
            "SELECT namespace, flow_id, count(*) FROM executions "
            f"WHERE {' AND '.join(clauses)} GROUP BY namespace, flow_id ORDER BY namespace, flow_id"
        )

        def read() -> list[ExecutionCount]:
            return [ExecutionCount(r[0], r[1], r[2]) for r in self.db.execute(sql, args)]

        return await self._call(read)

    async def unfinished_among(self, execution_ids: Sequence[str]) -> set[str]:
        def read() -> set[str]:
            return self._unfinished(execution_ids)

        return await self._call(read)

    def _unfinished(self, execution_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(execution_ids), _CHUNK):
            chunk = list(execution_ids[start : start + _CHUNK])
            rows = self.db.execute(
                f"SELECT id FROM executions WHERE id IN ({_marks(chunk)}) "
                f"AND state NOT IN ({TERMINAL_SQL})",
                chunk,
            )
            found.update(r[0] for r in rows)
        return found

    # -- the deletions (projector only, inside its transaction) ----------------------

    def _purge(self, doc: dict[str, Any]) -> int:
        """Apply one purge event; returns how many rows it deleted."""
        if doc["kind"] == "LogsPurged":
            selection = LogSelection(
                end=datetime.fromisoformat(doc["end"]),
                namespace=doc.get("namespace"),
                flow_id=doc.get("flow_id"),
                execution_id=doc.get("execution_id"),
                levels=tuple(doc.get("levels") or ()),
                start=datetime.fromisoformat(doc["start"]) if doc.get("start") else None,
                excluded=tuple(doc.get("excluded") or ()),
            )
            where, args = _log_filter(selection)
            cursor = self.db.execute(
                f"DELETE FROM logs WHERE rowid IN (SELECT rowid FROM logs WHERE {where} LIMIT ?)",
                (*args, int(doc.get("limit") or 10_000)),
            )
            return cursor.rowcount
        running = self._unfinished(doc["execution_ids"])
        ids = [i for i in doc["execution_ids"] if i not in running]
        tables: list[tuple[str, str]] = []
        if doc.get("executions", True):
            tables += [
                ("executions", "id"),
                ("task_runs", "execution_id"),
                ("state_changes", "execution_id"),
                ("execution_epochs", "execution_id"),
            ]
        if doc.get("logs", True):
            tables.append(("logs", "execution_id"))
        if doc.get("metrics", True):
            tables.append(("metrics", "execution_id"))
        deleted = 0
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for table, column in tables:
                deleted += self.db.execute(
                    f"DELETE FROM {table} WHERE {column} IN ({_marks(chunk)})", chunk
                ).rowcount
        return deleted
