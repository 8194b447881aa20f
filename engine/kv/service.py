"""`KvService`: what the API, the CLI and running tasks call to read and change KV entries.

Reads go to the store (the clock decides what has expired). Changes never write the
store: each is published as one `KvChanged` on the `kv` topic, and the call returns once
the KV projector applied it (engine/kv/projector.py), so whoever changed a key reads its
change back — a task after a `kv.Set`, an API client after its PUT. Values too large to
travel inline are written to internal storage first (to a temporary name, then renamed),
and the change carries their URI.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import orjson

from engine.bus.base import Bus, Topics
from engine.clock import Clock
from engine.errors import TaskFailed, TransientError
from engine.kv import (
    INLINE_VALUE_BYTES,
    MAX_VALUE_BYTES,
    KvChanged,
    KvEntry,
    KvError,
    KvRows,
    KvType,
    ancestors,
    check_key,
    check_namespace,
    typed_value,
)
from engine.storage import LocalStorage

__all__ = ["KvConflict", "KvExpired", "KvService", "TaskKvStore"]

PAGE = 1000
# How long a change may wait for the KV projector before the caller is told it is down
# (the change is published: it is applied when a projector runs again).
APPLY_TIMEOUT = 120.0


class KvConflict(KvError):
    """`overwrite: false` and the key exists."""


class KvExpired(KvError):
    """The entry exists but its TTL passed (Kestra's ResourceExpiredException)."""


class KvService:
    def __init__(
        self,
        bus: Bus,
        store: KvRows,
        storage: LocalStorage,
        *,
        clock: Clock,
        topics: Topics = Topics(),
        wait_applied: Callable[[], Awaitable[None]],
        apply_timeout: float = APPLY_TIMEOUT,
    ) -> None:
        self.bus = bus
        self.store = store
        self.storage = storage
        self.clock = clock
        self.topics = topics
        self._wait_applied = wait_applied
        self.apply_timeout = apply_timeout

    def __repr__(self) -> str:
        return f"<KvService topic={self.topics.kv}>"

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC)

    # -- reads --------------------------------------------------------------------

    async def entry(self, namespace: str, key: str) -> KvEntry | None:
        """The live entry, None when absent; raises KvExpired when its TTL passed."""
        entry = await self.store.get_kv(check_namespace(namespace), check_key(key))
        if entry is not None and entry.is_expired(self.now()):
            raise KvExpired(f"the key '{key}' in namespace '{namespace}' has expired")
        return entry

    async def find(self, namespace: str, key: str) -> KvEntry | None:
        """The entry in `namespace`, else in the closest parent that has it (Kestra's
        inheritance: the first entry found wins, an expired one raises KvExpired)."""
        for candidate in ancestors(check_namespace(namespace)):
            entry = await self.entry(candidate, key)
            if entry is not None:
                return entry
        return None

    async def value(self, entry: KvEntry) -> Any:
        if entry.value_uri is None:
            return entry.value
        data = await asyncio.to_thread(self.storage.read, entry.value_uri)
        return orjson.loads(data)

    async def search(
        self,
        namespace: str | None = None,
        *,
        include_children: bool = False,
        key_prefix: str | None = None,
        q: str | None = None,
        include_expired: bool = False,
        limit: int = PAGE,
        offset: int = 0,
    ) -> tuple[list[KvEntry], int]:
        if namespace is not None:
            check_namespace(namespace)
        return await self.store.list_kv(
            namespace=namespace,
            include_children=include_children,
            key_prefix=key_prefix,
            q=q,
            live_at=None if include_expired else self.now(),
            limit=limit,
            offset=offset,
        )

    async def every(self, namespace: str, **filters: Any) -> list[KvEntry]:
        """Every entry matching, page by page."""
        found: list[KvEntry] = []
        while True:
            page, _ = await self.search(namespace, limit=PAGE, offset=len(found), **filters)
            found += page
            if len(page) < PAGE:
                return found

    # -- changes ------------------------------------------------------------------

    async def set(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        kv_type: KvType | str | None = None,
        ttl: timedelta | None = None,
        description: str | None = None,
        overwrite: bool = True,
    ) -> None:
        """Put a value; once this returns, reads see it (or a later change). With
        `overwrite=False` a live entry is kept and KvConflict raised, also when another
        writer won the race."""
        check_namespace(namespace)
        check_key(key)
        try:
            kind, stored = typed_value(value, kv_type)
        except ValueError as exc:
            raise KvError(str(exc)) from None
        if ttl is not None and ttl <= timedelta(0):
            raise KvError(f"a TTL must be positive, got {ttl}")
        if not overwrite:
            current = await self.store.get_kv(namespace, key)
            if current is not None and not current.is_expired(self.now()):
                raise KvConflict(self._exists(namespace, key))
        data = orjson.dumps(stored)
        if len(data) > MAX_VALUE_BYTES:
            raise KvError(
                f"the value is {len(data)} bytes; a KV value is at most {MAX_VALUE_BYTES}"
            )
        now = self.now()
        change = KvChanged(
            kind="KvSet",
            namespace=namespace,
            key=key,
            at=now,
            type=kind,
            description=description,
            expires_at=now + ttl if ttl is not None else None,
            only_if_absent=not overwrite,
        )
        if len(data) > INLINE_VALUE_BYTES:
            uri = await asyncio.to_thread(self._write_value, change, data)
            change = change.model_copy(update={"value_uri": uri})
        else:
            change = change.model_copy(update={"value": stored})
        await self._publish(change)
        if not overwrite:
            entry = await self.store.get_kv(namespace, key)
            if entry is None or entry.event_id != change.event_id:  # another writer won
                if change.value_uri:
                    await asyncio.to_thread(self.storage.delete, change.value_uri)
                raise KvConflict(self._exists(namespace, key))

    async def delete(self, namespace: str, key: str) -> bool:
        """Remove a key; False when there was none (an expired one counts as there)."""
        existing = await self.store.get_kv(check_namespace(namespace), check_key(key))
        if existing is None:
            return False
        await self._publish(
            KvChanged(kind="KvDeleted", namespace=namespace, key=key, at=self.now())
        )
        return True

    async def purge(
        self,
        namespaces: Sequence[str] | None = None,
        *,
        namespace_pattern: str | None = None,
        include_children: bool = True,
        key_pattern: str | None = None,
        expired_only: bool = True,
    ) -> int:
        """Delete the keys matching (glob patterns as Kestra's PurgeKV); returns how many."""
        now = self.now()
        roots: list[str | None] = [check_namespace(n) for n in namespaces] if namespaces else [None]
        chosen: dict[tuple[str, str], KvEntry] = {}
        for root in roots:
            offset = 0
            while True:
                page, _ = await self.store.list_kv(
                    namespace=root,
                    include_children=include_children or root is None,
                    limit=PAGE,
                    offset=offset,
                )
                offset += len(page)
                for entry in page:
                    if namespace_pattern and not fnmatchcase(entry.namespace, namespace_pattern):
                        continue
                    if key_pattern and not fnmatchcase(entry.key, key_pattern):
                        continue
                    if expired_only and not entry.is_expired(now):
                        continue
                    chosen[(entry.namespace, entry.key)] = entry
                if len(page) < PAGE:
                    break
        changes = [KvChanged(kind="KvDeleted", namespace=ns, key=key, at=now) for ns, key in chosen]
        for start in range(0, len(changes), PAGE):
            await self._publish(*changes[start : start + PAGE])
        return len(changes)

    # -- internals ----------------------------------------------------------------

    @staticmethod
    def _exists(namespace: str, key: str) -> str:
        return f"the key '{key}' already exists in namespace '{namespace}' and overwrite is false"

    async def _publish(self, *changes: KvChanged) -> None:
        await self.bus.publish_many(
            self.topics.kv,
            [(c.partition_key, c.model_dump_json().encode()) for c in changes],
        )
        try:
            async with asyncio.timeout(self.apply_timeout):
                await self._wait_applied()
        except TimeoutError:
            raise TransientError(
                f"the KV change is published but was not applied within {self.apply_timeout:g}s; "
                "is a projector role running?"
            ) from None

    def _write_value(self, change: KvChanged, data: bytes) -> str:
        """The whole value under a name of its own, renamed into place once written and
        synced: a change never points to half a file."""
        relative = f"kv/{change.namespace}/{change.key}/{change.event_id}.json"
        uri = self.storage.uri_for(relative)
        path = self.storage.path_of(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
        return uri


class TaskKvStore:
    """`engine.plugin.TaskKv` for one task run: namespaces default to the flow's, and
    what the store refuses becomes the task's failure."""

    def __init__(self, service: KvService | None, namespace: str) -> None:
        self._service = service
        self._namespace = namespace

    def __repr__(self) -> str:
        return f"<TaskKvStore {self._namespace}>"

    @property
    def service(self) -> KvService:
        if self._service is None:
            raise TaskFailed("the KV store is not available in this runtime")
        return self._service

    async def get(self, key: str, *, namespace: str | None = None) -> tuple[bool, Any]:
        try:
            entry = await self.service.entry(namespace or self._namespace, key)
        except KvExpired:
            return False, None
        except KvError as exc:
            raise TaskFailed(str(exc)) from None
        if entry is None:
            return False, None
        return True, await self.service.value(entry)

    async def set(
        self,
        key: str,
        value: Any,
        *,
        namespace: str | None = None,
        kv_type: str | None = None,
        ttl: timedelta | None = None,
        description: str | None = None,
        overwrite: bool = True,
    ) -> None:
        try:
            await self.service.set(
                namespace or self._namespace,
                key,
                value,
                kv_type=kv_type,
                ttl=ttl,
                description=description,
                overwrite=overwrite,
            )
        except KvError as exc:
            raise TaskFailed(str(exc)) from None

    async def delete(self, key: str, *, namespace: str | None = None) -> bool:
        try:
            return await self.service.delete(namespace or self._namespace, key)
        except KvError as exc:
            raise TaskFailed(str(exc)) from None

    async def keys(self, *, namespace: str | None = None, prefix: str | None = None) -> list[str]:
        try:
            entries = await self.service.every(namespace or self._namespace, key_prefix=prefix)
        except KvError as exc:
            raise TaskFailed(str(exc)) from None
        return [e.key for e in entries]

    async def purge(
        self,
        *,
        namespaces: Sequence[str] | None,
        namespace_pattern: str | None,
        include_children: bool,
        key_pattern: str | None,
        expired_only: bool,
    ) -> int:
        try:
            return await self.service.purge(
                namespaces,
                namespace_pattern=namespace_pattern,
                include_children=include_children,
                key_pattern=key_pattern,
                expired_only=expired_only,
            )
        except KvError as exc:
            raise TaskFailed(str(exc)) from None
