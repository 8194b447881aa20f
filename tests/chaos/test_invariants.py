"""Each check of tests/support/invariants.py, fed an event log that breaks it (and one
that keeps it, so a check that always complains fails too)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.invariants import check_events, check_secrets, check_stored_once

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def execution(
    eid: str, seq: int, state: str, at: float, flow: str = "f", **extra: Any
) -> dict[str, Any]:
    return {
        "kind": "ExecutionChanged", "event_id": f"{eid}-{seq}", "execution_id": eid,
        "namespace": "ns", "flow_id": flow, "seq": seq, "state": state,
        "at": (T0 + timedelta(seconds=at)).isoformat(), "created_at": T0.isoformat(), **extra,
    }  # fmt: skip


def task_run(
    eid: str, seq: int, state: str, at: float, attempt: int = 1, run: str = "r1"
) -> dict[str, Any]:
    return {
        "kind": "TaskRunChanged", "event_id": f"{eid}-{seq}", "execution_id": eid,
        "namespace": "ns", "flow_id": "f", "seq": seq, "task_run_id": run, "task_id": "t",
        "state": state, "attempt": attempt, "at": (T0 + timedelta(seconds=at)).isoformat(),
        "started_at": (T0 + timedelta(seconds=at)).isoformat() if state == "RUNNING" else None,
    }  # fmt: skip


def logs(eid: str, event_id: str, n: int) -> dict[str, Any]:
    line = {"at": T0.isoformat(), "level": "INFO", "message": "x"}
    return {"kind": "LogsEmitted", "event_id": event_id, "execution_id": eid, "lines": [line] * n}


def slot(eid: str, date: datetime, seq: int = 1) -> dict[str, Any]:
    trigger = {
        "type": "io.kestra.plugin.core.trigger.Schedule", "id": "every",
        "variables": {"date": date.isoformat()},
    }  # fmt: skip
    return execution(eid, seq, "SUCCESS", 1, trigger=trigger)


def test_an_execution_left_running_is_reported() -> None:
    events = [execution("e1", 1, "RUNNING", 0), execution("e2", 1, "QUEUED", 0)]
    assert check_events(events) == ["execution e1 ended RUNNING"]
    assert check_events(events, allow_running=True) == []


def test_an_execution_that_ended_too_late_is_reported() -> None:
    events = [execution("e1", 1, "CREATED", 0), execution("e1", 2, "SUCCESS", 100)]
    assert check_events(events, settle_within=timedelta(seconds=200)) == []
    (problem,) = check_events(events, settle_within=timedelta(seconds=30))
    assert "took 100.0s" in problem


def test_a_finished_task_run_that_runs_again_is_reported() -> None:
    events = [
        execution("e1", 4, "SUCCESS", 3),
        task_run("e1", 1, "RUNNING", 0), task_run("e1", 2, "SUCCESS", 1),
        task_run("e1", 3, "RUNNING", 2),
    ]  # fmt: skip
    (problem,) = check_events(events)
    assert "ran again at 2026-01-01T00:00:02+00:00 after it ended SUCCESS" in problem


def test_overlapping_attempts_are_reported() -> None:
    keeps = [
        execution("e1", 9, "SUCCESS", 9),
        task_run("e1", 1, "RUNNING", 0, 1), task_run("e1", 2, "RETRYING", 2, 1),
        task_run("e1", 3, "RUNNING", 3, 2), task_run("e1", 4, "SUCCESS", 4, 2),
    ]  # fmt: skip
    assert check_events(keeps) == []
    breaks = [
        execution("e1", 9, "SUCCESS", 9),
        task_run("e1", 1, "RUNNING", 0, 1), task_run("e1", 3, "RUNNING", 1, 2),
        task_run("e1", 4, "RETRYING", 2, 1), task_run("e1", 5, "SUCCESS", 4, 2),
    ]  # fmt: skip
    (problem,) = check_events(breaks)
    assert "attempt 2 started 1.000s before attempt 1 ended" in problem


def test_a_concurrency_limit_exceeded_is_reported() -> None:
    # e1 runs 0..5, e2 5..8 (starts when e1 ends: allowed), e3 6..9 (overlaps e2)
    events = [
        execution("e1", 1, "RUNNING", 0), execution("e1", 2, "SUCCESS", 5),
        execution("e2", 1, "QUEUED", 0), execution("e2", 2, "RUNNING", 5),
        execution("e2", 3, "SUCCESS", 8),
        execution("e3", 1, "RUNNING", 6), execution("e3", 2, "SUCCESS", 9),
    ]  # fmt: skip
    assert check_events(events, concurrency_limits={"ns/f": 2}) == []
    (problem,) = check_events(events, concurrency_limits={"ns/f": 1})
    assert "ns/f: 2 executions RUNNING" in problem and "e2, e3" in problem
    assert check_events(events, concurrency_limits={"ns/other": 1}) == []


def test_a_slot_fired_twice_or_skipped_is_reported() -> None:
    second = timedelta(seconds=1)
    once = [slot("a", T0), slot("b", T0 + second), slot("b", T0 + second, seq=2)]
    assert check_events(once, contiguous_schedules={"ns/f": second}) == []
    twice = [slot("a", T0), slot("b", T0)]
    (problem,) = check_events(twice)
    assert "fired 2 executions (a, b)" in problem
    skipped = [slot("a", T0), slot("b", T0 + 3 * second)]
    (problem,) = check_events(skipped, contiguous_schedules={"ns/f": second})
    assert "1 gap(s)" in problem


def test_an_event_applied_twice_is_reported() -> None:
    events = [
        execution("e1", 1, "SUCCESS", 0), task_run("e1", 1, "SUCCESS", 0),
        logs("e1", "L1", 2), logs("e1", "L1", 2),  # redelivered: still 2 lines
    ]  # fmt: skip
    run = {"task_run_id": "r1"}
    good = {"e1": {"logs": [{}, {}], "task_runs": [run]}}
    assert check_stored_once(events, good) == []
    doubled_logs = {"e1": {"logs": [{}] * 4, "task_runs": [run]}}
    assert check_stored_once(events, doubled_logs) == [
        "execution e1: 4 log lines stored, 2 in the events"
    ]
    doubled_runs = {"e1": {"logs": [{}, {}], "task_runs": [run, run]}}
    (problem,) = check_stored_once(events, doubled_runs)
    assert "(1 twice)" in problem


def test_a_secret_anywhere_is_reported() -> None:
    texts = {"log": "token=******", "api": '{"error": "bad \\"p@ss\\nword\\""}'}
    assert check_secrets(["hunter22"], texts) == []
    (problem,) = check_secrets(['"p@ss\nword"'], texts)
    assert problem.startswith("a secret value appears in api")


def test_two_writers_of_one_execution_are_reported() -> None:
    one = [execution("e1", 1, "RUNNING", 0), execution("e1", 2, "SUCCESS", 1)]
    assert check_events(one + [dict(one[1])]) == []  # redelivered: the same event
    second = {**execution("e1", 2, "RUNNING", 3), "event_id": "other"}
    (problem,) = check_events([*one, second], allow_running=True)
    assert problem == (
        "execution e1: two different events with seq 2 (two writers), "
        "the later at 2026-01-01T00:00:03+00:00"
    )
