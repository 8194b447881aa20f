"""The PostgreSQL store's reads of task-run metrics (engine/store/metrics.py).

A mixin of `PostgresStore` (postgres.py), which provides the pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import orjson

from engine.store.metrics import MetricEntry, MetricQuery

__all__ = ["PostgresMetrics"]

T = TypeVar("T")

_FROM = "FROM metrics m JOIN executions e ON e.id = m.execution_id"


def _where(query: MetricQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("m.execution_id", query.execution_id),
        ("m.task_run_id", query.task_run_id),
        ("m.task_id", query.task_id),
        ("e.namespace", query.namespace),
        ("e.flow_id", query.flow_id),
        ("m.name", query.name),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    if query.start is not None:
        args.append(query.start)
        clauses.append(f"m.at >= ${len(args)}")
    if query.end is not None:
        args.append(query.end)
        clauses.append(f"m.at < ${len(args)}")
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), args


def _entry(row: asyncpg.Record) -> MetricEntry:
    tags = row["tags"]
    return MetricEntry(
        namespace=row["namespace"],
        flow_id=row["flow_id"],
        execution_id=row["execution_id"],
        task_id=row["task_id"],
        task_run_id=row["task_run_id"],
        kind=row["kind"],
        name=row["name"],
        value=row["value"],
        at=row["at"],
        tags=orjson.loads(tags) if isinstance(tags, str | bytes) else dict(tags or {}),
    )


class PostgresMetrics:
    if TYPE_CHECKING:

        async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T: ...

    async def search_metrics(self, query: MetricQuery) -> tuple[list[MetricEntry], int]:
        where, args = _where(query)

        async def read(db: asyncpg.Connection) -> tuple[list[MetricEntry], int]:
            total = await db.fetchval(f"SELECT count(*) {_FROM} {where}", *args)
            rows = await db.fetch(
                "SELECT e.namespace, e.flow_id, m.execution_id, m.task_id, m.task_run_id, "
                f"m.kind, m.name, m.value, m.at, m.tags::text AS tags {_FROM} {where} "
                f"ORDER BY m.at, m.event_id LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
                *args, query.limit, query.offset,
            )  # fmt: skip
            return [_entry(r) for r in rows], int(total)

        return await self._run(read)

    async def metric_names(
        self, namespace: str, flow_id: str, task_id: str | None = None
    ) -> list[str]:
        where, args = _where(MetricQuery(namespace=namespace, flow_id=flow_id, task_id=task_id))
        return await self._distinct("m.name", where, args)

    async def metric_task_ids(self, namespace: str, flow_id: str) -> list[str]:
        where, args = _where(MetricQuery(namespace=namespace, flow_id=flow_id))
        return await self._distinct("m.task_id", f"{where} AND m.task_id IS NOT NULL", args)

    async def _distinct(self, column: str, where: str, args: list[Any]) -> list[str]:
        async def read(db: asyncpg.Connection) -> list[str]:
            rows = await db.fetch(f"SELECT DISTINCT {column} {_FROM} {where} ORDER BY 1", *args)
            return [r[0] for r in rows]

        return await self._run(read)
