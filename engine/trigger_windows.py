"""The windows of Flow triggers that wait for several upstream executions.

A MultipleCondition (or a Flow trigger's `preconditions`) names conditions by key; the
trigger fires once every key was met by some upstream execution within one time window.
The flow-trigger listener (triggers/flow_trigger.py) tells which keys an ending execution
meets and sends a `ConditionsMet` keyed by the listening flow; the executor that owns
that flow's partition is then the one writer of its windows: it merges them here, keeps
them in the store's trigger state (so they survive restarts and partition moves), and
runs the trigger's request when they are full.

    state = {"windows": {condition id: {"start", "end", "results": {key: upstream id}}},
             "seen": [upstream execution ids already merged, latest last]}

Rules (Kestra's MultipleCondition and FlowTriggerService):
- a window in the state holds while `start <= at < end`; else the message's opens;
- a key met once stays met in its window; a full window is emptied after firing, unless
  `resetOnSuccess: false` (then each later execution that meets a key fires again);
- an upstream execution counts once: a redelivered message changes nothing, and the
  execution a firing starts has an id derived from the window and the execution that
  completed it, so a firing repeated after a crash is recognised by the executor.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from engine.events import ConditionsMet, ConditionWindow, ExecutionRequested

__all__ = ["merge", "window_scope"]

SEEN_KEPT = 500  # upstream executions remembered per trigger, against redelivery


def window_scope(met: ConditionsMet) -> str:
    """The trigger-state key of a trigger's windows."""
    return f"{met.namespace}/{met.flow_id}/{met.trigger_id}/windows"


def merge(
    state: dict[str, Any] | None, met: ConditionsMet
) -> tuple[dict[str, Any], ExecutionRequested | None]:
    """The trigger's windows once `met` is counted, and the request to run when that
    made them all full (None otherwise)."""
    state = dict(state or {})
    seen: list[str] = list(state.get("seen", []))
    windows: dict[str, Any] = dict(state.get("windows", {}))
    upstream = met.upstream_execution_id
    if upstream in seen:
        return state, None
    seen = [*seen, upstream][-SEEN_KEPT:]
    current = {w.condition_id: _open(windows.get(w.condition_id), w, met.at) for w in met.windows}
    contributed = False
    for window in met.windows:
        held = current[window.condition_id]
        for key in window.matched:
            if key in window.keys and key not in held["results"]:
                held["results"][key] = upstream
                contributed = True
            elif key in window.keys and not window.reset_on_success:
                contributed = True  # met again in a full window: fires again
    is_full = all(set(w.keys) <= set(current[w.condition_id]["results"]) for w in met.windows)
    request = None
    if is_full and contributed:
        first = current[met.windows[0].condition_id]
        request = met.request.model_copy(
            update={"execution_id": _firing_id(window_scope(met), first["start"], upstream)}
        )
        for window in met.windows:
            if window.reset_on_success:
                current.pop(window.condition_id)
                windows.pop(window.condition_id, None)
    windows.update(current)
    return {"windows": windows, "seen": seen}, request


def _open(stored: Any, window: ConditionWindow, at: datetime) -> dict[str, Any]:
    if isinstance(stored, dict):
        start, end = datetime.fromisoformat(stored["start"]), datetime.fromisoformat(stored["end"])
        if start <= at < end:
            return {**stored, "results": dict(stored.get("results", {}))}
    return {"start": window.start.isoformat(), "end": window.end.isoformat(), "results": {}}


def _firing_id(scope: str, start: str, upstream: str) -> str:
    """The same firing always gets the same execution id (as triggers' `slot_id`)."""
    return hashlib.blake2b(f"{scope}\x1f{start}|{upstream}".encode(), digest_size=11).hexdigest()
