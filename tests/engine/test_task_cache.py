"""engine/task_cache.py: outputs reused within ttl, run again after it or on a bad entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.task_cache import run_cached

START = datetime(2026, 1, 1, tzinfo=UTC)


async def test_outputs_are_reused_within_ttl_only(tmp_path: Path) -> None:
    runs: list[int] = []
    hits: list[datetime] = []

    async def body() -> dict[str, Any]:
        runs.append(1)
        return {"n": len(runs)}

    async def call(at: datetime) -> Any:
        return await run_cached(tmp_path, "k", timedelta(hours=1), at, body, hits.append)

    assert await call(START) == {"n": 1}
    assert await call(START + timedelta(minutes=59)) == {"n": 1}
    assert hits == [START]
    assert await call(START + timedelta(hours=2)) == {"n": 2}  # expired: run again
    (tmp_path / "k.json").write_text("{not json")
    assert await call(START + timedelta(hours=2)) == {"n": 3}  # damaged: run again
