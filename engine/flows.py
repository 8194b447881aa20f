"""Flows as the engine reads them: validated once per revision, cached by revision.

`FlowRepository` is the one place that turns stored flow sources into `Flow` objects.
A flow is saved only after it loads cleanly, so a stored revision always parses.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.errors import FlowDefinitionError, PodiumError
from engine.flow import Flow, PluginDefault, Registries, load_flow
from engine.plugin import FlowSource
from engine.store.base import FlowRecord, Store

__all__ = ["FlowRepository", "TaskFlows"]


class FlowRepository:
    def __init__(
        self,
        store: Store,
        registries: Registries,
        *,
        plugin_defaults: Sequence[PluginDefault] = (),
        cache_size: int = 1024,
        latest_ttl: float = 1.0,
    ) -> None:
        self.plugin_defaults = tuple(plugin_defaults)
        self.store = store
        self.registries = registries
        self._cache: OrderedDict[tuple[str, str, int], Flow] = OrderedDict()
        self._cache_size = cache_size
        # Which revision is the latest, remembered briefly: saves a store round trip per
        # request; a save or delete through this repository forgets it at once.
        self._latest: dict[tuple[str, str], tuple[float, Flow | None]] = {}
        self._latest_ttl = latest_ttl
        # The store look-up of a latest revision in flight, shared by every caller that
        # asks meanwhile: a hundred requests arriving together as the entry expires cost
        # one query, not a hundred.
        self._loading: dict[tuple[str, str], asyncio.Task[Flow | None]] = {}
        self._listeners: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<FlowRepository cached={len(self._cache)}>"

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after a flow is saved or deleted through this repository."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def parse(self, source: str, *, name: str = "<flow>", check_templates: bool = True) -> Flow:
        """Validate a flow source (pure: no I/O). Raises FlowDefinitionError."""
        return load_flow(
            source,
            self.registries,
            source=name,
            global_defaults=self.plugin_defaults,
            check_templates=check_templates,
        )

    async def save(self, source: str, *, name: str = "<flow>") -> Flow:
        """Validate and store a flow; a new revision only if its source changed."""
        flow = self.parse(source, name=name)
        record = await self.store.save_flow(flow.namespace, flow.id, source)
        self._forget((flow.namespace, flow.id))
        flow = self._remember(record, flow)
        self._changed()
        return flow

    async def save_file(self, path: Path) -> Flow:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        return await self.save(text, name=str(path))

    async def get(self, namespace: str, flow_id: str, revision: int | None = None) -> Flow | None:
        if revision is not None:
            cached = self._cache.get((namespace, flow_id, revision))
            if cached is not None:
                return cached
        else:
            key = (namespace, flow_id)
            latest = self._latest.get(key)
            if latest is not None and time.monotonic() - latest[0] < self._latest_ttl:
                return latest[1]
            loading = self._loading.get(key)
            if loading is None:
                loading = self._loading[key] = asyncio.ensure_future(self._load_latest(key))
            # a caller cancelled does not cancel the look-up the others wait for
            return await asyncio.shield(loading)
        return await self._load(namespace, flow_id, revision)

    async def _load_latest(self, key: tuple[str, str]) -> Flow | None:
        this = asyncio.current_task()
        try:
            flow = await self._load(*key, None)
            if self._loading.get(key) is this:  # no save or delete meanwhile
                self._latest[key] = (time.monotonic(), flow)
            return flow
        finally:
            if self._loading.get(key) is this:
                del self._loading[key]

    async def _load(self, namespace: str, flow_id: str, revision: int | None) -> Flow | None:
        record = await self.store.get_flow(namespace, flow_id, revision)
        if record is None:
            return None
        cached = self._cache.get((namespace, flow_id, record.revision))
        if cached is not None:
            return cached
        try:
            # Checked when saved; a stricter template check must not stop a stored revision.
            flow = self.parse(
                record.source,
                name=f"{namespace}/{flow_id}@{record.revision}",
                check_templates=False,
            )
        except FlowDefinitionError:
            return None  # saved by an older Podium that accepted more; it cannot run now
        return self._remember(record, flow)

    async def delete(self, namespace: str, flow_id: str) -> bool:
        deleted = await self.store.delete_flow(namespace, flow_id)
        self._forget((namespace, flow_id))
        self._changed()
        return deleted

    def _forget(self, key: tuple[str, str]) -> None:
        """The latest revision changed: the next `get` asks the store (a look-up in
        flight may have read the one before)."""
        self._latest.pop(key, None)
        self._loading.pop(key, None)

    async def list(self) -> list[FlowRecord]:
        return await self.store.list_flows()

    def _remember(self, record: FlowRecord, flow: Flow) -> Flow:
        flow = flow.model_copy(update={"revision": record.revision})
        self._cache[(record.namespace, record.id, record.revision)] = flow
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return flow


class TaskFlows:
    """`engine.plugin.FlowsAccess` over a FlowRepository: what git.SyncFlows and
    git.PushFlows may do with stored flows. Saving validates exactly as the API does."""

    def __init__(self, flows: FlowRepository | None) -> None:
        self._flows = flows

    def __repr__(self) -> str:
        return f"<TaskFlows {self._flows!r}>"

    def _repository(self) -> FlowRepository:
        if self._flows is None:
            raise PodiumError("flows cannot be read or written in this runtime")
        return self._flows

    async def list(self, namespace: str, *, include_children: bool) -> list[FlowSource]:
        records = await self._repository().list()
        return sorted(
            (
                FlowSource(r.namespace, r.id, r.source, r.revision)
                for r in records
                if not r.is_deleted
                and (
                    r.namespace == namespace
                    or (include_children and r.namespace.startswith(namespace + "."))
                )
            ),
            key=lambda f: (f.namespace, f.id),
        )

    def validate(self, source: str, *, name: str) -> tuple[str, str]:
        flow = self._repository().parse(source, name=name)
        return flow.namespace, flow.id

    async def save(self, source: str, *, name: str) -> tuple[str, str, int]:
        flow = await self._repository().save(source, name=name)
        return flow.namespace, flow.id, flow.revision or 0

    async def delete(self, namespace: str, flow_id: str) -> bool:
        return await self._repository().delete(namespace, flow_id)
