"""io.kestra.plugin.core.trigger.Flow: start a flow when another flow's execution ends
(or reaches any state its `states:` lists: RUNNING, PAUSED…).

One listener for every such trigger: for each execution that reaches a terminal state,
it fires every watching trigger whose conditions hold. It follows the projector where
the process runs one (each applied batch, before the projector commits it), else the
events topic in its own consumer group; either way nothing is missed while Podium is down. The firing's
execution id derives from the upstream execution, so a redelivered event fires nothing
twice.

Conditions: `states` (if set), each `conditions` entry (ExecutionStatus, ExecutionFlow,
ExecutionNamespace, Expression), and the waiting ones (triggers/multiple.py): a
MultipleCondition among `conditions`, and `preconditions`. One of those with a single
condition (the common `preconditions.flows` of one upstream flow) fires here at once when
its window is open; with several, the keys this execution meets travel to the executor
that owns the listening flow (`ConditionsMet`), which keeps the windows and fires when
they are full (engine/trigger_windows.py). A flow's own executions never trigger it (that
would loop forever).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

from engine.bus.base import Bus, Topics
from engine.errors import PodiumError
from engine.events import (
    ConditionsMet,
    ConditionWindow,
    EventDocument,
    ExecutionChanged,
    decode_event,
)
from engine.flow import Flow
from engine.plugin import Trigger
from engine.projector import Projector
from engine.states import TERMINAL_STATES
from triggers.base import TriggerContext

if TYPE_CHECKING:
    from triggers.models import FlowTrigger
    from triggers.multiple import Test, Waiting

__all__ = ["FlowTriggerListener"]

log = logging.getLogger("podium.triggers.flow")


class FlowTriggerListener:
    def __init__(
        self,
        bus: Bus,
        ctx: TriggerContext,
        *,
        topics: Topics = Topics(),
        group: str = "podium-flow-triggers",
        projector: Projector | None = None,
    ) -> None:
        self.bus = bus
        self.ctx = ctx
        self.topics = topics
        self.group = group
        self.projector = projector
        self._watching: list[tuple[Flow, FlowTrigger]] = []
        # The states any watching trigger fires on: the terminal ones, and what `states:`
        # lists (Kestra fires on RUNNING, PAUSED… too when they are listed).
        self._states: frozenset[str] = frozenset(TERMINAL_STATES)
        self._is_stopping = False
        self._stopped = asyncio.Event()
        if projector is not None:  # before it runs: no batch goes by unseen
            projector.follow(self._on_applied)

    def __repr__(self) -> str:
        return f"<FlowTriggerListener watching={len(self._watching)}>"

    @staticmethod
    def handles(trigger: Trigger) -> TypeGuard[FlowTrigger]:
        # The Flow trigger's family (and triggers/multiple.py) is imported once a flow
        # has a trigger: the catalog loads families as flows name them (engine/catalog.py)
        from triggers.models import FlowTrigger

        return isinstance(trigger, FlowTrigger)

    def watch(self, triggers: list[tuple[Flow, Trigger]]) -> None:
        self._watching = [(f, t) for f, t in triggers if self.handles(t)]
        listed = {state.value for _, t in self._watching for state in t.states}
        self._states = frozenset(TERMINAL_STATES) | frozenset(listed)

    def stop(self) -> None:
        self._is_stopping = True
        self._stopped.set()

    async def run(self) -> None:
        if self.projector is not None:
            await self._stopped.wait()
            return
        subscription = await self.bus.subscribe(self.topics.events, self.group)
        try:
            while not self._is_stopping:
                records = await subscription.fetch(max_records=1000, timeout=0.2)
                for record in records:
                    if b'"ExecutionChanged"' not in record.value:
                        continue  # most events are task runs and logs: skip decoding them
                    event = decode_event(record.value)
                    if isinstance(event, ExecutionChanged) and event.state.value in self._states:
                        await self._on_end(event)
                if records:
                    await subscription.commit(records)
        finally:
            await subscription.close()

    async def _on_applied(self, events: Sequence[EventDocument]) -> None:
        if not self._watching or self._is_stopping:
            return
        for event in events:
            doc = event.doc
            if doc["kind"] == "ExecutionChanged" and doc["state"] in self._states:
                await self._on_end(ExecutionChanged.model_validate_json(event.raw))

    async def _on_end(self, upstream: ExecutionChanged) -> None:
        variables = {
            "executionId": upstream.execution_id,
            "namespace": upstream.namespace,
            "flowId": upstream.flow_id,
            "flowRevision": upstream.revision,
            "state": upstream.state.value,
            "outputs": upstream.outputs,
            "labels": upstream.labels,
        }
        facts: dict[str, Any] = {
            "execution": {"id": upstream.execution_id, "state": upstream.state.value},
            "flow": {
                "namespace": upstream.namespace,
                "id": upstream.flow_id,
                "revision": upstream.revision,
            },
            "trigger": variables,
            "outputs": upstream.outputs,
            "labels": upstream.labels,
        }
        for flow, trigger in self._watching:
            if flow.key == f"{upstream.namespace}/{upstream.flow_id}":
                continue  # a flow never triggers itself: that would loop forever
            try:
                if not self._passes(trigger, upstream, facts):
                    continue
                # One firing per upstream execution and state: a redelivered event fires
                # nothing twice, a RUNNING then a SUCCESS both fire when both are listed.
                item = upstream.execution_id
                if not upstream.state.is_terminal:
                    item = f"{item}:{upstream.state.value}"
                windows = self._windows(trigger, facts)
                if windows is None:
                    continue  # an execution outside a daily window counts for nothing
                if all(len(w.keys) <= 1 for w in windows):  # nothing to remember
                    if all(set(w.keys) <= set(w.matched) for w in windows):
                        await self.ctx.fire(flow, trigger, variables=variables, item=item)
                elif any(w.matched for w in windows):
                    await self.ctx.intake.submit(
                        ConditionsMet(
                            namespace=flow.namespace,
                            flow_id=flow.id,
                            trigger_id=trigger.id,
                            upstream_execution_id=item,
                            at=self.ctx.clock.now(),
                            windows=tuple(windows),
                            request=self.ctx.request_for(flow, trigger, variables=variables),
                        )
                    )
            except PodiumError as exc:  # bad inputs, a deleted flow: say so, go on
                log.warning(
                    "flow trigger %s of %s did not fire for %s: %s",
                    trigger.id,
                    flow.key,
                    upstream.execution_id,
                    exc,
                )

    def _passes(
        self, trigger: FlowTrigger, upstream: ExecutionChanged, facts: dict[str, Any]
    ) -> bool:
        """The trigger's `states` and its conditions that one execution decides."""
        if trigger.states and upstream.state not in trigger.states:
            return False
        if not trigger.states and not upstream.state.is_terminal:
            return False  # without `states`, Kestra fires on the end states only
        from triggers.multiple import MultipleCondition

        return all(
            condition.test(facts, self.ctx.renderer)
            for condition in trigger.conditions
            if not isinstance(condition, MultipleCondition)
        )

    def _windows(self, trigger: FlowTrigger, facts: dict[str, Any]) -> list[ConditionWindow] | None:
        """Each waiting condition as this execution leaves it, or None when a window is
        closed now (a daily window, outside its hours)."""
        from triggers.multiple import MultipleCondition

        waiting: list[Waiting] = [c for c in trigger.conditions if isinstance(c, MultipleCondition)]
        if trigger.preconditions is not None:
            waiting.append(trigger.preconditions)
        now = self.ctx.clock.now()
        windows = []
        for condition in waiting:
            start, end = condition.timeWindow.bounds(now)
            if not start <= now < end:
                return None
            tests = condition.tests()
            windows.append(
                ConditionWindow(
                    condition_id=condition.id,
                    keys=tuple(tests),
                    matched=tuple(k for k, test in tests.items() if self._meets(test, facts)),
                    start=start,
                    end=end,
                    reset_on_success=condition.resetOnSuccess,
                )
            )
        return windows

    def _meets(self, test: Test, facts: dict[str, Any]) -> bool:
        """One condition of a waiting one; as in Kestra, one that cannot be evaluated (an
        EXPRESSION filter's template fails) is not met."""
        try:
            return test(facts, self.ctx.renderer)
        except PodiumError as exc:
            log.info("a flow trigger condition could not be evaluated: %s", exc)
            return False
