"""Namespace files in the PostgreSQL store (the contract is in nsfiles.py).

A mixin of `PostgresStore`. A write is one transaction that first takes an advisory lock
on its namespace: writers of one namespace queue behind each other (the size limit and
the revision numbers stay exact), writers of different namespaces do not meet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from engine.store.base import like_pattern
from engine.store.nsfiles import (
    FileChange,
    NamespaceFileConflict,
    NamespaceFileRecord,
    NamespaceFull,
    check_changes,
    parent_folders,
)

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


async def _current(db: asyncpg.Connection, namespace: str, path: str) -> NamespaceFileRecord | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM namespace_files WHERE namespace = $1 AND path = $2 AND is_last",
        namespace,
        path,
    )
    return _record(row) if row else None


async def _under(db: asyncpg.Connection, namespace: str, prefix: str) -> list[NamespaceFileRecord]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM namespace_files WHERE namespace = $1 AND is_last "
        "AND NOT deleted AND path LIKE $2 ESCAPE '\\' ORDER BY path",
        namespace,
        like_pattern(prefix)[1:],
    )
    return [_record(r) for r in rows]


async def _total(db: asyncpg.Connection, namespace: str) -> int:
    value = await db.fetchval(
        "SELECT coalesce(sum(size), 0) FROM namespace_files "
        "WHERE namespace = $1 AND is_last AND NOT deleted",
        namespace,
    )
    return int(value)


async def _insert(
    db: asyncpg.Connection,
    namespace: str,
    path: str,
    content: bytes | None,
    *,
    current: NamespaceFileRecord | None,
    deleted: bool,
) -> NamespaceFileRecord:
    now = datetime.now(UTC)
    data = content or b""
    digest = hashlib.sha256(data).hexdigest()
    revision = current.revision + 1 if current else 1
    created = current.created_at if current and not current.is_deleted else now
    if deleted and current is not None:
        data, digest, created = b"", current.sha256, current.created_at
    await db.execute(
        "UPDATE namespace_files SET is_last = false WHERE namespace = $1 AND path = $2 AND is_last",
        namespace,
        path,
    )
    await db.execute(
        "INSERT INTO namespace_files (namespace, path, revision, is_last, deleted, size, sha256, "
        "content, created_at, updated_at) VALUES ($1, $2, $3, true, $4, $5, $6, $7, $8, $9)",
        namespace,
        path,
        revision,
        deleted,
        0 if deleted else len(data),
        digest,
        None if deleted or path.endswith("/") else data,
        created,
        now,
    )
    return NamespaceFileRecord(
        namespace, path, revision, 0 if deleted else len(data), digest, created, now, deleted
    )


async def _apply(
    db: asyncpg.Connection, namespace: str, change: FileChange
) -> list[NamespaceFileRecord]:
    path = change.path
    if change.delete:
        targets = await _under(db, namespace, path) if path.endswith("/") else []
        current = await _current(db, namespace, path)
        if current is not None and not current.is_deleted and current not in targets:
            targets.append(current)
        return [
            await _insert(db, namespace, t.path, None, current=t, deleted=True) for t in targets
        ]
    for folder in parent_folders(path.rstrip("/") + ("/x" if path.endswith("/") else "")):
        found = await _current(db, namespace, folder.rstrip("/"))
        if found is not None and not found.is_deleted:
            raise NamespaceFileConflict(f"{folder.rstrip('/')} is a file, not a folder")
    if not path.endswith("/") and await _under(db, namespace, path + "/"):
        raise NamespaceFileConflict(f"{path} is a folder")
    current = await _current(db, namespace, path)
    content = change.content or b""
    if (
        current is not None
        and not current.is_deleted
        and current.sha256 == hashlib.sha256(content).hexdigest()
    ):
        return []
    return [await _insert(db, namespace, path, content, current=current, deleted=False)]


class PostgresNamespaceFiles:
    if TYPE_CHECKING:

        async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T: ...

    async def write_namespace_files(
        self, namespace: str, changes: Sequence[FileChange], *, max_namespace_bytes: int
    ) -> list[NamespaceFileRecord]:
        check_changes(changes)

        async def write(db: asyncpg.Connection) -> list[NamespaceFileRecord]:
            async with db.transaction():
                await db.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('podium.nsfiles:' || $1))", namespace
                )
                before = await _total(db, namespace)
                written: list[NamespaceFileRecord] = []
                for change in changes:
                    written.extend(await _apply(db, namespace, change))
                after = await _total(db, namespace)
                if after > max_namespace_bytes and after > before:
                    raise NamespaceFull(namespace, after, max_namespace_bytes)
            return written

        return await self._run(write)

    async def namespace_files(
        self, namespace: str, prefix: str = "/", *, limit: int = 100_000
    ) -> list[NamespaceFileRecord]:
        async def read(db: asyncpg.Connection) -> list[NamespaceFileRecord]:
            return (await _under(db, namespace, prefix))[:limit]

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
