"""Execution and task-run states, and how a set of child states folds into one.

The names and the folding rule are Kestra's, so an execution ends in the same state
here as it would there.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = ["TERMINAL_STATES", "State", "worst"]


class State(StrEnum):
    CREATED = "CREATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    RETRYING = "RETRYING"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    FAILED = "FAILED"
    KILLING = "KILLING"
    KILLED = "KILLED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"
    # An ended execution or task run asked to run again (a restart): the one way out of
    # a terminal state.
    RESTARTED = "RESTARTED"
    # A failed execution whose flow (or task) retries as a new execution: it ended, and
    # the next attempt is another execution (Kestra's RETRIED).
    RETRIED = "RETRIED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_failure(self) -> bool:
        return self in (State.FAILED, State.KILLED, State.CANCELLED, State.RETRIED)

    def can_become(self, new: State) -> bool:
        """A terminal state never regresses, except by a restart; anything else may
        move on."""
        return not self.is_terminal or new == self or new is State.RESTARTED


# A StrEnum member hashes and compares as its value: `"SUCCESS" in TERMINAL_STATES` holds,
# so readers of raw event documents test their `state` strings without building a State.
TERMINAL_STATES = frozenset(
    {
        State.SUCCESS,
        State.WARNING,
        State.FAILED,
        State.KILLED,
        State.CANCELLED,
        State.SKIPPED,
        State.RETRIED,
    }
)

# How bad each terminal state is when children's states fold into a parent's.
_SEVERITY = {
    State.SKIPPED: 0,
    State.SUCCESS: 1,
    State.WARNING: 2,
    State.CANCELLED: 3,
    State.FAILED: 4,
    State.RETRIED: 4,
    State.KILLED: 5,
}


def worst(states: Iterable[State], *, default: State = State.SUCCESS) -> State:
    """The state a parent ends in given its children's final states.

    Skipped children do not count; a parent whose children were all skipped succeeds.
    """
    result = default
    for state in states:
        if state is State.SKIPPED:
            continue
        if _SEVERITY.get(state, 1) > _SEVERITY.get(result, 1):
            result = state
    return result
