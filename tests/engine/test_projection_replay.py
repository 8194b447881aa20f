"""The projector fed the events of real executions duplicated, shuffled and in random
batches ends with the same projection as in order, on SQLite and PostgreSQL: upserts
are sequence-guarded, logs and metrics are keyed by event id, terminal states stay."""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from engine.events import EventDocument
from engine.store.base import Store
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore
from tests.conftest import Harness
from tests.support.invariants import snapshot
from tests.support.postgres import SERVER, fresh_database_async

FLOWS = [
    """
id: mixed
namespace: replay
tasks:
  - {id: hello, type: io.kestra.plugin.core.log.Log, message: "hello {{ execution.id }}"}
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "c"]
    tasks:
      - {id: say, type: io.kestra.plugin.core.log.Log, message: "{{ taskrun.value }}"}
      - {id: give, type: io.kestra.plugin.core.debug.Return, format: "{{ taskrun.value }}!"}
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    allowFailure: true
    retry: {type: constant, interval: PT0.01S, maxAttempts: 3}
outputs:
  - {id: out, type: STRING, value: "{{ outputs.hello is defined }}"}
""",
    """
id: failing
namespace: replay
tasks:
  - {id: first, type: io.kestra.plugin.core.debug.Return, format: "one"}
  - {id: boom, type: io.kestra.plugin.core.execution.Fail, errorMessage: "no"}
errors:
  - {id: handler, type: io.kestra.plugin.core.log.Log, message: "handled {{ outputs.first.value }}"}
""",
]


async def recorded_events(harness: Harness) -> list[EventDocument]:
    """The events of a few real executions, as the bus carried them."""
    podium = harness.podium
    watch = await podium.bus.subscribe(podium.topics.events, "test-recorder", is_transient=True)
    for source in FLOWS:
        for _ in range(2):
            await harness.run(source)
    events = []
    while records := await watch.fetch(max_records=10_000, timeout=0.3):
        events += [EventDocument.parse(r.value) for r in records]
    await watch.close()
    return events


StoreFactory = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "postgres"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def make() -> Store:
            if request.param == "sqlite":
                path = tmp_path / f"{secrets.token_hex(4)}.db"
                return await stack.enter_async_context(SqliteStore(path))
            name = await stack.enter_async_context(fresh_database_async("podium_replay"))
            return await stack.enter_async_context(PostgresStore(f"{SERVER}/{name}"))

        yield make


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_duplicated_and_shuffled_events_project_the_same(
    harness: Harness, make_store: StoreFactory, seed: int
) -> None:
    events = await recorded_events(harness)
    assert len(events) > 50
    in_order, messy = await make_store(), await make_store()
    await in_order.apply(events)

    rng = random.Random(seed)
    fed = events + rng.sample(events, len(events) // 2)  # half of them twice
    rng.shuffle(fed)
    while fed:
        size = rng.randint(1, 40)
        batch, fed = fed[:size], fed[size:]
        await messy.apply(batch)
    await messy.apply(events[-10:])  # a redelivered tail, in order, at the very end

    expected = await snapshot(in_order)
    assert len(expected) == 4
    assert await snapshot(messy) == expected
    assert expected == await snapshot(harness.podium.store)  # and equal to the live one
