"""Backfills: a Schedule's past slots over [start, end), each once unless asked to rerun."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.cli import open_data
from engine.clock import FakeClock
from engine.errors import InputError
from engine.intake import FlowNotFound
from tests.conftest import Harness, running_podium
from tests.triggers.test_schedule_runner import Rig, make_rig, utc
from triggers.backfill import BackfillResult, ProgressLine, backfill, backfill_command
from triggers.base import slot_id

NIGHTLY = """
id: nightly
namespace: tests
inputs:
  - {id: who, type: STRING, defaults: schedule}
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.date }} by {{ inputs.who }}"}
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 2 * * *"
    timezone: Europe/Paris
    labels: {team: data}
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: k}
"""
SCOPE = "tests/nightly/nightly"
PARIS = ZoneInfo("Europe/Paris")


def night(day: int, month: int = 12, year: int = 2025) -> str:
    return f"{year}-{month:02d}-{day:02d}T02:00:00+01:00"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path, utc(2026, 1, 1, 12)) as made:
        await made.deploy(NIGHTLY)
        yield made


async def run(rig: Rig, start: datetime, end: datetime | None, **kwargs: object) -> BackfillResult:
    return await backfill(
        rig.flows,
        rig.ctx,
        "tests",
        "nightly",
        "nightly",
        start,
        end,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_a_backfill_fires_every_slot_of_the_range_like_the_schedule(rig: Rig) -> None:
    seen: list[tuple[int, int]] = []
    result = await run(
        rig,
        datetime(2025, 12, 1, 2, tzinfo=PARIS),
        datetime(2025, 12, 4, 2, tzinfo=PARIS),  # end excluded
        inputs={"who": "backfill"},
        labels={"reason": "outage"},
        progress=lambda done, total: seen.append((done, total)),
    )
    assert [date for date, _ in result.fired] == [night(1), night(2), night(3)]
    assert result.total == 3 and not result.already_run and not result.failed
    assert seen == [(1, 3), (2, 3), (3, 3)]
    first = rig.intake.requests[0]
    assert first.execution_id == slot_id(SCOPE, "2025-12-01T01:00:00+00:00")  # the slot's own id
    assert first.labels == {"team": "data", "reason": "outage", "backfill": "true"}
    assert first.inputs == {"who": "backfill"}
    assert first.trigger is not None
    assert first.trigger["variables"] == {
        "date": night(1),
        "next": night(2),
        "previous": night(30, 11),
    }


async def test_slots_that_already_ran_are_not_run_again(rig: Rig) -> None:
    flow = await rig.flows.get("tests", "nightly")
    assert flow is not None
    start, end = utc(2025, 12, 1), utc(2025, 12, 5)
    await run(rig, start, utc(2025, 12, 3))
    again = await run(rig, start, end)
    assert again.already_run == (night(1), night(2))
    assert [date for date, _ in again.fired] == [night(3), night(4)]
    assert (await run(rig, start, end)).fired == ()
    assert len(rig.intake.requests) == 4


async def test_rerun_fires_already_run_slots_again_with_new_ids(rig: Rig) -> None:
    start, end = utc(2025, 12, 1), utc(2025, 12, 3)
    first = await run(rig, start, end)
    second = await run(rig, start, end, rerun=True)
    third = await run(rig, start, end, rerun=True)
    assert [d for d, _ in first.fired] == [d for d, _ in second.fired] == [night(1), night(2)]
    ids = [i for result in (first, second, third) for _, i in result.fired]
    assert len(set(ids)) == 6
    assert second.fired[0][1] == slot_id(SCOPE, "2025-12-01T01:00:00+00:00#rerun-1")
    assert third.fired[0][1] == slot_id(SCOPE, "2025-12-01T01:00:00+00:00#rerun-2")


async def test_the_range_is_clamped_to_now_and_read_in_the_trigger_zone(rig: Rig) -> None:
    # 2025-12-31T02:00 naive is Paris time; the end is past now (2026-01-01T12:00Z)
    result = await run(rig, datetime(2025, 12, 31, 2), utc(2026, 1, 5))
    assert [d for d, _ in result.fired] == [night(31), night(1, 1, 2026)]
    default_end = await run(rig, datetime(2025, 12, 30, 2), None)
    assert [d for d, _ in default_end.fired] == [night(30)]
    assert default_end.already_run == (night(31), night(1, 1, 2026))


async def test_what_cannot_be_backfilled_is_refused(rig: Rig) -> None:
    with pytest.raises(ValueError, match="start must be before end"):
        await run(rig, utc(2025, 12, 5), utc(2025, 12, 1))
    with pytest.raises(ValueError, match="start must be before end"):
        await run(rig, utc(2026, 2, 1), None)  # the future
    with pytest.raises(ValueError, match="not a Schedule"):
        await backfill(rig.flows, rig.ctx, "tests", "nightly", "hook", utc(2025, 12, 1), None)
    with pytest.raises(ValueError, match="no trigger"):
        await backfill(rig.flows, rig.ctx, "tests", "nightly", "nope", utc(2025, 12, 1), None)
    with pytest.raises(FlowNotFound):
        await backfill(rig.flows, rig.ctx, "tests", "nope", "nightly", utc(2025, 12, 1), None)


async def test_bad_inputs_stop_the_backfill_and_leave_the_slot_free(rig: Rig) -> None:
    with pytest.raises(InputError):
        await run(rig, utc(2025, 12, 1), utc(2025, 12, 3), inputs={"who": {"not": "text"}})
    result = await run(rig, utc(2025, 12, 1), utc(2025, 12, 3))
    assert [d for d, _ in result.fired] == [night(1), night(2)]


async def test_the_trigger_conditions_apply(rig: Rig) -> None:
    await rig.deploy(
        NIGHTLY.replace(
            "    labels: {team: data}",
            "    labels: {team: data}\n    conditions:\n"
            "      - {type: io.kestra.plugin.core.condition.Weekend}",
        )
    )
    result = await run(rig, utc(2025, 12, 1), utc(2025, 12, 8))  # Monday to Sunday
    assert [d for d, _ in result.fired] == [night(6), night(7)]
    assert result.refused == tuple(night(d) for d in range(1, 6))
    assert rig.intake.requests[0].trigger is not None
    assert rig.intake.requests[0].trigger["variables"]["next"] == night(7)


async def test_a_backfill_inside_the_server_runs_its_executions(harness: Harness) -> None:
    await harness.deploy(NIGHTLY)
    result = await backfill(
        harness.podium.flows,
        harness.podium.triggers.ctx,
        "tests",
        "nightly",
        "nightly",
        utc(2025, 12, 29),
        None,
        labels={"reason": "test"},
    )
    assert len(result.fired) == 3
    for date, execution_id in result.fired:
        outcome = await harness.wait(execution_id)
        assert outcome.state == "SUCCESS"
        assert outcome.messages("log") == [f"{date} by schedule"]
        assert outcome.execution.labels["backfill"] == "true"


async def test_the_command_backfills_a_stopped_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    async with running_podium(data, clock=FakeClock()) as podium:
        await podium.flows.save(NIGHTLY)
    args = argparse.Namespace(
        namespace="tests",
        flow="nightly",
        trigger="nightly",
        start="2024-03-01T00:00:00",
        end="2024-03-04T00:00:00+01:00",
        input=["who=cli"],
        label=["reason=outage"],
        rerun=False,
        data=data,
        config=None,
    )
    assert await backfill_command(args, open_data) == 0
    out, err = capsys.readouterr()
    fired = [line.split() for line in out.splitlines()]
    assert [date for date, _ in fired] == [
        "2024-03-01T02:00:00+01:00",
        "2024-03-02T02:00:00+01:00",
        "2024-03-03T02:00:00+01:00",
    ]
    assert "3 of 3 slots fired" in err
    assert await backfill_command(args, open_data) == 0
    assert "0 of 3 slots fired, 3 already run" in capsys.readouterr().err
    # the executions run when Podium starts on the folder
    async with running_podium(data, clock=FakeClock()) as podium:
        for _, execution_id in fired:
            for _ in range(2000):
                await podium.projector.caught_up()
                execution = await podium.store.get_execution(execution_id)
                if execution is not None and execution.state.is_terminal:
                    break
                await asyncio.sleep(0.005)
            assert execution is not None and execution.state.value == "SUCCESS"
            assert execution.labels["reason"] == "outage"
            assert execution.inputs == {"who": "cli"}


async def test_the_command_reports_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base: dict[str, Any] = {
        "namespace": "tests",
        "flow": "nightly",
        "trigger": "nightly",
        "end": None,
        "input": [],
        "label": [],
        "rerun": False,
        "data": tmp_path / "data",
        "config": None,
    }
    assert await backfill_command(argparse.Namespace(**base, start="yesterday"), open_data) == 2
    assert "--start must be an ISO-8601 date-time" in capsys.readouterr().err
    assert await backfill_command(argparse.Namespace(**base, start="2024-01-01"), open_data) == 2
    assert "flow tests/nightly not found" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_is_erased_before_what_follows_on_a_terminal() -> None:
    out = _Terminal()
    line = ProgressLine(out)
    for done in range(1, 4):
        line.show(done, 3)
    line.close()
    out.write("3 of 3 slots fired\n")
    # redrawn in place (no newline), then erased: the summary starts on a clean line
    assert out.getvalue() == (
        "\r\x1b[Kbackfill: 1/3 slots\r\x1b[Kbackfill: 2/3 slots\r\x1b[Kbackfill: 3/3 slots"
        "\r\x1b[K3 of 3 slots fired\n"
    )


def test_the_progress_is_whole_lines_elsewhere() -> None:
    out = io.StringIO()
    line = ProgressLine(out, every=2)
    for done in range(1, 4):
        line.show(done, 3)
    line.close()
    assert out.getvalue() == "backfill: 2/3 slots\nbackfill: 3/3 slots\n"
