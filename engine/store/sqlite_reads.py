"""The SQLite store's reads for the REST API: searches with a total count, flow
revisions, state histories, logs, dashboard counts, and the projection reset.

A mixin of `SqliteStore` (sqlite.py), which provides the connection and its thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from engine.events import ExecutionChanged
from engine.states import State
from engine.store.base import (
    EXECUTION_SORTS,
    LEVELS,
    PROJECTION_TABLES,
    ExecutionQuery,
    ExecutionStats,
    FailingFlow,
    FlowRecord,
    LogEntry,
    LogQuery,
    StateChange,
    like_pattern,
    prefix_pattern,
)

__all__ = ["SqliteReads", "flow_record"]

T = TypeVar("T")


def flow_record(row: Sequence[Any]) -> FlowRecord:
    return FlowRecord(
        namespace=row[0],
        id=row[1],
        revision=row[2],
        source=row[3],
        updated_at=datetime.fromisoformat(row[4]),
        is_deleted=bool(row[5]),
    )


class SqliteReads:
    if TYPE_CHECKING:

        @property
        def db(self) -> sqlite3.Connection: ...

        async def _call(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def search_flows(
        self,
        *,
        q: str | None = None,
        namespace: str | None = None,
        limit: int = 25,
        offset: int = 0,
    ) -> tuple[list[FlowRecord], int]:
        clauses, args = ["f.deleted = 0"], []
        if q:
            clauses.append("(f.id LIKE ? ESCAPE '\\' OR f.namespace LIKE ? ESCAPE '\\')")
            args += [like_pattern(q)] * 2
        if namespace:
            clauses.append("(f.namespace = ? OR f.namespace LIKE ? ESCAPE '\\')")
            args += [namespace, prefix_pattern(namespace)]
        base = (
            "FROM flows f JOIN (SELECT namespace, id, max(revision) AS revision FROM flows "
            "GROUP BY namespace, id) m USING (namespace, id, revision) "
            f"WHERE {' AND '.join(clauses)}"
        )

        def read() -> tuple[list[FlowRecord], int]:
            total = self.db.execute(f"SELECT count(*) {base}", args).fetchone()[0]
            rows = self.db.execute(
                "SELECT f.namespace, f.id, f.revision, f.source, f.updated_at, f.deleted "
                f"{base} ORDER BY f.namespace, f.id LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
            return [flow_record(r) for r in rows], total

        return await self._call(read)

    async def flow_revisions(self, namespace: str, flow_id: str) -> list[FlowRecord]:
        def read() -> list[FlowRecord]:
            rows = self.db.execute(
                "SELECT namespace, id, revision, source, updated_at, deleted FROM flows "
                "WHERE namespace = ? AND id = ? AND deleted = 0 ORDER BY revision",
                (namespace, flow_id),
            ).fetchall()
            return [flow_record(r) for r in rows]

        return await self._call(read)

    async def search_executions(self, query: ExecutionQuery) -> tuple[list[ExecutionChanged], int]:
        clauses: list[str] = []
        args: list[Any] = []
        if query.namespace:
            clauses.append("(namespace = ? OR namespace LIKE ? ESCAPE '\\')")
            args += [query.namespace, prefix_pattern(query.namespace)]
        if query.flow_id:
            clauses.append("flow_id = ?")
            args.append(query.flow_id)
        if query.states:
            clauses.append(f"state IN ({','.join('?' * len(query.states))})")
            args.extend(s.value for s in query.states)
        for key, value in query.labels.items():
            clauses.append("json_extract(labels, ?) = ?")
            args += ['$."' + key.replace('"', '""') + '"', value]
        if query.start is not None:
            clauses.append("julianday(created_at) >= julianday(?)")
            args.append(query.start.isoformat())
        if query.end is not None:
            clauses.append("julianday(created_at) < julianday(?)")
            args.append(query.end.isoformat())
        if query.q:
            clauses.append(
                "(id LIKE ? ESCAPE '\\' OR namespace LIKE ? ESCAPE '\\' "
                "OR flow_id LIKE ? ESCAPE '\\' OR labels LIKE ? ESCAPE '\\')"
            )
            args += [like_pattern(query.q)] * 4
        trigger_execution = "json_extract(CAST(data AS TEXT), '$.trigger.variables.executionId')"
        if query.trigger_execution_id is not None:
            clauses.append(f"{trigger_execution} = ?")
            args.append(query.trigger_execution_id)
        if query.child_filter is not None:
            is_null = "IS NULL" if query.child_filter == "MAIN" else "IS NOT NULL"
            clauses.append(f"{trigger_execution} {is_null}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        column = EXECUTION_SORTS[query.sort]
        if column in ("created_at", "ended_at"):
            column = f"julianday({column})"
        direction = "DESC" if query.is_descending else "ASC"
        nulls = "NULLS LAST"

        def read() -> tuple[list[ExecutionChanged], int]:
            total = self.db.execute(f"SELECT count(*) FROM executions {where}", args).fetchone()[0]
            rows = self.db.execute(
                f"SELECT data FROM executions {where} "
                f"ORDER BY {column} {direction} {nulls}, id LIMIT ? OFFSET ?",
                (*args, query.limit, query.offset),
            ).fetchall()
            return [ExecutionChanged.model_validate_json(r[0]) for r in rows], total

        return await self._call(read)

    async def latest_executions(
        self, flows: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], ExecutionChanged]:
        def read() -> dict[tuple[str, str], ExecutionChanged]:
            found = {}
            for namespace, flow_id in flows:
                row = self.db.execute(
                    "SELECT data FROM executions WHERE namespace = ? AND flow_id = ? "
                    "ORDER BY created_at DESC LIMIT 1",
                    (namespace, flow_id),
                ).fetchone()
                if row is not None:
                    found[(namespace, flow_id)] = ExecutionChanged.model_validate_json(row[0])
            return found

        return await self._call(read)

    async def state_history(self, execution_id: str) -> list[StateChange]:
        def read() -> list[StateChange]:
            rows = self.db.execute(
                "SELECT task_run_id, attempt, state, at, seq FROM state_changes "
                "WHERE execution_id = ? ORDER BY seq",
                (execution_id,),
            ).fetchall()
            return [
                StateChange(r[0] or None, r[1], State(r[2]), datetime.fromisoformat(r[3]), r[4])
                for r in rows
            ]

        return await self._call(read)

    async def search_logs(self, query: LogQuery) -> tuple[list[LogEntry], int]:
        clauses = ["level >= ?"]
        args: list[Any] = [LEVELS.get(query.min_level.upper(), 0)]
        for column, value in (
            ("execution_id", query.execution_id),
            ("flow_id", query.flow_id),
            ("task_run_id", query.task_run_id),
            ("task_id", query.task_id),
            ("attempt", query.attempt),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if query.namespace:
            clauses.append("(namespace = ? OR namespace LIKE ? ESCAPE '\\')")
            args += [query.namespace, prefix_pattern(query.namespace)]
        if query.q:
            clauses.append("message LIKE ? ESCAPE '\\'")
            args.append(like_pattern(query.q))
        if query.start is not None:
            clauses.append("julianday(at) >= julianday(?)")
            args.append(query.start.isoformat())
        if query.end is not None:
            clauses.append("julianday(at) < julianday(?)")
            args.append(query.end.isoformat())
        if query.after is not None:
            clauses.append("rowid > ?")
            args.append(query.after)
        where = " AND ".join(clauses)
        order = "rowid" if query.after is not None else "at, rowid"
        if query.is_descending and query.after is None:
            order = "at DESC, rowid DESC"

        def read() -> tuple[list[LogEntry], int]:
            total = self.db.execute(f"SELECT count(*) FROM logs WHERE {where}", args).fetchone()[0]
            rows = self.db.execute(
                "SELECT at, level_name, message, task_run_id, task_id, attempt, execution_id, "
                f"namespace, flow_id, rowid FROM logs WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                (*args, query.limit, query.offset),
            ).fetchall()
            entries = [LogEntry.from_row(r) for r in rows]
            return entries, total

        return await self._call(read)

    async def execution_stats(
        self, start: datetime, end: datetime, interval: Literal["hour", "day"]
    ) -> ExecutionStats:
        pattern = "%Y-%m-%dT%H:00:00Z" if interval == "hour" else "%Y-%m-%dT00:00:00Z"
        bounds = (start.isoformat(), end.isoformat())
        in_range = "julianday(created_at) >= julianday(?) AND julianday(created_at) < julianday(?)"

        def read() -> ExecutionStats:
            db = self.db
            buckets: dict[str, dict[str, int]] = {}
            for bucket, state, count in db.execute(
                f"SELECT strftime(?, created_at) AS b, state, count(*) FROM executions "
                f"WHERE {in_range} GROUP BY b, state ORDER BY b",
                (pattern, *bounds),
            ):
                buckets.setdefault(bucket, {})[state] = count
            now = dict(
                db.execute(
                    "SELECT state, count(*) FROM executions WHERE state IN (?, ?, ?) GROUP BY state",
                    ("RUNNING", "QUEUED", "CREATED"),
                ).fetchall()
            )
            failing = db.execute(
                "SELECT namespace, flow_id, count(*), max(coalesce(ended_at, created_at)) "
                f"FROM executions WHERE state = 'FAILED' AND {in_range} "
                "GROUP BY namespace, flow_id ORDER BY count(*) DESC, namespace, flow_id LIMIT 10",
                bounds,
            ).fetchall()
            return ExecutionStats(
                buckets=tuple(
                    (datetime.fromisoformat(b), counts) for b, counts in sorted(buckets.items())
                ),
                running=now.get("RUNNING", 0),
                queued=now.get("QUEUED", 0) + now.get("CREATED", 0),
                failing_flows=tuple(
                    FailingFlow(r[0], r[1], r[2], datetime.fromisoformat(r[3])) for r in failing
                ),
            )

        return await self._call(read)

    async def count_executions(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            rows = self.db.execute("SELECT state, count(*) FROM executions GROUP BY state")
            return {state: count for state, count in rows}

        return await self._call(read)

    async def reset_projection(self) -> None:
        def write() -> None:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                for table in PROJECTION_TABLES:
                    db.execute(f"DELETE FROM {table}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        await self._call(write)
