"""Loading the KV entries a task's templates read, before the task runs.

Templates render synchronously; the store is async. So before each attempt (and before
its `runIf`) the walk asks `load_snapshot`: when the task's properties mention `kv(`,
they are rendered in recording mode (engine/templating/kv.py), the keys asked for are
read from the store, and again until no new key turns up (a key may depend on another
key's value). Each attempt loads afresh, so a task sees what earlier tasks set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import PodiumError
from engine.kv.service import KvExpired, KvService
from engine.plugin import Task
from engine.templating import Renderer
from engine.templating.kv import EXPIRED, MISSING, KvSnapshot, reading_kv

__all__ = ["load_snapshot", "mentions_kv", "task_templates"]

# Rounds of recording: each round may reveal keys named by the values of the last.
MAX_ROUNDS = 8
MAX_KEYS = 1000


def mentions_kv(task: Task) -> bool:
    return "kv(" in task.model_dump_json(by_alias=True)


def task_templates(task: Task) -> Any:
    return task.model_dump(by_alias=True, exclude_none=True)


async def load_snapshot(
    service: KvService,
    renderer: Renderer,
    templates: Any,
    context: Mapping[str, Any],
    namespace: str,
    *,
    what: str,
) -> KvSnapshot:
    """The entries the `kv()` calls in `templates` (strings in maps and lists) read;
    `what` names their owner in errors (a task, the flow's outputs)."""
    snapshot = KvSnapshot(namespace)
    for _ in range(MAX_ROUNDS):
        snapshot.is_recording = True
        try:
            with reading_kv(snapshot):
                _record(renderer, templates, context)
        finally:
            snapshot.is_recording = False
        wanted, snapshot.wanted = snapshot.wanted, set()
        if not wanted:
            break
        if len(snapshot.values) + len(wanted) > MAX_KEYS:
            raise PodiumError(f"{what} reads more than {MAX_KEYS} KV keys")
        for ns, key in sorted(wanted):
            snapshot.values[(ns, key)] = await _read(service, ns, key)
    return snapshot


def _record(renderer: Renderer, value: Any, context: Mapping[str, Any]) -> None:
    """Render every string, each on its own: one that fails (it needs what the task
    computes, or a key not loaded yet) does not hide the keys of the others."""
    if isinstance(value, str):
        if "kv(" in value:
            try:
                renderer.render(value, context)
            except PodiumError:
                pass
    elif isinstance(value, dict):
        for item in value.values():
            _record(renderer, item, context)
    elif isinstance(value, list | tuple):
        for item in value:
            _record(renderer, item, context)


async def _read(service: KvService, namespace: str, key: str) -> Any:
    try:
        entry = await service.entry(namespace, key)
    except KvExpired:
        return EXPIRED
    except ValueError:  # an invalid key or namespace reads as absent, as in Kestra
        return MISSING
    if entry is None:
        return MISSING
    return await service.value(entry)
