"""The SQLite store's reads of task-run metrics (engine/store/metrics.py).

A mixin of `SqliteStore` (sqlite.py), which provides the connection and its thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from engine.store.metrics import MetricEntry, MetricQuery

__all__ = ["SqliteMetrics"]

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
            clauses.append(f"{column} = ?")
            args.append(value)
    if query.start is not None:
        clauses.append("julianday(m.at) >= julianday(?)")
        args.append(query.start.isoformat())
    if query.end is not None:
        clauses.append("julianday(m.at) < julianday(?)")
        args.append(query.end.isoformat())
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), args


def _entry(row: Sequence[Any]) -> MetricEntry:
    return MetricEntry(
        namespace=row[0],
        flow_id=row[1],
        execution_id=row[2],
        task_id=row[3],
        task_run_id=row[4],
        kind=row[5],
        name=row[6],
        value=row[7],
        at=datetime.fromisoformat(row[8]),
        tags=orjson.loads(row[9]) if row[9] else {},
    )


class SqliteMetrics:
    if TYPE_CHECKING:

        @property
        def db(self) -> sqlite3.Connection: ...

        async def _call(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def search_metrics(self, query: MetricQuery) -> tuple[list[MetricEntry], int]:
        where, args = _where(query)

        def read() -> tuple[list[MetricEntry], int]:
            total = self.db.execute(f"SELECT count(*) {_FROM} {where}", args).fetchone()[0]
            rows = self.db.execute(
                "SELECT e.namespace, e.flow_id, m.execution_id, m.task_id, m.task_run_id, "
                f"m.kind, m.name, m.value, m.at, m.tags {_FROM} {where} "
                "ORDER BY julianday(m.at), m.event_id LIMIT ? OFFSET ?",
                (*args, query.limit, query.offset),
            ).fetchall()
            return [_entry(r) for r in rows], total

        return await self._call(read)

    async def metric_names(
        self, namespace: str, flow_id: str, task_id: str | None = None
    ) -> list[str]:
        where, args = _where(MetricQuery(namespace=namespace, flow_id=flow_id, task_id=task_id))
        return await self._distinct("m.name", where, args)

    async def metric_task_ids(self, namespace: str, flow_id: str) -> list[str]:
        where, args = _where(MetricQuery(namespace=namespace, flow_id=flow_id))
        return await self._distinct("m.task_id", f"{where} AND m.task_id IS NOT NULL", args)

    async def _distinct(self, column: str, where: str, args: list[Any]) -> list[str]:
        def read() -> list[str]:
            rows = self.db.execute(
                f"SELECT DISTINCT {column} {_FROM} {where} ORDER BY 1", args
            ).fetchall()
            return [r[0] for r in rows]

        return await self._call(read)
