"""In-process readers follow the projector: every applied batch, without the fenced
events, after the store has it and before the projector commits the offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from engine.bus.memory import MemoryBus
from engine.events import EventDocument, ExecutionChanged, TaskRunChanged, encode
from engine.projector import Projector
from engine.states import State
from engine.store.sqlite import SqliteStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CLAIM = 1 << 32


def header(seq: int, state: State) -> ExecutionChanged:
    return ExecutionChanged(
        execution_id="e", namespace="n", flow_id="f", seq=seq, at=T0, revision=1,
        state=state, created_at=T0,
    )  # fmt: skip


def run(seq: int, state: State) -> TaskRunChanged:
    return TaskRunChanged(
        execution_id="e", namespace="n", flow_id="f", seq=seq, at=T0, task_run_id="r",
        task_id="t", state=state, created_at=T0,
    )  # fmt: skip


async def test_followers_get_what_was_applied_before_the_commit(tmp_path: Path) -> None:
    async with MemoryBus() as bus, SqliteStore(tmp_path / "s.db") as store:
        projector = Projector(bus, store)
        seen: list[tuple[int, bool, bool]] = []

        async def follower(events: Sequence[EventDocument]) -> None:
            stored = await store.get_execution("e")
            committed = await projector._subscription.committed()  # type: ignore[union-attr]
            for event in events:
                seen.append((event.doc["seq"], stored is not None, sum(committed.values()) > 0))

        async def broken(events: Sequence[EventDocument]) -> None:
            raise RuntimeError("a follower's bug")

        projector.follow(broken)  # logged; neither the projector nor the others stop
        projector.follow(follower)
        running = asyncio.create_task(projector.run())
        # the old owner wakes up after the new owner's claim: its events are fenced
        for event in [
            header(1, State.RUNNING),
            header(CLAIM, State.RUNNING),
            run(2, State.SUCCESS),
        ]:
            await bus.publish(projector.topics.events, event.key, encode(event))
        await projector.caught_up()
        projector.stop()
        await running
        assert seen == [(1, True, False), (CLAIM, True, False)]
        assert await store.task_runs("e") == []
