"""Kestra's flow `sla`: what an execution must meet, and what happens when it does not.

    sla:
      - id: maxDuration
        type: MAX_DURATION        # the execution runs longer than `duration`
        duration: PT8H
        behavior: CANCEL          # FAIL, CANCEL or NONE
        labels: {sla: miss}       # added to the execution when violated
      - id: output
        type: EXECUTION_ASSERTION # `assert` renders false
        assert: "{{ outputs.t.value == 'ok' }}"
        behavior: FAIL

A violation logs `SLA '<id>' violated: <reason>` in the execution; FAIL ends it FAILED,
CANCEL ends it CANCELLED (its running task runs are KILLED), NONE only adds the labels.
As in Kestra, of several violations found at once only the first changes the execution.

Who enforces: the executor that owns the execution. MAX_DURATION is a timer started with
the walk (`watch_durations`), its deadline derived from the execution's creation date in
the store, so an executor that takes an execution over after a restart arms it again (a
deadline passed meanwhile fires at once). EXECUTION_ASSERTION is checked by the walk when
the execution starts and when its tasks are done, before its final state is recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, TypeAdapter, field_validator

from engine.durations import format_duration
from engine.errors import PodiumError
from engine.lazy_schema import OnFirstUse, adapter_of
from engine.plugin import Duration, Model, TaskId
from engine.states import State

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.walk import ExecutionWalk

__all__ = [
    "SLA",
    "DeclaredSla",
    "ExecutionAssertionSla",
    "MaxDurationSla",
    "Violation",
    "sla_adapter",
    "watch_durations",
]


def _sla_labels(value: Any) -> dict[str, str]:
    """A map, or a list of {key, value}; system labels are the engine's (as in Kestra)."""
    if value is None:
        return {}
    pairs = (
        [(i.get("key"), i.get("value")) for i in value if isinstance(i, dict)]
        if isinstance(value, list)
        else list(value.items())
        if isinstance(value, dict)
        else None
    )
    if pairs is None or (isinstance(value, list) and len(pairs) != len(value)):
        raise ValueError("labels are a map or a list of {key, value}")
    labels = {
        str(k): ("true" if v is True else "false" if v is False else str(v)) for k, v in pairs
    }
    if any(k.startswith("system.") for k in labels):
        raise ValueError("system labels are set by the engine, not by an SLA")
    return labels


class _SlaBase(Model):
    id: TaskId
    behavior: Literal["FAIL", "CANCEL", "NONE"]
    labels: dict[str, str] = Field(default_factory=dict)

    _normalize_labels = field_validator("labels", mode="before")(_sla_labels)

    @property
    def state(self) -> State | None:
        """The state a violation ends the execution in (None: it goes on)."""
        return {"FAIL": State.FAILED, "CANCEL": State.CANCELLED}.get(self.behavior)


class MaxDurationSla(_SlaBase):
    type: Literal["MAX_DURATION"]
    duration: Duration

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("an SLA duration must be positive")
        return value


class ExecutionAssertionSla(_SlaBase):
    type: Literal["EXECUTION_ASSERTION"]
    assert_: str = Field(alias="assert", min_length=1)


SLA = Annotated[MaxDurationSla | ExecutionAssertionSla, Field(discriminator="type")]


@cache
def sla_adapter() -> TypeAdapter[SLA]:
    """Built on first use: only a flow with an `sla` needs the SLA types' schemas."""
    return adapter_of(SLA, (MaxDurationSla, ExecutionAssertionSla))


if TYPE_CHECKING:
    DeclaredSla = SLA
else:
    DeclaredSla = Annotated[Any, OnFirstUse(sla_adapter)]
"""An `SLA` inside a model (`Flow.sla`), validated by `sla_adapter()` (engine/lazy_schema.py)."""


@dataclass(frozen=True)
class Violation:
    sla: MaxDurationSla | ExecutionAssertionSla
    reason: str
    is_error: bool = False  # the assertion could not be rendered: logged and ignored

    def __repr__(self) -> str:
        return f"<Violation {self.sla.id}: {self.reason}>"


def assertion_violations(
    slas: Sequence[Any], context: Mapping[str, Any], renderer: Any
) -> list[Violation]:
    """The EXECUTION_ASSERTION SLAs whose `assert` is not truthy in `context`. One that
    cannot be rendered is ignored (Kestra logs it and goes on): its error is returned."""
    found = []
    for sla in slas:
        if not isinstance(sla, ExecutionAssertionSla):
            continue
        try:
            holds = renderer.is_true(sla.assert_, context)
        except PodiumError as exc:
            found.append(Violation(sla, str(exc), is_error=True))
            continue
        if not holds:
            found.append(Violation(sla, f"assertion is false: {sla.assert_}."))
    return found


def apply(walk: ExecutionWalk, violations: Sequence[Violation]) -> State | None:
    """Log every violation; the first one adds its labels and gives the state to end in."""
    first: Violation | None = None
    for violation in violations:
        if violation.is_error:
            walk.log(
                None,
                "ERROR",
                f"Ignoring SLA '{violation.sla.id}' because of the error: {violation.reason}",
            )
            continue
        walk.log(None, "WARN", f"SLA '{violation.sla.id}' violated: {violation.reason}")
        first = first or violation
    if first is None:
        return None
    walk.labels.update(first.sla.labels)
    walk.labels_changed = walk.labels_changed or bool(first.sla.labels)
    if first.sla.state is State.FAILED:
        walk.log(
            None,
            "ERROR",
            f"Execution failed due to SLA '{first.sla.id}' violated: {first.reason}",
        )
    return first.sla.state


def ending_reason(violations: Sequence[Violation]) -> str:
    first = next(v for v in violations if not v.is_error)
    return f"SLA '{first.sla.id}' violated: {first.reason}"


async def watch_durations(
    walk: ExecutionWalk, clock: Clock, end: Callable[[State, str], Awaitable[None]]
) -> None:
    """Sleep until each MAX_DURATION deadline of the walk's flow; at one the execution has
    not ended by, apply the violation (`end` stops the walk in the state it gives)."""
    durations = sorted(
        (s for s in walk.flow.sla if isinstance(s, MaxDurationSla)), key=lambda s: s.duration
    )
    started = walk.header.created_at
    for sla in durations:
        delay = (started + sla.duration - clock.now()).total_seconds()
        if delay > 0:
            await clock.sleep(delay)
        if walk.header.state.is_terminal or walk.is_killing or walk.is_leaving:
            return  # ended, or left to the next owner, which arms its own timers
        took = format_duration(clock.now() - started)
        violation = Violation(
            sla, f"execution duration of {took} exceed the maximum duration of "
            f"{format_duration(sla.duration)}."
        )  # fmt: skip
        state = apply(walk, [violation])
        if state is not None:
            await end(state, ending_reason([violation]))
            return
        await walk.flush_logs()
        await walk.set_state(walk.header.state)  # the labels, on the same state
