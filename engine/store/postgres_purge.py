"""Purges on PostgreSQL: the reads a purge makes first, and the deletions the projector
applies (`purge_rows`, inside its transaction). See engine/store/purge.py.

A log purge deletes at most `limit` rows per event (by `ctid`), so no transaction holds
its locks for long; dead rows are left to (auto)vacuum, docs/operations.md says how to
give the space back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from engine.plugin import ExecutionCount, LogSelection, PurgeSelection
from engine.store.base import LEVELS, TERMINAL_SQL, prefix_pattern
from engine.store.postgres_projection import _STAGING
from engine.store.purge import PurgeCandidate

__all__ = ["CLEAR_STAGING", "PostgresPurge", "purge_rows"]

# The projection's staging tables empty at commit; a purge in the middle of a batch
# empties them itself, so the events after it are staged alone.
CLEAR_STAGING = f"TRUNCATE {', '.join(_STAGING)}"

T = TypeVar("T")


class _Query:
    """A WHERE clause built with numbered parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def namespaces(
        self, namespace: str | None, flow_id: str | None, excluded: Sequence[str]
    ) -> None:
        if namespace is not None and flow_id is not None:
            self.clauses.append(
                f"namespace = {self.arg(namespace)} AND flow_id = {self.arg(flow_id)}"
            )
        elif namespace is not None:
            self.clauses.append(
                f"(namespace = {self.arg(namespace)} OR namespace LIKE {self.arg(prefix_pattern(namespace))} ESCAPE '\\')"
            )
        elif flow_id is not None:
            self.clauses.append(f"flow_id = {self.arg(flow_id)}")
        for name in excluded:
            self.clauses.append(
                f"NOT (namespace = {self.arg(name)} OR namespace LIKE {self.arg(prefix_pattern(name))} ESCAPE '\\')"
            )

    @property
    def where(self) -> str:
        return " AND ".join(self.clauses) or "true"


def _log_query(selection: LogSelection) -> _Query:
    query = _Query()
    query.namespaces(selection.namespace, selection.flow_id, selection.excluded)
    if selection.execution_id is not None:
        query.clauses.append(f"execution_id = {query.arg(selection.execution_id)}")
    if selection.levels:
        levels = [LEVELS[level] for level in selection.levels]
        query.clauses.append(f"level = ANY({query.arg(levels)}::smallint[])")
    if selection.start is not None:
        query.clauses.append(f"at >= {query.arg(selection.start)}")
    query.clauses.append(f"at <= {query.arg(selection.end)}")
    return query


_UNFINISHED = (
    f"SELECT id FROM executions WHERE id = ANY($1::text[]) AND state NOT IN ({TERMINAL_SQL})"
)


async def purge_rows(db: asyncpg.Connection, doc: dict[str, Any]) -> int:
    """Apply one purge event inside the caller's transaction; returns the rows deleted."""
    if doc["kind"] == "LogsPurged":
        query = _log_query(
            LogSelection(
                end=datetime.fromisoformat(doc["end"]),
                namespace=doc.get("namespace"),
                flow_id=doc.get("flow_id"),
                execution_id=doc.get("execution_id"),
                levels=tuple(doc.get("levels") or ()),
                start=datetime.fromisoformat(doc["start"]) if doc.get("start") else None,
                excluded=tuple(doc.get("excluded") or ()),
            )
        )
        limit = query.arg(int(doc.get("limit") or 10_000))
        status = await db.execute(
            f"DELETE FROM logs WHERE ctid = ANY(ARRAY(SELECT ctid FROM logs WHERE {query.where} LIMIT {limit}))",
            *query.args,
        )
        return int(status.split()[-1])
    running = {r[0] for r in await db.fetch(_UNFINISHED, list(doc["execution_ids"]))}
    ids = [i for i in doc["execution_ids"] if i not in running]
    if not ids:
        return 0
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
    # A batch names up to 1000 executions: the planner's estimate makes a sequential scan
    # of each table look cheaper than its execution-id index, and a purge of many batches
    # would read the tables once per batch. The indexes, for this transaction's purge only.
    await db.execute("SET LOCAL enable_seqscan = off")
    for table, column in tables:
        status = await db.execute(f"DELETE FROM {table} WHERE {column} = ANY($1::text[])", ids)
        deleted += int(status.split()[-1])
    await db.execute("SET LOCAL enable_seqscan TO DEFAULT")
    return deleted


