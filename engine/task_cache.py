"""Kestra 1.x `taskCache`: a task's outputs kept for `ttl`, keyed by its rendered properties.

    - id: extract
      type: io.kestra.plugin.core.http.Download
      uri: https://example.com/data.csv
      taskCache: {enabled: true, ttl: PT1H}

An attempt first renders the task's properties (as the task itself would see them); the
same flow, task id and rendered properties within `ttl` reuse the outputs of the earlier
successful run instead of running the task again. Entries are small JSON files under the
server's cache folder, one per key, written atomically; a file URI in the outputs stays
valid as long as internal storage keeps it. Only tasks that set `taskCache` pay anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from engine.plugin import Task

__all__ = ["cache_key", "run_cached"]

# Fields that say how a task runs, not what it computes: they do not change the key.
_NOT_KEYED = frozenset(
    {"taskCache", "description", "retry", "timeout", "disabled", "allowFailure",
     "allowWarning", "logLevel", "logToFile", "runIf", "assets"}
)  # fmt: skip


def cache_key(namespace: str, flow_id: str, task: Task, rendered: Any) -> str:
    """The entry's name: the flow, the task id and its rendered properties, hashed."""
    body = orjson.dumps(
        [namespace, flow_id, task.id, rendered],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    return hashlib.sha256(body).hexdigest()


def rendered_properties(task: Task, render: Callable[[Any], Any]) -> Any:
    """The task's own properties (children excluded) as the task would see them."""
    exclude = set(_NOT_KEYED) | set(task.children)
    raw = task.model_dump(mode="json", by_alias=True, exclude=exclude, exclude_none=True)
    return render(raw)


async def run_cached(
    folder: Path,
    key: str,
    ttl: timedelta | None,
    now: datetime,
    run: Callable[[], Awaitable[Mapping[str, Any] | None]],
    on_hit: Callable[[datetime], None],
    kept: Callable[[Any], Any] = lambda outputs: outputs,
) -> Mapping[str, Any] | None:
    """The cached outputs under `key` if fresh (calling `on_hit` with their date), else
    `run()`'s, stored for next time as `kept` makes them (secrets masked: the
    cache is on disk, and holds only what the execution's events would show)."""
    path = folder / f"{key}.json"
    entry = await asyncio.to_thread(_read, path)
    if entry is not None:
        stored_at = datetime.fromisoformat(entry["at"])
        if ttl is None or now - stored_at <= ttl:
            on_hit(stored_at)
            outputs: Mapping[str, Any] | None = entry["outputs"]
            return outputs
    outputs = await run()
    record = orjson.dumps(
        {"at": now.isoformat(), "outputs": kept(outputs)},
        option=orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    await asyncio.to_thread(_write, folder, path, record)
    return outputs


def _read(path: Path) -> dict[str, Any] | None:
    try:
        entry = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None  # no entry, or a damaged one: run the task
    return entry if isinstance(entry, dict) and "at" in entry and "outputs" in entry else None


def _write(folder: Path, path: Path, record: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(f".{os.getpid()}.part")
    part.write_bytes(record)
    part.replace(path)  # atomic: a reader sees the old entry or the new, never half
