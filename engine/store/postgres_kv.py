"""The PostgreSQL store's KV rows (engine/kv/__init__.py): one table, written only by the KV
projector. A mixin of `PostgresStore` (postgres.py), which provides the pool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import orjson

from engine.kv import KvChanged, KvEntry, KvType
from engine.store.base import like_pattern, prefix_pattern

__all__ = ["KV_MIGRATION", "PostgresKv"]

T = TypeVar("T")

# `value` is JSON text, not jsonb: jsonb would reorder the keys of a JSON value.
KV_MIGRATION = """
CREATE TABLE kv (
    namespace text NOT NULL, key text NOT NULL, type text NOT NULL,
    value text, value_uri text, description text,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, expires_at timestamptz,
    revision integer NOT NULL, event_id text NOT NULL,
    PRIMARY KEY (namespace, key)
);
"""

_COLUMNS = (
    "namespace, key, type, value, value_uri, description, created_at, updated_at, "
    "expires_at, revision, event_id"
)

# See sqlite_kv.py: a change already applied is not applied again; `only_if_absent`
# keeps a live entry.
_SET = """
INSERT INTO kv AS k (namespace, key, type, value, value_uri, description, created_at,
                     updated_at, expires_at, revision, event_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, 1, $9)
ON CONFLICT (namespace, key) DO UPDATE SET
    type = excluded.type, value = excluded.value, value_uri = excluded.value_uri,
    description = excluded.description, updated_at = excluded.updated_at,
    expires_at = excluded.expires_at, revision = k.revision + 1, event_id = excluded.event_id
WHERE k.event_id <> excluded.event_id AND (
    NOT $10::boolean OR (k.expires_at IS NOT NULL AND k.expires_at <= excluded.updated_at)
)
RETURNING 1
"""


def _entry(row: asyncpg.Record) -> KvEntry:
    return KvEntry(
        namespace=row[0],
        key=row[1],
        type=KvType(row[2]),
        value=orjson.loads(row[3]) if row[3] is not None else None,
        value_uri=row[4],
        description=row[5],
        created_at=row[6],
        updated_at=row[7],
        expires_at=row[8],
        revision=row[9],
        event_id=row[10],
    )


class PostgresKv:
    if TYPE_CHECKING:

        async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T: ...

    async def apply_kv(self, changes: Sequence[KvChanged]) -> list[str]:
        async def write(db: asyncpg.Connection) -> list[str]:
            replaced: list[str] = []
            async with db.transaction():
                for change in changes:
                    old = await db.fetchrow(
                        "SELECT value_uri, event_id FROM kv WHERE namespace = $1 AND key = $2 "
                        "FOR UPDATE",
                        change.namespace,
                        change.key,
                    )
                    if change.kind == "KvDeleted":
                        await db.execute(
                            "DELETE FROM kv WHERE namespace = $1 AND key = $2",
                            change.namespace,
                            change.key,
                        )
                        changed = old is not None
                    else:
                        assert change.type is not None
                        value = (
                            orjson.dumps(change.value).decode()
                            if change.value_uri is None
                            else None
                        )
                        changed = (
                            await db.fetchval(
                                _SET,
                                change.namespace,
                                change.key,
                                change.type.value,
                                value,
                                change.value_uri,
                                change.description,
                                change.at,
                                change.expires_at,
                                change.event_id,
                                change.only_if_absent,
                            )
                            is not None
                        )
                    if changed and old is not None and old[0] and old[1] != change.event_id:
                        replaced.append(old[0])
            return replaced

        return await self._run(write)

    async def get_kv(self, namespace: str, key: str) -> KvEntry | None:
        async def read(db: asyncpg.Connection) -> KvEntry | None:
            row = await db.fetchrow(
                f"SELECT {_COLUMNS} FROM kv WHERE namespace = $1 AND key = $2", namespace, key
            )
            return _entry(row) if row else None

        return await self._run(read)

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
        clauses: list[str] = ["true"]
        args: list[Any] = []
        if namespace is not None and include_children:
            args += [namespace, prefix_pattern(namespace)]
            clauses.append(f"(namespace = ${len(args) - 1} OR namespace LIKE ${len(args)})")
        elif namespace is not None:
            args.append(namespace)
            clauses.append(f"namespace = ${len(args)}")
        if key_prefix:
            args.append(key_prefix)
            clauses.append(f"starts_with(key, ${len(args)})")
        if q:
            args.append(like_pattern(q))
            clauses.append(f"(key ILIKE ${len(args)} OR description ILIKE ${len(args)})")
        if live_at is not None:
            args.append(live_at)
            clauses.append(f"(expires_at IS NULL OR expires_at > ${len(args)})")
        where = " AND ".join(clauses)
        n = len(args)

        async def read(db: asyncpg.Connection) -> tuple[list[KvEntry], int]:
            total = await db.fetchval(f"SELECT count(*) FROM kv WHERE {where}", *args)
            rows = await db.fetch(
                f"SELECT {_COLUMNS} FROM kv WHERE {where} ORDER BY namespace, key "
                f"LIMIT ${n + 1} OFFSET ${n + 2}",
                *args,
                limit,
                offset,
            )
            return [_entry(r) for r in rows], int(total)

        return await self._run(read)
