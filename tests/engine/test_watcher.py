"""`ExecutionWatcher.wait` finds an execution whose end went by before anyone waited and
was not yet in the store when the wait began (the race of `?wait=true` after publishing)."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.events import ExecutionChanged
from tests.conftest import Harness


class SlowProjection:
    """The store as seen before the projector got to the end: the first reads miss it."""

    def __init__(self, store: Any, misses: int) -> None:
        self.store = store
        self.misses = misses

    async def get_execution(self, execution_id: str) -> ExecutionChanged | None:
        if self.misses:
            self.misses -= 1
            return None
        found: ExecutionChanged | None = await self.store.get_execution(execution_id)
        return found


async def test_an_end_missed_by_the_stream_is_found_in_the_store(
    real_time_harness: Harness,
) -> None:
    podium = real_time_harness.podium
    watcher = podium.watcher  # the running one, reading through a lagging projection
    done = await real_time_harness.run(
        "id: quick\nnamespace: w\ntasks:\n"
        "  - {id: a, type: io.kestra.plugin.core.log.Log, message: hi}\n"
    )
    await asyncio.sleep(0.3)  # the end event has gone past the watcher
    watcher.store = SlowProjection(podium.store, misses=1)  # type: ignore[assignment]
    started = asyncio.get_running_loop().time()
    found = await watcher.wait(done.execution.execution_id, timeout=10)
    assert found is not None and found.state.value == "SUCCESS"
    assert asyncio.get_running_loop().time() - started < 5  # not the whole timeout
    assert await watcher.wait("no-such-execution", timeout=0.2) is None