class PostgresPurge:
    if TYPE_CHECKING:

        async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T: ...

    async def purge_candidates(
        self,
        selection: PurgeSelection,
        *,
        after: tuple[datetime, str] | None = None,
        limit: int = 500,
    ) -> list[PurgeCandidate]:
        query = _Query()
        query.namespaces(selection.namespace, selection.flow_id, selection.excluded)
        query.clauses.append(f"state IN ({TERMINAL_SQL})")
        query.clauses.append(f"ended_at IS NOT NULL AND ended_at <= {query.arg(selection.end)}")
        if selection.states:
            query.clauses.append(
                f"state = ANY({query.arg([s.value for s in selection.states])}::text[])"
            )
        if selection.start is not None:
            query.clauses.append(f"created_at >= {query.arg(selection.start)}")
        if after is not None:
            # `ended_at >=` alone starts the index scan past the page before (and past the
            # dead entries of the rows that page deleted, which vacuum has not removed)
            since = query.arg(after[0])
            query.clauses.append(
                f"ended_at >= {since} AND (ended_at, id) > ({since}, {query.arg(after[1])})"
            )
        sql = (
            "SELECT id, namespace, flow_id, ended_at FROM executions "
            f"WHERE {query.where} ORDER BY ended_at, id LIMIT {query.arg(limit)}"
        )

        async def read(db: asyncpg.Connection) -> list[PurgeCandidate]:
            rows = await db.fetch(sql, *query.args)
            return [PurgeCandidate(r[0], r[1], r[2], r[3]) for r in rows]

        return await self._run(read)

    async def purge_counts(self, execution_ids: Sequence[str]) -> tuple[int, int, int]:
        async def read(db: asyncpg.Connection) -> tuple[int, int, int]:
            ids = list(execution_ids)
            async with db.transaction():  # the indexes, as purge_rows says why
                await db.execute("SET LOCAL enable_seqscan = off")
                row = await db.fetchrow(
                    "SELECT (SELECT count(*) FROM task_runs WHERE execution_id = ANY($1::text[])),"
                    " (SELECT count(*) FROM logs WHERE execution_id = ANY($1::text[])),"
                    " (SELECT count(*) FROM metrics WHERE execution_id = ANY($1::text[]))",
                    ids,
                )
            assert row is not None
            return int(row[0]), int(row[1]), int(row[2])

        return await self._run(read)

    async def count_logs(self, selection: LogSelection) -> int:
        query = _log_query(selection)

        async def read(db: asyncpg.Connection) -> int:
            return int(
                await db.fetchval(f"SELECT count(*) FROM logs WHERE {query.where}", *query.args)
            )

        return await self._run(read)

    async def execution_counts(
        self,
        *,
        flows: Sequence[tuple[str, str]],
        namespaces: Sequence[str],
        states: Sequence[str],
        start: datetime | None,
        end: datetime | None,
    ) -> list[ExecutionCount]:
        if not flows and not namespaces:
            return []
        query = _Query()
        which = [
            f"(namespace = {query.arg(ns)} AND flow_id = {query.arg(flow)})" for ns, flow in flows
        ]
        if namespaces:
            which.append(f"namespace = ANY({query.arg(list(namespaces))}::text[])")
        query.clauses.append(f"({' OR '.join(which)})")
        if states:
            query.clauses.append(f"state = ANY({query.arg(list(states))}::text[])")
        if start is not None:
            query.clauses.append(f"created_at >= {query.arg(start)}")
        if end is not None:
            query.clauses.append(f"created_at <= {query.arg(end)}")
        sql = (
            "SELECT namespace, flow_id, count(*) FROM executions "
            f"WHERE {query.where} GROUP BY namespace, flow_id ORDER BY namespace, flow_id"
        )

        async def read(db: asyncpg.Connection) -> list[ExecutionCount]:
            return [ExecutionCount(r[0], r[1], int(r[2])) for r in await db.fetch(sql, *query.args)]

        return await self._run(read)

    async def unfinished_among(self, execution_ids: Sequence[str]) -> set[str]:
        async def read(db: asyncpg.Connection) -> set[str]:
            return {r[0] for r in await db.fetch(_UNFINISHED, list(execution_ids))}

        return await self._run(read)
