"""Namespace files in the SQLite store (the contract is in nsfiles.py).

A mixin of `SqliteStore`: every call runs on the store's one thread, and a write is one
`BEGIN IMMEDIATE` transaction, so writers are serialised by SQLite itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from engine.store.base import like_pattern
from engine.store.nsfiles import FileChange, NamespaceFileRecord, NewRevision, plan_write

__all__ = ["NSFILES_MIGRATION", "SqliteNamespaceFiles"]

T = TypeVar("T")

NSFILES_MIGRATION = """
CREATE TABLE namespace_files (
    namespace TEXT NOT NULL, path TEXT NOT NULL, revision INTEGER NOT NULL,
    is_last INTEGER NOT NULL, deleted INTEGER NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, content BLOB, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace, path, revision)
);
CREATE UNIQUE INDEX namespace_files_current ON namespace_files (namespace, path) WHERE is_last = 1;
"""

_COLUMNS = "namespace, path, revision, size, sha256, created_at, updated_at, deleted"


def _record(row: Sequence[Any]) -> NamespaceFileRecord:
    return NamespaceFileRecord(
        namespace=row[0],
        path=row[1],
        revision=row[2],
        size=row[3],
        sha256=row[4],
        created_at=datetime.fromisoformat(row[5]),
        updated_at=datetime.fromisoformat(row[6]),
        is_deleted=bool(row[7]),
    )


_INSERT = (
    "INSERT INTO namespace_files (namespace, path, revision, is_last, deleted, size, sha256, "
    "content, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)"
)


def _row(planned: NewRevision) -> tuple[Any, ...]:
    r = planned.record
    return (
        r.namespace,
        r.path,
        r.revision,
        int(r.is_deleted),
        r.size,
        r.sha256,
        planned.content,
        r.created_at.isoformat(),
        r.updated_at.isoformat(),
    )


class SqliteNamespaceFiles:
    if TYPE_CHECKING:

        @property
        def db(self) -> sqlite3.Connection: ...

        async def _call(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def write_namespace_files(
        self, namespace: str, changes: Sequence[FileChange], *, max_namespace_bytes: int
    ) -> list[NamespaceFileRecord]:
        def write() -> list[NamespaceFileRecord]:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM namespace_files WHERE namespace = ? AND is_last = 1",
                    (namespace,),
                ).fetchall()
                current = {row[1]: _record(row) for row in rows}
                planned = plan_write(
                    namespace,
                    current,
                    changes,
                    now=datetime.now(UTC),
                    max_namespace_bytes=max_namespace_bytes,
                )
                db.executemany(
                    "UPDATE namespace_files SET is_last = 0 "
                    "WHERE namespace = ? AND path = ? AND is_last = 1",
                    [(namespace, p.record.path) for p in planned if p.record.path in current],
                )
                db.executemany(_INSERT, [_row(p) for p in planned])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return [p.record for p in planned]

        return await self._call(write)

    async def namespace_files(
        self, namespace: str, prefix: str = "/", *, limit: int = 100_000
    ) -> list[NamespaceFileRecord]:
        def read() -> list[NamespaceFileRecord]:
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM namespace_files WHERE namespace = ? AND is_last = 1 "
                "AND deleted = 0 AND path LIKE ? ESCAPE '\\' ORDER BY path LIMIT ?",
                (namespace, like_pattern(prefix)[1:], limit),
            ).fetchall()
            return [_record(r) for r in rows]

        return await self._call(read)

    async def namespace_file(
        self, namespace: str, path: str, revision: int | None = None
    ) -> tuple[NamespaceFileRecord, bytes] | None:
        def read() -> tuple[NamespaceFileRecord, bytes] | None:
            if revision is None:
                row = self.db.execute(
                    f"SELECT {_COLUMNS}, content FROM namespace_files "
                    "WHERE namespace = ? AND path = ? AND is_last = 1 AND deleted = 0",
                    (namespace, path),
                ).fetchone()
            else:
                row = self.db.execute(
                    f"SELECT {_COLUMNS}, content FROM namespace_files "
                    "WHERE namespace = ? AND path = ? AND revision = ? AND deleted = 0",
                    (namespace, path, revision),
                ).fetchone()
            return (_record(row), bytes(row[8] or b"")) if row else None

        return await self._call(read)

    async def namespace_file_contents(
        self, namespace: str, revisions: Sequence[tuple[str, int]]
    ) -> dict[str, bytes]:
        def read() -> dict[str, bytes]:
            found = {}
            for path, revision in revisions:
                row = self.db.execute(
                    "SELECT content FROM namespace_files "
                    "WHERE namespace = ? AND path = ? AND revision = ? AND deleted = 0",
                    (namespace, path, revision),
                ).fetchone()
                if row is not None:
                    found[path] = bytes(row[0] or b"")
            return found

        return await self._call(read)

    async def namespace_file_revisions(
        self, namespace: str, path: str
    ) -> list[NamespaceFileRecord]:
        def read() -> list[NamespaceFileRecord]:
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM namespace_files WHERE namespace = ? AND path = ? "
                "ORDER BY revision",
                (namespace, path),
            ).fetchall()
            return [_record(r) for r in rows]

        return await self._call(read)

    async def namespaces_with_files(self) -> list[str]:
        def read() -> list[str]:
            rows = self.db.execute(
                "SELECT DISTINCT namespace FROM namespace_files "
                "WHERE is_last = 1 AND deleted = 0 ORDER BY namespace"
            ).fetchall()
            return [r[0] for r in rows]

        return await self._call(read)
