"""Namespace files in the SQLite store (the contract is in nsfiles.py).

A mixin of `SqliteStore`: every call runs on the store's one thread, and a write is one
`BEGIN IMMEDIATE` transaction, so writers are serialised by SQLite itself.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from engine.store.base import like_pattern
from engine.store.nsfiles import (
    FileChange,
    NamespaceFileConflict,
    NamespaceFileRecord,
    NamespaceFull,
    check_changes,
    parent_folders,
)

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


class SqliteNamespaceFiles:
    if TYPE_CHECKING:

        @property
        def db(self) -> sqlite3.Connection: ...

        async def _call(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def write_namespace_files(
        self, namespace: str, changes: Sequence[FileChange], *, max_namespace_bytes: int
    ) -> list[NamespaceFileRecord]:
        check_changes(changes)

        def write() -> list[NamespaceFileRecord]:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                before = self._ns_total(namespace)
                written: list[NamespaceFileRecord] = []
                for change in changes:
                    written.extend(self._ns_apply(namespace, change))
                after = self._ns_total(namespace)
                if after > max_namespace_bytes and after > before:
                    raise NamespaceFull(namespace, after, max_namespace_bytes)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return written

        return await self._call(write)

    def _ns_total(self, namespace: str) -> int:
        row = self.db.execute(
            "SELECT coalesce(sum(size), 0) FROM namespace_files "
            "WHERE namespace = ? AND is_last = 1 AND deleted = 0",
            (namespace,),
        ).fetchone()
        return int(row[0])

    def _ns_current(self, namespace: str, path: str) -> NamespaceFileRecord | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM namespace_files "
            "WHERE namespace = ? AND path = ? AND is_last = 1",
            (namespace, path),
        ).fetchone()
        return _record(row) if row else None

    def _ns_under(self, namespace: str, prefix: str) -> list[NamespaceFileRecord]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM namespace_files WHERE namespace = ? AND is_last = 1 "
            "AND deleted = 0 AND path LIKE ? ESCAPE '\\' ORDER BY path",
            (namespace, like_pattern(prefix)[1:]),
        ).fetchall()
        return [_record(r) for r in rows]

    def _ns_insert(
        self,
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
        self.db.execute(
            "UPDATE namespace_files SET is_last = 0 WHERE namespace = ? AND path = ? AND is_last = 1",
            (namespace, path),
        )
        self.db.execute(
            "INSERT INTO namespace_files (namespace, path, revision, is_last, deleted, size, "
            "sha256, content, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            (
                namespace,
                path,
                revision,
                int(deleted),
                0 if deleted else len(data),
                digest,
                None if deleted or path.endswith("/") else data,
                created.isoformat(),
                now.isoformat(),
            ),
        )
        return NamespaceFileRecord(
            namespace, path, revision, 0 if deleted else len(data), digest, created, now, deleted
        )

    def _ns_apply(self, namespace: str, change: FileChange) -> list[NamespaceFileRecord]:
        path = change.path
        if change.delete:
            targets = self._ns_under(namespace, path) if path.endswith("/") else []
            current = self._ns_current(namespace, path)
            if current is not None and not current.is_deleted and current not in targets:
                targets.append(current)
            return [
                self._ns_insert(namespace, t.path, None, current=t, deleted=True) for t in targets
            ]
        self._ns_check_shape(namespace, path)
        current = self._ns_current(namespace, path)
        content = change.content or b""
        if (
            current is not None
            and not current.is_deleted
            and current.sha256 == hashlib.sha256(content).hexdigest()
        ):
            return []
        return [self._ns_insert(namespace, path, content, current=current, deleted=False)]

    def _ns_check_shape(self, namespace: str, path: str) -> None:
        """A path may not be both a file and a folder."""
        for folder in parent_folders(path.rstrip("/") + ("/x" if path.endswith("/") else "")):
            found = self._ns_current(namespace, folder.rstrip("/"))
            if found is not None and not found.is_deleted:
                raise NamespaceFileConflict(f"{folder.rstrip('/')} is a file, not a folder")
        if not path.endswith("/") and self._ns_under(namespace, path + "/"):
            raise NamespaceFileConflict(f"{path} is a folder")

    async def namespace_files(
        self, namespace: str, prefix: str = "/", *, limit: int = 100_000
    ) -> list[NamespaceFileRecord]:
        def read() -> list[NamespaceFileRecord]:
            return self._ns_under(namespace, prefix)[:limit]

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
