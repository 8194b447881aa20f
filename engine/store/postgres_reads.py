"""The PostgreSQL store's reads for the REST API: searches with a total count, flow
revisions, state histories, logs, dashboard counts, and the projection reset.

A mixin of `PostgresStore` (postgres.py), which provides the pool and the translation of
asyncpg's errors (`_run`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import asyncpg
import orjson

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

__all__ = ["PostgresReads", "flow_record"]

T = TypeVar("T")


def flow_record(row: Any) -> FlowRecord:
    return FlowRecord(
        namespace=row["namespace"],
        id=row["id"],
        revision=row["revision"],
        source=row["source"],
        updated_at=row["updated_at"],
        is_deleted=bool(row["deleted"]),
    )


class PostgresReads:
    if TYPE_CHECKING:

        async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T: ...

    async def search_flows(
        self,
        *,
        q: str | None = None,
        namespace: str | None = None,
        limit: int = 25,
        offset: int = 0,
    ) -> tuple[list[FlowRecord], int]:
        clauses = ["NOT deleted"]
        args: list[Any] = []
        if q:
            args.append(like_pattern(q))
            clauses.append(f"(id ILIKE ${len(args)} OR namespace ILIKE ${len(args)})")
        if namespace:
            args += [namespace, prefix_pattern(namespace)]
            clauses.append(f"(namespace = ${len(args) - 1} OR namespace LIKE ${len(args)})")
        latest = (
            "SELECT DISTINCT ON (namespace, id) namespace, id, revision, source, updated_at, "
            "deleted FROM flows ORDER BY namespace, id, revision DESC"
        )
        where = " AND ".join(clauses)

        async def read(db: asyncpg.Connection) -> tuple[list[FlowRecord], int]:
            total = await db.fetchval(f"SELECT count(*) FROM ({latest}) f WHERE {where}", *args)
            rows = await db.fetch(
                f"SELECT * FROM ({latest}) f WHERE {where} ORDER BY namespace, id "
                f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
                *args, limit, offset,
            )  # fmt: skip
            return [flow_record(r) for r in rows], int(total)

        return await self._run(read)

    async def flow_revisions(self, namespace: str, flow_id: str) -> list[FlowRecord]:
        async def read(db: asyncpg.Connection) -> list[FlowRecord]:
            rows = await db.fetch(
                "SELECT namespace, id, revision, source, updated_at, deleted FROM flows "
                "WHERE namespace = $1 AND id = $2 AND NOT deleted ORDER BY revision",
                namespace, flow_id,
            )  # fmt: skip
            return [flow_record(r) for r in rows]

        return await self._run(read)

    async def search_executions(self, query: ExecutionQuery) -> tuple[list[ExecutionChanged], int]:
        clauses: list[str] = []
        args: list[Any] = []
        if query.namespace:
            args += [query.namespace, prefix_pattern(query.namespace)]
            clauses.append(f"(namespace = ${len(args) - 1} OR namespace LIKE ${len(args)})")
        if query.flow_id:
            args.append(query.flow_id)
            clauses.append(f"flow_id = ${len(args)}")
        if query.states:
            args.append([s.value for s in query.states])
            clauses.append(f"state = ANY(${len(args)}::text[])")
        if query.labels:
            args.append(orjson.dumps(dict(query.labels)).decode())
            clauses.append(f"labels @> ${len(args)}::jsonb")
        if query.start is not None:
            args.append(query.start)
            clauses.append(f"created_at >= ${len(args)}")
        if query.end is not None:
            args.append(query.end)
            clauses.append(f"created_at < ${len(args)}")
        if query.q:
            args.append(like_pattern(query.q))
            n = len(args)
            clauses.append(
                f"(id ILIKE ${n} OR namespace ILIKE ${n} OR flow_id ILIKE ${n} OR labels::text ILIKE ${n})"
            )
        trigger_execution = (
            "(convert_from(data, 'UTF8')::jsonb #>> '{trigger,variables,executionId}')"
        )
        if query.trigger_execution_id is not None:
            args.append(query.trigger_execution_id)
            clauses.append(f"{trigger_execution} = ${len(args)}")
        if query.child_filter is not None:
            is_null = "IS NULL" if query.child_filter == "MAIN" else "IS NOT NULL"
            clauses.append(f"{trigger_execution} {is_null}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        column = EXECUTION_SORTS[query.sort]
        direction = "DESC" if query.is_descending else "ASC"

        async def read(db: asyncpg.Connection) -> tuple[list[ExecutionChanged], int]:
            total = await db.fetchval(f"SELECT count(*) FROM executions {where}", *args)
            rows = await db.fetch(
                f"SELECT data FROM executions {where} ORDER BY {column} {direction} NULLS LAST, id "
                f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
                *args, query.limit, query.offset,
            )  # fmt: skip
            return [ExecutionChanged.model_validate_json(r["data"]) for r in rows], int(total)

        return await self._run(read)

    async def latest_executions(
        self, flows: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], ExecutionChanged]:
        async def read(db: asyncpg.Connection) -> dict[tuple[str, str], ExecutionChanged]:
            rows = await db.fetch(
                "SELECT DISTINCT ON (e.namespace, e.flow_id) e.data FROM executions e "
                "JOIN unnest($1::text[], $2::text[]) AS w(n, f) ON e.namespace = w.n AND e.flow_id = w.f "
                "ORDER BY e.namespace, e.flow_id, e.created_at DESC",
                [n for n, _ in flows], [f for _, f in flows],
            )  # fmt: skip
            found = (ExecutionChanged.model_validate_json(r["data"]) for r in rows)
            return {(e.namespace, e.flow_id): e for e in found}

        return await self._run(read)

    async def state_history(self, execution_id: str) -> list[StateChange]:
        async def read(db: asyncpg.Connection) -> list[StateChange]:
            rows = await db.fetch(
                "SELECT task_run_id, attempt, state, at, seq FROM state_changes "
                "WHERE execution_id = $1 ORDER BY seq",
                execution_id,
            )
            return [StateChange(r[0] or None, r[1], State(r[2]), r[3], r[4]) for r in rows]

        return await self._run(read)

    async def search_logs(self, query: LogQuery) -> tuple[list[LogEntry], int]:
        args: list[Any] = [LEVELS.get(query.min_level.upper(), 0)]
        clauses = ["level >= $1"]
        for column, value in (
            ("execution_id", query.execution_id),
            ("flow_id", query.flow_id),
            ("task_run_id", query.task_run_id),
            ("task_id", query.task_id),
            ("attempt", query.attempt),
        ):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} = ${len(args)}")
        if query.namespace:
            args += [query.namespace, prefix_pattern(query.namespace)]
            clauses.append(f"(namespace = ${len(args) - 1} OR namespace LIKE ${len(args)})")
        if query.q:
            args.append(like_pattern(query.q))
            clauses.append(f"message ILIKE ${len(args)}")
        if query.start is not None:
            args.append(query.start)
            clauses.append(f"at >= ${len(args)}")
        if query.end is not None:
            args.append(query.end)
            clauses.append(f"at < ${len(args)}")
        if query.after is not None:
            args.append(query.after)
            clauses.append(f"position > ${len(args)}")
        where = " AND ".join(clauses)
        order = "position" if query.after is not None else "at, position"
        if query.is_descending and query.after is None:
            order = "at DESC, position DESC"

        async def read(db: asyncpg.Connection) -> tuple[list[LogEntry], int]:
            total = await db.fetchval(f"SELECT count(*) FROM logs WHERE {where}", *args)
            rows = await db.fetch(
                "SELECT at, level_name, message, task_run_id, task_id, attempt, execution_id, "
                f"namespace, flow_id, position FROM logs WHERE {where} ORDER BY {order} "
                f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
                *args, query.limit, query.offset,
            )  # fmt: skip
            entries = [LogEntry.from_row(r) for r in rows]
            return entries, int(total)

        return await self._run(read)

    async def execution_stats(
        self, start: datetime, end: datetime, interval: Literal["hour", "day"]
    ) -> ExecutionStats:
        async def read(db: asyncpg.Connection) -> ExecutionStats:
            buckets: dict[datetime, dict[str, int]] = {}
            for row in await db.fetch(
                "SELECT date_trunc($1, created_at AT TIME ZONE 'UTC') AS b, state, count(*) "
                "FROM executions WHERE created_at >= $2 AND created_at < $3 "
                "GROUP BY b, state ORDER BY b",
                interval, start, end,
            ):  # fmt: skip
                buckets.setdefault(row[0].replace(tzinfo=UTC), {})[row[1]] = row[2]
            now = {
                r[0]: r[1]
                for r in await db.fetch(
                    "SELECT state, count(*) FROM executions "
                    "WHERE state IN ('RUNNING', 'QUEUED', 'CREATED') GROUP BY state"
                )
            }
            failing = await db.fetch(
                "SELECT namespace, flow_id, count(*), max(coalesce(ended_at, created_at)) "
                "FROM executions WHERE state = 'FAILED' AND created_at >= $1 AND created_at < $2 "
                "GROUP BY namespace, flow_id ORDER BY count(*) DESC, namespace, flow_id LIMIT 10",
                start, end,
            )  # fmt: skip
            return ExecutionStats(
                buckets=tuple(sorted(buckets.items())),
                running=now.get("RUNNING", 0),
                queued=now.get("QUEUED", 0) + now.get("CREATED", 0),
                failing_flows=tuple(FailingFlow(r[0], r[1], r[2], r[3]) for r in failing),
            )

        return await self._run(read)

    async def count_executions(self) -> dict[str, int]:
        async def read(db: asyncpg.Connection) -> dict[str, int]:
            rows = await db.fetch("SELECT state, count(*) FROM executions GROUP BY state")
            return {r[0]: r[1] for r in rows}

        return await self._run(read)

    async def reset_projection(self) -> None:
        async def write(db: asyncpg.Connection) -> None:
            await db.execute(f"TRUNCATE {', '.join(PROJECTION_TABLES)}")

        await self._run(write)
