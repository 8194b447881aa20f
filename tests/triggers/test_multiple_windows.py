"""The tricky parts of waiting Flow triggers, on their own: Kestra's time-window bounds
(MultipleConditionStorageInterface.getOrCreate) and the merge of an upstream execution
into a trigger's windows (engine/trigger_windows.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from engine.events import ConditionsMet, ConditionWindow, ExecutionRequested
from engine.trigger_windows import SEEN_KEPT, merge
from triggers.multiple import Filter, TimeWindow

AT = datetime(2026, 3, 4, 10, 37, 12, 345000, tzinfo=UTC)


def bounds(**window: Any) -> tuple[str, str]:
    start, end = TimeWindow.model_validate(window).bounds(AT)
    return start.strftime("%d %H:%M:%S.%f")[:-3], end.strftime("%d %H:%M:%S.%f")[:-3]


def test_duration_windows_align_as_kestra_computes_them() -> None:
    assert bounds() == ("04 00:00:00.000", "04 23:59:59.999")  # PT1D from midnight
    assert bounds(window="PT10M") == ("04 10:30:00.000", "04 10:39:59.999")
    assert bounds(window="PT1H") == ("04 10:00:00.000", "04 10:59:59.999")
    # Kestra aligns an hours window on the hour, not on multiples of it
    assert bounds(window="PT6H") == ("04 10:00:00.000", "04 15:59:59.999")
    assert bounds(window="PT6H", windowAdvance="PT3H") == ("04 13:00:00.000", "04 18:59:59.999")
    assert bounds(window="PT30S") == ("04 10:37:12.000", "04 10:37:41.999")
    assert bounds(type="SLIDING_WINDOW", window="PT1H") == ("04 10:37:12.000", "04 11:37:12.000")
    assert bounds(type="DAILY_TIME_WINDOW", startTime="06:00:00", endTime="09:00:00") == (
        "04 06:00:00.000",
        "04 09:00:00.000",
    )
    assert bounds(type="DAILY_TIME_DEADLINE", deadline="09:00:00") == (
        "04 00:00:00.000",
        "04 09:00:00.000",
    )


@pytest.mark.parametrize(
    "window",
    [
        {"type": "DAILY_TIME_DEADLINE"},
        {"type": "DAILY_TIME_DEADLINE", "deadline": "09:00:00", "window": "PT1H"},
        {"type": "DAILY_TIME_WINDOW", "startTime": "09:00:00"},
        {"type": "DAILY_TIME_WINDOW", "startTime": "09:00:00", "endTime": "08:00:00"},
        {"type": "SLIDING_WINDOW", "windowAdvance": "PT1H"},
        {"type": "DURATION_WINDOW", "deadline": "09:00:00"},
        {"window": "-PT1H"},
        {"type": "HOURLY"},
    ],
)
def test_incoherent_time_windows_are_refused(window: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TimeWindow.model_validate(window)


def test_filters_match_as_kestra_string_filters() -> None:
    facts = {
        "flow": {"id": "flow-a", "namespace": "company.sales"},
        "execution": {"state": "SUCCESS"},
    }

    def holds(**spec: Any) -> bool:
        return Filter.model_validate(spec).test(facts, renderer=None)

    assert holds(field="NAMESPACE", type="STARTS_WITH", value="company")
    assert holds(field="FLOW_ID", type="REGEX", value="flow-.")
    assert not holds(field="FLOW_ID", type="REGEX", value="flow")  # the whole value
    assert holds(field="STATE", type="IN", values=["SUCCESS", "WARNING"])
    assert not holds(field="STATE", type="NOT_IN", values=["SUCCESS"])
    assert holds(field="NAMESPACE", type="CONTAINS", value="sal")
    with pytest.raises(ValidationError):
        Filter.model_validate({"field": "STATE", "type": "IN"})  # IN needs values
    with pytest.raises(ValidationError):
        Filter.model_validate({"field": "FLOW_ID", "type": "REGEX", "value": "("})


def test_a_backtracking_regex_filter_is_stopped_and_matches_nothing() -> None:
    evil = Filter.model_validate({"field": "FLOW_ID", "type": "REGEX", "value": "(a|aa)+b"})
    facts = {"flow": {"id": "a" * 100, "namespace": "n"}, "execution": {"state": "SUCCESS"}}
    assert evil.test(facts, renderer=None) is False


def met(
    upstream: str, matched: tuple[str, ...], at: datetime = AT, reset: bool = True
) -> ConditionsMet:
    start = at.replace(hour=0, minute=0, second=0, microsecond=0)
    request = ExecutionRequested(execution_id="", namespace="n", flow_id="listen", requested_at=at)
    return ConditionsMet(
        namespace="n",
        flow_id="listen",
        trigger_id="t",
        upstream_execution_id=upstream,
        at=at,
        windows=(
            ConditionWindow(
                condition_id="c",
                keys=("a", "b"),
                matched=matched,
                start=start,
                end=start + timedelta(days=1),
                reset_on_success=reset,
            ),
        ),
        request=request,
    )


def test_a_full_window_fires_once_then_starts_again() -> None:
    state, fired = merge(None, met("x1", ("a",)))
    assert fired is None and state["windows"]["c"]["results"] == {"a": "x1"}
    again, fired = merge(state, met("x1", ("a",)))  # redelivered: nothing changes
    assert fired is None and again == state
    state, fired = merge(state, met("x2", ("a",)))  # met already: no firing
    assert fired is None
    state, fired = merge(state, met("x3", ("b",)))
    assert fired is not None and fired.execution_id
    assert "c" not in state["windows"]  # emptied
    # the same completing message after a crash: counted already, so nothing
    _, repeat = merge({"windows": {}, "seen": state["seen"]}, met("x3", ("b",)))
    assert repeat is None
    # the firing id is stable for the same window and completing execution
    _, same = merge(None, met("x9", ("a", "b")))
    _, same_again = merge(None, met("x9", ("a", "b")))
    assert same is not None and same_again is not None
    assert same.execution_id == same_again.execution_id


def test_windows_expire_and_reset_on_success_false_fires_again() -> None:
    state, _ = merge(None, met("x1", ("a",)))
    next_day = AT + timedelta(days=1)
    state, fired = merge(state, met("x2", ("b",), at=next_day))
    assert fired is None  # `a` was met in yesterday's window
    assert state["windows"]["c"]["results"] == {"b": "x2"}

    state, fired = merge(None, met("y1", ("a", "b"), reset=False))
    assert fired is not None
    state, fired = merge(state, met("y2", ("b",), reset=False))
    assert fired is not None  # still full: each meeting execution fires again
    state, fired = merge(state, met("y3", (), reset=False))
    assert fired is None  # meets nothing


def test_the_seen_list_is_bounded() -> None:
    state: dict[str, Any] | None = None
    for n in range(SEEN_KEPT + 50):
        state, _ = merge(state, met(f"x{n}", ()))
    assert state is not None and len(state["seen"]) == SEEN_KEPT
