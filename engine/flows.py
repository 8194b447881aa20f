"""Flows as the engine reads them: validated once per revision, cached by revision.

`FlowRepository` is the one place that turns stored flow sources into `Flow` objects.
A flow is saved only after it loads cleanly, so a stored revision always parses.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from engine.errors import FlowDefinitionError
from engine.flow import Flow, Registries, load_flow
from engine.store.base import FlowRecord, Store

__all__ = ["FlowRepository"]


class FlowRepository:
    def __init__(self, store: Store, registries: Registries, *, cache_size: int = 1024) -> None:
        self.store = store
        self.registries = registries
        self._cache: OrderedDict[tuple[str, str, int], Flow] = OrderedDict()
        self._cache_size = cache_size

    def __repr__(self) -> str:
        return f"<FlowRepository cached={len(self._cache)}>"

    def parse(self, source: str, *, name: str = "<flow>") -> Flow:
        """Validate a flow source (pure: no I/O). Raises FlowDefinitionError."""
        return load_flow(source, self.registries, source=name)

    async def save(self, source: str, *, name: str = "<flow>") -> Flow:
        """Validate and store a flow; a new revision only if its source changed."""
        flow = self.parse(source, name=name)
        record = await self.store.save_flow(flow.namespace, flow.id, source)
        return self._remember(record, flow)

    async def save_file(self, path: Path) -> Flow:
        return await self.save(path.read_text(encoding="utf-8"), name=str(path))

    async def get(self, namespace: str, flow_id: str, revision: int | None = None) -> Flow | None:
        if revision is not None:
            cached = self._cache.get((namespace, flow_id, revision))
            if cached is not None:
                return cached
        record = await self.store.get_flow(namespace, flow_id, revision)
        if record is None:
            return None
        cached = self._cache.get((namespace, flow_id, record.revision))
        if cached is not None:
            return cached
        try:
            flow = self.parse(record.source, name=f"{namespace}/{flow_id}@{record.revision}")
        except FlowDefinitionError:
            return None  # saved by an older Podium that accepted more; it cannot run now
        return self._remember(record, flow)

    async def delete(self, namespace: str, flow_id: str) -> bool:
        return await self.store.delete_flow(namespace, flow_id)

    async def list(self) -> list[FlowRecord]:
        return await self.store.list_flows()

    def _remember(self, record: FlowRecord, flow: Flow) -> Flow:
        flow = flow.model_copy(update={"revision": record.revision})
        self._cache[(record.namespace, record.id, record.revision)] = flow
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return flow
