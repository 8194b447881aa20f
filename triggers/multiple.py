"""Flow triggers that wait for several upstream executions within a time window.

Two forms, one meaning: the deprecated `io.kestra.plugin.core.condition.MultipleCondition`
(a `conditions` map by key, `window`/`windowAdvance` or `timeWindow`) and the Flow
trigger's `preconditions` (Kestra 1.x): each of its `flows` and each of its `where`
filters is one condition, keyed `condition_<n>` / `condition_<n>_<id>` as Kestra keys
them. The trigger fires when every condition was met by some upstream execution in the
same window (see engine/trigger_windows.py for who keeps the windows and how).

Time windows (`timeWindow.type`), as Kestra computes them in UTC:
- DURATION_WINDOW (default, `window` PT1D): aligned to the day, hour or minute the window
  counts (a PT10M window opens at 10:30 for an execution ending at 10:37), shifted by
  `windowAdvance`, and lasting `window`;
- SLIDING_WINDOW: opens at the first execution that counts and lasts `window`;
- DAILY_TIME_WINDOW: from `startTime` to `endTime` each day;
- DAILY_TIME_DEADLINE: from midnight to `deadline` each day.
An execution ending outside a daily window counts for nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from engine.durations import parse_duration
from engine.errors import PodiumError
from engine.plugin import Condition, Model, plugin
from engine.states import State

__all__ = [
    "CONDITIONS",
    "MultipleCondition",
    "Preconditions",
    "Test",
    "TimeWindow",
    "Waiting",
]

_CONDITION_ID = r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"
REGEX_SECONDS = 0.05  # a `where` REGEX filter's time per execution tested
# A sub-condition: does the ending execution (its facts) meet it?
Test = Callable[[Mapping[str, Any], Any], bool]


class TimeWindow(Model):
    type: Literal[
        "DURATION_WINDOW", "SLIDING_WINDOW", "DAILY_TIME_WINDOW", "DAILY_TIME_DEADLINE"
    ] = "DURATION_WINDOW"
    window: timedelta | None = None
    windowAdvance: timedelta | None = None
    deadline: time | None = None
    startTime: time | None = None
    endTime: time | None = None

    @model_validator(mode="before")
    @classmethod
    def _durations(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("window", "windowAdvance"):
                if isinstance(data.get(key), str):
                    data[key] = parse_duration(data[key])
        return data

    @model_validator(mode="after")
    def _coherent(self) -> TimeWindow:
        # Kestra's TimeWindowValidation: each type takes its own properties only
        given = {k for k in ("window", "windowAdvance", "deadline", "startTime", "endTime")
                 if getattr(self, k) is not None}  # fmt: skip
        allowed, required = {
            "DURATION_WINDOW": ({"window", "windowAdvance"}, set()),
            "SLIDING_WINDOW": ({"window"}, set()),
            "DAILY_TIME_WINDOW": ({"startTime", "endTime"}, {"startTime", "endTime"}),
            "DAILY_TIME_DEADLINE": ({"deadline"}, {"deadline"}),
        }[self.type]
        if given - allowed:
            raise ValueError(f"{self.type} does not take {', '.join(sorted(given - allowed))}")
        if required - given:
            raise ValueError(f"{self.type} needs {', '.join(sorted(required - given))}")
        if self.window is not None and self.window <= timedelta(0):
            raise ValueError("a window must be a positive duration")
        if self.startTime and self.endTime and self.startTime >= self.endTime:
            raise ValueError("startTime must be before endTime")
        return self

    def bounds(self, at: datetime) -> tuple[datetime, datetime]:
        """The window that opens for an execution counted at `at` (UTC)."""
        now = at.astimezone(UTC).replace(microsecond=0)
        day = now.replace(hour=0, minute=0, second=0)
        if self.type == "DAILY_TIME_WINDOW":
            assert self.startTime is not None and self.endTime is not None
            return day + _since_midnight(self.startTime), day + _since_midnight(self.endTime)
        if self.type == "DAILY_TIME_DEADLINE":
            assert self.deadline is not None
            return day, day + _since_midnight(self.deadline)
        window = self.window or timedelta(days=1)
        if self.type == "SLIDING_WINDOW":
            return now, now + window
        if window >= timedelta(days=1):
            now = now.replace(hour=0)
        if window >= timedelta(hours=1):
            now = now.replace(minute=0)
        if window >= timedelta(minutes=1):
            minutes = int(window.total_seconds() // 60)
            now = now.replace(second=0, minute=0) + timedelta(
                minutes=minutes * (now.minute // minutes)
            )
        start = now + (self.windowAdvance or timedelta(0))
        return start, start + window - timedelta(milliseconds=1)


def _since_midnight(moment: time) -> timedelta:
    return timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second)


class Waiting(Model):
    """What both forms share: an id (the key of their window), a time window, a reset."""

    id: str = Field(pattern=_CONDITION_ID, max_length=256)
    timeWindow: TimeWindow = Field(default_factory=TimeWindow)
    resetOnSuccess: bool = True

    def tests(self) -> dict[str, Test]:
        raise NotImplementedError


@plugin(
    "io.kestra.plugin.core.condition.MultipleCondition",
    "io.kestra.core.models.conditions.types.MultipleCondition",
)
class MultipleCondition(Condition, Waiting):
    """Deprecated in Kestra 1.x, still accepted: every condition of `conditions` must be
    met by some execution within the window. `window`/`windowAdvance` are the older
    spelling of `timeWindow.window`/`timeWindow.windowAdvance`."""

    conditions: dict[str, Condition] = Field(min_length=1)
    window: timedelta | None = None
    windowAdvance: timedelta | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_window(cls, data: Any) -> Any:
        if not isinstance(data, dict) or ("window" not in data and "windowAdvance" not in data):
            return data
        data = dict(data)
        window = dict(data.get("timeWindow") or {})
        for key in ("window", "windowAdvance"):
            if data.get(key) is not None:
                value = data[key]
                window[key] = parse_duration(value) if isinstance(value, str) else value
                data[key] = window[key]
        data["timeWindow"] = window
        return data

    def tests(self) -> dict[str, Test]:
        return {key: condition.test for key, condition in self.conditions.items()}

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        raise PodiumError("a MultipleCondition is decided by its window, not by one execution")


class UpstreamFlow(Model):
    namespace: str
    flowId: str | None = None
    states: tuple[State, ...] | None = None
    labels: dict[str, Any] | None = None

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        flow = facts["flow"]
        if flow["namespace"] != self.namespace:
            return False
        if self.flowId is not None and flow["id"] != self.flowId:
            return False
        if self.states is not None and State(facts["execution"]["state"]) not in self.states:
            return False
        labels = facts["labels"]
        return all(labels.get(k) == _text(v) for k, v in (self.labels or {}).items())


def _text(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


class Filter(Model):
    field: Literal["FLOW_ID", "NAMESPACE", "STATE", "EXPRESSION"]
    type: Literal[
        "EQUAL_TO", "NOT_EQUAL_TO", "IN", "NOT_IN", "IS_TRUE", "IS_FALSE", "IS_NULL",
        "IS_NOT_NULL", "STARTS_WITH", "ENDS_WITH", "REGEX", "CONTAINS",
    ]  # fmt: skip
    value: str | None = None
    values: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _has_operand(self) -> Filter:
        if self.type in ("IN", "NOT_IN") and self.values is None:
            raise ValueError(f"a {self.type} filter needs `values`")
        needs_value = self.type in ("EQUAL_TO", "NOT_EQUAL_TO", "STARTS_WITH", "ENDS_WITH",
                                    "REGEX", "CONTAINS") or self.field == "EXPRESSION"  # fmt: skip
        if needs_value and self.value is None:
            raise ValueError(f"a {self.type} filter on {self.field} needs `value`")
        if self.type == "REGEX" and self.value is not None:
            import regex  # a twentieth of a second to import: only for a REGEX filter

            try:
                regex.compile(self.value)
            except regex.error as exc:
                raise ValueError(f"invalid REGEX {self.value!r}: {exc}") from None
        return self

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        found: str | None = {
            "FLOW_ID": lambda: facts["flow"]["id"],
            "NAMESPACE": lambda: facts["flow"]["namespace"],
            "STATE": lambda: facts["execution"]["state"],
            "EXPRESSION": lambda: renderer.render(self.value or "", facts),
        }[self.field]()
        value = self.value or ""
        if self.type == "EQUAL_TO":
            return value == found
        if self.type == "NOT_EQUAL_TO":
            return value != found
        if self.type in ("IN", "NOT_IN"):
            return (found in (self.values or ())) == (self.type == "IN")
        if self.type in ("IS_TRUE", "IS_FALSE"):
            truthy = found is not None and found.strip().lower() not in ("", "false", "0", "null")
            return truthy == (self.type == "IS_TRUE")
        if self.type in ("IS_NULL", "IS_NOT_NULL"):
            return (found is None) == (self.type == "IS_NULL")
        if found is None:
            return False
        if self.type == "STARTS_WITH":
            return found.startswith(value)
        if self.type == "ENDS_WITH":
            return found.endswith(value)
        if self.type == "REGEX":  # Java's String.matches: the whole value
            import regex

            try:
                return regex.fullmatch(value, found, timeout=REGEX_SECONDS) is not None
            except TimeoutError:  # a pattern that backtracks without end matches nothing
                return False
        return value in found


class ExecutionFilter(Model):
    id: str = Field(min_length=1)
    operand: Literal["AND", "OR"] = "AND"
    filters: tuple[Filter, ...] = Field(min_length=1)

    def test(self, facts: Mapping[str, Any], renderer: Any) -> bool:
        results = (f.test(facts, renderer) for f in self.filters)
        return any(results) if self.operand == "OR" else all(results)


class Preconditions(Waiting):
    """A Flow trigger's `preconditions`: upstream `flows` and `where` filters, all to be
    met within `timeWindow`."""

    id: str = Field(default="preconditions", pattern=_CONDITION_ID, max_length=256)
    flows: tuple[UpstreamFlow, ...] = ()
    where: tuple[ExecutionFilter, ...] = ()

    def tests(self) -> dict[str, Test]:
        keyed: dict[str, Test] = {}
        for n, flow in enumerate(self.flows, start=1):
            keyed[f"condition_{n}"] = flow.test
        for n, filter_ in enumerate(self.where, start=len(self.flows) + 1):
            keyed[f"condition_{n}_{filter_.id}"] = filter_.test
        return keyed


CONDITIONS: tuple[type, ...] = (MultipleCondition,)
