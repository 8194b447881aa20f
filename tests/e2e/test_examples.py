"""Every flow in examples/ run as a newcomer would run it, through a whole embedded Podium:
the same files the README and docs point at, unchanged but for the one setting a test
must choose (the PostgreSQL database, the watched folder)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from engine.catalog import default_registries
from engine.flow import load_flow
from engine.settings import TriggerSection
from tests.conftest import Harness, running_podium
from tests.support.postgres import admin, fresh_database_async
from tests.triggers.test_schedule_flow import executions, runner_asleep

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TESTED = {
    "hello_world.yaml",
    "python_script.yaml",
    "etl_duckdb.yaml",
    "postgres_merge.yaml",
    "scheduled.yaml",
    "webhook.yaml",
    "file_arrival.yaml",
}


def example(name: str) -> str:
    return (EXAMPLES / name).read_text()


@pytest.mark.smoke
def test_every_example_loads_and_is_run_here() -> None:
    names = {p.name for p in EXAMPLES.glob("*.yaml")}
    assert names == TESTED, "an example without its test, or a test without its example"
    for name in sorted(names):
        flow = load_flow(example(name), default_registries(), source=name)
        assert flow.namespace == "examples" and flow.id == name.removesuffix(".yaml")


@pytest.mark.smoke
async def test_hello_world(harness: Harness) -> None:
    outcome = await harness.run(example("hello_world.yaml"), {"name": "Ada"})
    assert outcome.state == "SUCCESS"
    [greeting] = [line for line in outcome.logs if line.task_id == "greet"]
    assert (greeting.message, greeting.level) == ("Hello, Ada!", "WARN")  # pluginDefaults
    [report] = [line for line in outcome.logs if line.task_id == "report"]
    assert (report.message, report.level) == ("ADA was greeted", "INFO")
    assert outcome.execution.outputs == {"shouted": "ADA"}


async def test_python_script(real_time_harness: Harness) -> None:
    outcome = await real_time_harness.wait(
        await real_time_harness.start(example("python_script.yaml"), {"count": 4}), timeout=60
    )
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    assert outcome.execution.outputs == {"total": 30}
    uri = outcome.run("squares").outputs["outputFiles"]["squares.txt"]
    assert real_time_harness.podium.storage.read(uri) == b"1\n4\n9\n16"
    assert outcome.messages("report") == ["sum of 4 squares: 30"]


async def test_etl_into_duckdb(real_time_harness: Harness) -> None:
    outcome = await real_time_harness.wait(
        await real_time_harness.start(example("etl_duckdb.yaml"), {"min_amount": 45}), timeout=60
    )
    assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
    # orders n = 1..30 of amount 3n, customer n % 3: only n >= 15 count
    expected = {}
    for n in range(15, 31):
        name = ["ada", "grace", "alan"][n % 3]
        count, total = expected.get(name, (0, 0))
        expected[name] = (count + 1, total + 3 * n)
    rows = outcome.execution.outputs["totals"]
    assert {r["customer"]: (r["orders"], r["total"]) for r in rows} == expected
    assert rows[0]["total"] == max(t for _, t in expected.values())
    assert outcome.messages("load") == [f"top customer: {rows[0]['customer']}"]


@pytest.mark.e2e
async def test_postgres_load_with_merge_twice_keeps_one_row_each(
    real_time_harness: Harness,
) -> None:
    async with fresh_database_async("podium_example") as database:
        url = f"jdbc:postgresql://127.0.0.1:5432/{database}"
        for batch in ("2026-01", "2026-01", "2026-02"):
            outcome = await real_time_harness.run(
                example("postgres_merge.yaml"), {"jdbc_url": url, "batch": batch}
            )
            assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
        assert outcome.messages("report") == ["example_sales holds 10 rows"]
        rows = await admin(
            "SELECT batch, count(*) AS n FROM example_sales GROUP BY batch", database
        )
        assert {r["batch"]: r["n"] for r in rows} == {"2026-01": 5, "2026-02": 5}


async def test_scheduled_fires_at_six(harness: Harness) -> None:
    assert harness.clock is not None  # starts at 2026-01-01T00:00Z
    await harness.deploy(example("scheduled.yaml"))
    await runner_asleep(harness, "examples/scheduled/daily")
    await harness.clock.advance(6 * 3600)
    [execution] = await executions(harness, "scheduled", ended=1)
    outcome = await harness.outcome(execution.execution_id)
    assert outcome.state == "SUCCESS"
    assert outcome.messages("report") == ["daily report for 2026-01-01"]


async def test_webhook(tmp_path: Path) -> None:
    async with running_podium(tmp_path / "data", serve_http=True) as podium:
        await podium.flows.save(example("webhook.yaml"))
        url = (
            f"http://127.0.0.1:{podium.port}"
            "/api/v1/executions/webhook/examples/webhook/change-me-please?wait=true"
        )
        async with aiohttp.ClientSession() as http, http.post(url, json={"customer": "Ada"}) as got:
            assert got.status == 200, await got.text()
            answer = await got.json()
        assert answer["state"]["current"] == "SUCCESS"
        await podium.projector.caught_up()
        execution = await podium.store.get_execution(answer["id"])
        assert execution is not None and execution.outputs == {"message": "welcome, Ada"}


@pytest.mark.e2e
async def test_file_arrival(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    source = example("file_arrival.yaml").replace("/tmp/podium-inbox", str(inbox))
    async with running_podium(
        tmp_path / "data", triggers=TriggerSection(allowed_paths=[inbox.resolve()])
    ) as podium:
        harness = Harness(podium, None)
        await harness.deploy(source)
        for _ in range(400):  # the watch starts once the trigger service has the flow
            if (await podium.store.get_trigger_state("examples/file_arrival/inbox")) is not None:
                break
            await asyncio.sleep(0.05)
        (inbox / "ignored.txt").write_text("not a csv\n")
        (inbox / "orders.csv").write_text("id,amount\n1,10\n2,20\n")
        for _ in range(1200):
            await podium.projector.caught_up()
            found = await podium.store.list_executions(flow_id="file_arrival")
            if found and all(e.state.is_terminal for e in found):
                break
            await asyncio.sleep(0.05)
        [execution] = found
        outcome = await harness.outcome(execution.execution_id)
        assert outcome.state == "SUCCESS", [(r.task_id, r.error) for r in outcome.task_runs]
        assert outcome.messages("arrived") == ["orders.csv arrived (20 bytes)"]
        assert "3" in [m.strip() for m in outcome.messages("count_lines")]
