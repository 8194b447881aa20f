"""The SQLite store's KV rows (engine/kv/__init__.py): one table, written only by the KV projector.

A mixin of `SqliteStore` (sqlite.py), which provides the connection and its thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from engine.kv import KvChanged, KvEntry, KvType
from engine.store.base import like_pattern, prefix_pattern

__all__ = ["KV_MIGRATION", "SqliteKv"]

T = TypeVar("T")

KV_MIGRATION = """
CREATE TABLE kv (
    namespace TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL,
    value TEXT, value_uri TEXT, description TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, expires_at TEXT,
    revision INTEGER NOT NULL, event_id TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
"""

_COLUMNS = (
    "namespace, key, type, value, value_uri, description, created_at, updated_at, "
    "expires_at, revision, event_id"
)

# A change already applied (same event id) is not applied again: a redelivered batch
# changes nothing. `only_if_absent` keeps a live entry.
_SET = f"""
INSERT INTO kv ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
ON CONFLICT (namespace, key) DO UPDATE SET
    type = excluded.type, value = excluded.value, value_uri = excluded.value_uri,
    description = excluded.description, updated_at = excluded.updated_at,
    expires_at = excluded.expires_at, revision = kv.revision + 1, event_id = excluded.event_id
WHERE kv.event_id <> excluded.event_id AND (
    ? = 0 OR (kv.expires_at IS NOT NULL AND kv.expires_at <= excluded.updated_at)
)
"""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _entry(row: Sequence[Any]) -> KvEntry:
    return KvEntry(
        namespace=row[0],
        key=row[1],
        type=KvType(row[2]),
        value=orjson.loads(row[3]) if row[3] is not None else None,
        value_uri=row[4],
        description=row[5],
        created_at=datetime.fromisoformat(row[6]),
        updated_at=datetime.fromisoformat(row[7]),
        expires_at=datetime.fromisoformat(row[8]) if row[8] else None,
        revision=row[9],
        event_id=row[10],
    )


class SqliteKv:
    if TYPE_CHECKING:

        @property
        def db(self) -> sqlite3.Connection: ...

        async def _call(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def apply_kv(self, changes: Sequence[KvChanged]) -> list[str]:
        return await self._call(self._apply_kv, changes)

    def _apply_kv(self, changes: Sequence[KvChanged]) -> list[str]:
        db = self.db
        replaced: list[str] = []
        db.execute("BEGIN")
        try:
            for change in changes:
                old = db.execute(
                    "SELECT value_uri, event_id FROM kv WHERE namespace = ? AND key = ?",
                    (change.namespace, change.key),
                ).fetchone()
                if change.kind == "KvDeleted":
                    db.execute(
                        "DELETE FROM kv WHERE namespace = ? AND key = ?",
                        (change.namespace, change.key),
                    )
                    changed = old is not None
                else:
                    assert change.type is not None
                    value = (
                        orjson.dumps(change.value).decode() if change.value_uri is None else None
                    )
                    at = change.at.astimezone(UTC).isoformat()
                    cursor = db.execute(
                        _SET,
                        (
                            change.namespace,
                            change.key,
                            change.type.value,
                            value,
                            change.value_uri,
                            change.description,
                            at,
                            at,
                            _iso(change.expires_at.astimezone(UTC) if change.expires_at else None),
                            change.event_id,
                            int(change.only_if_absent),
                        ),
                    )
                    changed = cursor.rowcount > 0
                if changed and old is not None and old[0] and old[1] != change.event_id:
                    replaced.append(old[0])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return replaced

    async def get_kv(self, namespace: str, key: str) -> KvEntry | None:
        def read() -> KvEntry | None:
            row = self.db.execute(
                f"SELECT {_COLUMNS} FROM kv WHERE namespace = ? AND key = ?", (namespace, key)
            ).fetchone()
            return _entry(row) if row else None

        return await self._call(read)

    async def list_kv(
        self,
        *,
        namespace: str | None = None,
        include_children: bool = False,
        key_prefix: str | None = None,
        q: str | None = None,
        live_at: datetime | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> tuple[list[KvEntry], int]:
        clauses: list[str] = ["1 = 1"]
        args: list[Any] = []
        if namespace is not None and include_children:
            clauses.append("(namespace = ? OR namespace LIKE ? ESCAPE '\\')")
            args += [namespace, prefix_pattern(namespace)]
        elif namespace is not None:
            clauses.append("namespace = ?")
            args.append(namespace)
        if key_prefix:
            clauses.append("substr(key, 1, ?) = ?")  # case-sensitive, unlike LIKE
            args += [len(key_prefix), key_prefix]
        if q:
            clauses.append("(key LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\')")
            args += [like_pattern(q)] * 2
        if live_at is not None:
            clauses.append("(expires_at IS NULL OR expires_at > ?)")
            args.append(_iso(live_at.astimezone(UTC)))
        where = " AND ".join(clauses)

        def read() -> tuple[list[KvEntry], int]:
            total = self.db.execute(f"SELECT count(*) FROM kv WHERE {where}", args).fetchone()[0]
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM kv WHERE {where} ORDER BY namespace, key LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
            return [_entry(r) for r in rows], total

        return await self._call(read)
