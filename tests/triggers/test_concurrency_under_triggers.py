"""A flow's concurrency limit holds whoever starts it: webhooks, a backfill and manual
runs at once.

The oracle works only from what the store recorded: the RUNNING intervals of every
execution (started_at → ended_at) never overlap more than the limit, and executions start
in the order they were requested (QUEUE is FIFO).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from engine.events import ExecutionChanged
from tests.conftest import running_podium
from triggers.backfill import backfill

FLOW = """
id: limited
namespace: tests
concurrency: {limit: 2, behavior: QUEUE}
tasks:
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.01S}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: k}
  - {id: hourly, type: io.kestra.plugin.core.trigger.Schedule, cron: "0 * * * *", timezone: UTC, disabled: true}
"""


def max_overlap(executions: list[ExecutionChanged]) -> int:
    edges = []
    for e in executions:
        assert e.started_at is not None and e.ended_at is not None
        edges += [(e.started_at, 1), (e.ended_at, -1)]
    running = peak = 0
    for _, step in sorted(
        edges, key=lambda edge: (edge[0], edge[1])
    ):  # ends before starts at a tie
        running += step
        peak = max(peak, running)
    return peak


async def test_limit_two_under_webhooks_a_backfill_and_manual_runs(tmp_path: Path) -> None:
    async with running_podium(tmp_path / "data", serve_http=True) as podium:
        await podium.flows.save(FLOW)
        url = f"http://127.0.0.1:{podium.port}/api/v1/executions/webhook/tests/limited/k"
        async with aiohttp.ClientSession() as http:

            async def hook() -> None:
                async with http.post(url, json={}) as response:
                    assert response.status == 200

            async def manual() -> None:
                await podium.intake.execute("tests", "limited")

            async def past_slots() -> None:
                end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
                result = await backfill(
                    podium.flows,
                    podium.triggers.ctx,
                    "tests",
                    "limited",
                    "hourly",
                    end - timedelta(hours=30),
                    end,
                )
                assert result is not None

            await asyncio.gather(
                *(hook() for _ in range(200)), *(manual() for _ in range(20)), past_slots()
            )
        total = 250  # 200 webhooks, 20 manual runs, 30 hourly slots
        for _ in range(600):
            await podium.projector.caught_up()
            executions = await podium.store.list_executions(flow_id="limited", limit=1000)
            if len(executions) == total and all(e.state.is_terminal for e in executions):
                break
            await asyncio.sleep(0.05)
    assert len(executions) == total
    assert sum(1 for e in executions if e.labels.get("backfill") == "true") == 30
    assert max_overlap(executions) <= 2
    by_request = sorted(executions, key=lambda e: e.created_at)
    by_start = sorted(executions, key=lambda e: e.started_at)  # type: ignore[arg-type, return-value]
    assert [e.execution_id for e in by_start] == [e.execution_id for e in by_request]
