"""Namespace files in the PostgreSQL store (the contract is in nsfiles.py).

A mixin of `PostgresStore`. A write is one transaction that first takes an advisory lock
on its namespace: writers of one namespace queue behind each other (the size limit and
the revision numbers stay exact), writers of different namespaces do not meet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from engine.store.base import like_pattern
from engine.store.nsfiles import FileChange, NamespaceFileRecord, NewRevision, plan_write

__all__ = ["NSFILES_MIGRATION", "PostgresNamespaceFiles"]

T = TypeVar("T")

NSFILES_MIGRATION = """
CREATE TABLE namespace_files (
    namespace text NOT NULL, path text NOT NULL, revision integer NOT NULL,
    is_last boolean NOT NULL, deleted boolean NOT NULL, size bigint NOT NULL,
    sha256 text NOT NULL, content bytea, created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, path, revision)
);
CREATE UNIQUE INDEX namespace_files_current ON namespace_files (namespace, path) WHERE is_last;
"""

_COLUMNS = "namespace, path, revision, size, sha256, created_at, updated_at, deleted"


def _record(row: Any) -> NamespaceFileRecord:
    return NamespaceFileRecord(
        namespace=row[0],
        path=row[1],
        revision=row[2],
        size=row[3],
        sha256=row[4],
        created_at=row[5],
        updated_at=row[6],
        is_deleted=row[7],
    )


_INSERT = (
    "INSERT INTO namespace_files (namespace, path, revision, is_last, deleted, size, sha256, "
    "content, created_at, updated_at) VALUES ($1, $2, $3, true, $4, $5, $6, $7, $8, $9)"
)


def _row(planned: NewRevision) -> tuple[Any, ...]:
    r = planned.record
    return (
        r.namespace,
        r.path,
        r.revision,
        r.is_deleted,
        r.size,
        r.sha256,
        planned.content,
        r.created_at,
        r.updated_at,
    )


class PostgresNamespaceFiles:
    if TYPE_CHECKING:

        async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T: ...

    async def write_namespace_files(
        self, namespace: str, changes: Sequence[FileChange], *, max_namespace_bytes: int
    ) -> list[NamespaceFileRecord]:
        async def write(db: asyncpg.Connection) -> list[NamespaceFileRecord]:
            async with db.transaction():
                await db.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('podium.nsfiles:' || $1))", namespace
                )
                rows = await db.fetch(
                    f"SELECT {_COLUMNS} FROM namespace_files WHERE namespace = $1 AND is_last",
                    namespace,
                )
                current = {row[1]: _record(row) for row in rows}
                planned = plan_write(
                    namespace,
                    current,
                    changes,
                    now=datetime.now(UTC),
                    max_namespace_bytes=max_namespace_bytes,
                )
                replaced = [p.record.path for p in planned if p.record.path in current]
                if replaced:
                    await db.execute(
                        "UPDATE namespace_files SET is_last = false "
                        "WHERE namespace = $1 AND path = ANY($2::text[]) AND is_last",
                        namespace,
                        replaced,
                    )
                if planned:
                    await db.executemany(_INSERT, [_row(p) for p in planned])
            return [p.record for p in planned]

        return await self._run(write)

    async def namespace_files(
        self, namespace: str, prefix: str = "/", *, limit: int = 100_000
    ) -> list[NamespaceFileRecord]:
        async def read(db: asyncpg.Connection) -> list[NamespaceFileRecord]:
            rows = await db.fetch(
                f"SELECT {_COLUMNS} FROM namespace_files WHERE namespace = $1 AND is_last "
                "AND NOT deleted AND path LIKE $2 ESCAPE '\\' ORDER BY path LIMIT $3",
                namespace,
                like_pattern(prefix)[1:],
                limit,
            )
            return [_record(r) for r in rows]

        return await self._run(read)

    async def namespace_file(
        self, namespace: str, path: str, revision: int | None = None
    ) -> tuple[NamespaceFileRecord, bytes] | None:
        async def read(db: asyncpg.Connection) -> tuple[NamespaceFileRecord, bytes] | None:
            if revision is None:
                row = await db.fetchrow(
                    f"SELECT {_COLUMNS}, content FROM namespace_files "
                    "WHERE namespace = $1 AND path = $2 AND is_last AND NOT deleted",
                    namespace,
                    path,
                )
            else:
                row = await db.fetchrow(
                    f"SELECT {_COLUMNS}, content FROM namespace_files "
                    "WHERE namespace = $1 AND path = $2 AND revision = $3 AND NOT deleted",
                    namespace,
                    path,
                    revision,
                )
            return (_record(row), bytes(row[8] or b"")) if row else None

        return await self._run(read)

    async def namespace_file_contents(
        self, namespace: str, revisions: Sequence[tuple[str, int]]
    ) -> dict[str, bytes]:
        async def read(db: asyncpg.Connection) -> dict[str, bytes]:
            rows = await db.fetch(
                "SELECT f.path, f.content FROM namespace_files f "
                "JOIN unnest($2::text[], $3::int[]) AS w(path, revision) "
                "ON f.path = w.path AND f.revision = w.revision "
                "WHERE f.namespace = $1 AND NOT f.deleted",
                namespace,
                [p for p, _ in revisions],
                [r for _, r in revisions],
            )
            return {row[0]: bytes(row[1] or b"") for row in rows}

        return await self._run(read)

    async def namespace_file_revisions(
        self, namespace: str, path: str
    ) -> list[NamespaceFileRecord]:
        async def read(db: asyncpg.Connection) -> list[NamespaceFileRecord]:
            rows = await db.fetch(
                f"SELECT {_COLUMNS} FROM namespace_files WHERE namespace = $1 AND path = $2 "
                "ORDER BY revision",
                namespace,
                path,
            )
            return [_record(r) for r in rows]

        return await self._run(read)

    async def namespaces_with_files(self) -> list[str]:
        async def read(db: asyncpg.Connection) -> list[str]:
            rows = await db.fetch(
                "SELECT DISTINCT namespace FROM namespace_files "
                "WHERE is_last AND NOT deleted ORDER BY namespace"
            )
            return [r[0] for r in rows]

        return await self._run(read)
