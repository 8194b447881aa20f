"""`podium flow run`'s follower (engine/cli.py `_Feed`): a quiet run validates only the
task runs its summary shows, and what it prints, and the errors it raises, are those of
a feed that validates every change on arrival (the view fed each event's model)."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from engine.cli import _Feed
from engine.console import ProgressView
from engine.events import (
    EventDocument,
    ExecutionChanged,
    LogLine,
    LogsEmitted,
    TaskRunChanged,
)
from engine.states import State

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HEAD = {"execution_id": "e", "namespace": "tests", "flow_id": "feed"}


def execution(seq: int, state: State, **extra: Any) -> EventDocument:
    return EventDocument.of(
        ExecutionChanged(
            **HEAD,
            seq=seq,
            at=NOW + timedelta(milliseconds=seq),
            revision=1,
            state=state,
            created_at=NOW,
            started_at=NOW,
            ended_at=NOW + timedelta(seconds=1) if state.is_terminal else None,
            **extra,
        )
    )


def change(number: int, seq: int, state: State, **extra: Any) -> EventDocument:
    head = {**HEAD, **extra.pop("head", {})}
    return EventDocument.of(
        TaskRunChanged(
            **head,
            task_run_id=f"r{number}",
            task_id=f"t{number % 7}",
            seq=seq,
            at=NOW + timedelta(milliseconds=seq),
            created_at=NOW,
            started_at=NOW,
            ended_at=NOW + timedelta(milliseconds=seq) if state.is_terminal else None,
            state=state,
            **extra,
        )
    )


def logs(seq: int, message: str) -> EventDocument:
    line = LogLine(at=NOW + timedelta(milliseconds=seq), level="INFO", message=message)
    return EventDocument.of(LogsEmitted(**HEAD, event_id=f"l{seq}", seq=0, at=NOW, lines=(line,)))


def edited(event: EventDocument, **fields: Any) -> EventDocument:
    """The same event with some fields as the walk would never write them."""
    return EventDocument.parse(orjson.dumps({**event.doc, **fields}))


def a_run(rng: random.Random, runs: int) -> list[EventDocument]:
    """An execution's events as the projector may hand them: each task run's changes
    (some with outputs, some of a ForEach value), now and then one read late, the
    events of another execution between them, and the final state."""
    events = [execution(1, State.RUNNING)]
    seq = 1
    for number in range(runs):
        value = {"value": f"v{number}"} if rng.random() < 0.3 else {}
        outputs = {"value": f"out {number}", "n": number} if rng.random() < 0.4 else {}
        seq += 1
        running = change(number, seq, State.RUNNING, **value)
        seq += 1
        ended = change(number, seq, State.SUCCESS, outputs=outputs, **value)
        events += [ended, running] if rng.random() < 0.2 else [running, ended]
        if rng.random() < 0.2:
            other = {"execution_id": "other"}
            events.append(change(number, seq, State.SUCCESS, outputs={"x": 1}, head=other))
        if rng.random() < 0.1:
            events.append(logs(seq, f"line {number}"))
    events.append(execution(seq + 1, State.SUCCESS, outputs={"flow": "done"}))
    return events


def in_batches(rng: random.Random, events: list[EventDocument]) -> list[list[EventDocument]]:
    batches, at = [], 0
    while at < len(events):
        size = rng.randint(1, 9)
        batches.append(events[at : at + size])
        at += size
    return batches


def every_change_validated(events: list[EventDocument], *, is_quiet: bool) -> str:
    """What the view printed when the feed validated every change it hands it."""
    kinds: dict[str, type[Any]] = {
        "ExecutionChanged": ExecutionChanged,
        "TaskRunChanged": TaskRunChanged,
    }
    if not is_quiet:
        kinds["LogsEmitted"] = LogsEmitted
    out = io.StringIO()
    view = ProgressView("e", out, live=False, color=False, is_quiet=is_quiet)
    for event in events:
        model = kinds.get(event.doc["kind"])
        if model is not None and event.doc["execution_id"] == "e":
            view.show(model.model_validate_json(event.raw))
    view.close()
    view.summary()
    return out.getvalue()


async def fed(batches: list[list[EventDocument]], *, is_quiet: bool, early: int = 1) -> str:
    """What the view prints through `_Feed`, the first `early` batches stored before
    the view is attached (the request is published before its execution id is known)."""
    out = io.StringIO()
    feed = _Feed(is_quiet=is_quiet)
    for batch in batches[:early]:
        await feed(batch)
    view = ProgressView("e", out, live=False, color=False, is_quiet=is_quiet)
    feed.attach(view)
    for batch in batches[early:]:
        await feed(batch)
    assert feed.ended.is_set()
    view.close()
    view.summary()
    return out.getvalue()


@pytest.mark.parametrize("is_quiet", [True, False], ids=["quiet", "plain"])
async def test_the_feed_prints_what_validating_every_change_printed(is_quiet: bool) -> None:
    for round_ in range(20):
        rng = random.Random(round_)
        events = a_run(rng, rng.randint(1, 40))
        expected = every_change_validated(events, is_quiet=is_quiet)
        got = await fed(in_batches(rng, events), is_quiet=is_quiet, early=rng.randint(0, 2))
        assert got == expected
        assert "flow = done" in got


async def test_a_quiet_summary_lists_outputs_in_the_order_the_task_runs_appeared() -> None:
    events = [
        execution(1, State.RUNNING),
        change(3, 2, State.RUNNING),
        change(1, 3, State.RUNNING),
        change(1, 4, State.SUCCESS, outputs={"value": "one"}),
        change(2, 5, State.SUCCESS, outputs={"value": "two"}),
        change(3, 7, State.SUCCESS, outputs={"value": "three"}),
        change(3, 6, State.FAILED, outputs={"value": "older"}),  # read late: not shown
        execution(8, State.SUCCESS),
    ]
    out = await fed([events], is_quiet=True, early=0)
    assert out.splitlines()[1:] == [
        "outputs:",
        "  t3.value = three",
        "  t1.value = one",
        "  t2.value = two",
    ]


async def test_a_refused_change_with_outputs_raises_the_models_error_once_the_run_ends() -> None:
    bad = edited(change(2, 4, State.SUCCESS, outputs={"value": "two"}), state="BOGUS")
    with pytest.raises(ValidationError) as expected:
        TaskRunChanged.model_validate_json(bad.raw)
    feed = _Feed(is_quiet=True)
    out = io.StringIO()
    view = ProgressView("e", out, live=False, color=False, is_quiet=True)
    feed.attach(view)
    await feed([execution(1, State.RUNNING), change(1, 2, State.SUCCESS, outputs={"a": 1}), bad])
    with pytest.raises(ValidationError) as refused:
        await feed([change(3, 5, State.SUCCESS, outputs={"c": 3}), execution(6, State.SUCCESS)])
    assert str(refused.value) == str(expected.value)
    assert feed.ended.is_set()  # `flow run` ends, as the final state was stored
    view.summary()
    assert out.getvalue().splitlines()[1:] == ["outputs:", "  t1.a = 1", "  t3.c = 3"]


async def test_a_change_the_walk_would_not_write_is_validated_on_arrival() -> None:
    feed = _Feed(is_quiet=True)
    out = io.StringIO()
    view = ProgressView("e", out, live=False, color=False, is_quiet=True)
    feed.attach(view)
    not_a_seq = edited(change(1, 2, State.RUNNING), seq="second")
    with pytest.raises(ValidationError) as expected:
        TaskRunChanged.model_validate_json(not_a_seq.raw)
    with pytest.raises(ValidationError) as refused:
        await feed([execution(1, State.RUNNING), not_a_seq])
    assert str(refused.value) == str(expected.value)
    # a seq the model reads as an integer ("3") still orders the changes
    newer = edited(change(1, 3, State.SUCCESS, outputs={"value": "new"}), seq="3")
    await feed([newer, change(1, 2, State.SUCCESS, outputs={"value": "old"})])
    await feed([execution(4, State.SUCCESS)])
    view.summary()
    assert out.getvalue().splitlines()[1:] == ["outputs:", "  t1.value = new"]
