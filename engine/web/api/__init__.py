"""The REST API, one module per resource; each adds its routes to an `ApiRoutes`.

A handler is a module-level function `async def create_execution(services, request)`,
so a traceback names it; `Services.bind` gives aiohttp the one-argument form.

flows       flows: CRUD from YAML, search, validate, revisions, graph
flow_transfer  flows: import (YAML, multi-document, zip; all or nothing) and export as zip
executions  executions: create (multipart, wait), read, search, kill/resume/restart/…
execution_filters  what a search (or a bulk action by query) matches: 0.x and 1.x filters
execution_commands  delete, change-status, unqueue, force-run, eval (debug expression)
bulk        executions by ids or by query: kill, restart, replay, labels, delete, …
metrics     task-run metrics: by execution, names, tasks, aggregates
files       an execution's files: download and preview, confined to its folder
logs        logs: query, download, follow
triggers    triggers: list, enable/disable, backfill with progress
stats       the dashboard's counts
namespace_files  namespace files: upload, download, list, move, delete, zip export
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from aiohttp import web

from engine.flows import FlowRepository
from engine.intake import Intake
from engine.storage import LocalStorage
from engine.store.base import Store
from engine.watcher import ExecutionWatcher
from triggers.service import TriggerService

__all__ = ["Services"]


@dataclass(frozen=True)
class Services:
    """What the API handlers read from and send commands to."""

    store: Store
    flows: FlowRepository
    intake: Intake
    watcher: ExecutionWatcher | None = None
    storage: LocalStorage | None = None
    triggers: TriggerService | None = None

    def __repr__(self) -> str:
        return f"<Services store={self.store!r}>"

    def bind(
        self, handler: Callable[[Services, web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """`handler` with these services as its first argument: what a route takes."""
        return partial(handler, self)
