"""io.kestra.plugin.core.trigger.Flow: start a flow when another flow's execution ends
(or reaches any state its `states:` lists: RUNNING, PAUSED…).

One listener for every such trigger: for each execution that reaches a terminal state,
it fires every watching trigger whose conditions hold. It follows the projector where
the process runs one (each applied batch, before the projector commits it), else the
events topic in its own consumer group; either way nothing is missed while Podium is down. The firing's
execution id derives from the upstream execution, so a redelivered event fires nothing
twice.

Conditions: `states` (if set), each `conditions` entry (ExecutionStatus, ExecutionFlow,
ExecutionNamespace, Expression), and the common form of `preconditions`: `flows`, a list
of {namespace, flowId, states} of which one must match the ending execution. A flow's
own executions never trigger it (that would loop forever).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from engine.bus.base import Bus, Topics
from engine.errors import PodiumError
from engine.events import EventDocument, ExecutionChanged, decode_event
from engine.flow import Flow
from engine.plugin import Trigger
from engine.projector import Projector
from engine.states import TERMINAL_STATES
from triggers.base import TriggerContext
from triggers.models import FlowTrigger

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
    def handles(trigger: Trigger) -> bool:
        return isinstance(trigger, FlowTrigger)

    def watch(self, triggers: list[tuple[Flow, Trigger]]) -> None:
        self._watching = [(f, t) for f, t in triggers if isinstance(t, FlowTrigger)]
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
                if not self._matches(trigger, upstream, facts):
                    continue
                # One firing per upstream execution and state: a redelivered event fires
                # nothing twice, a RUNNING then a SUCCESS both fire when both are listed.
                item = upstream.execution_id
                if not upstream.state.is_terminal:
                    item = f"{item}:{upstream.state.value}"
                await self.ctx.fire(flow, trigger, variables=variables, item=item)
            except PodiumError as exc:  # bad inputs, a deleted flow: say so, go on
                log.warning(
                    "flow trigger %s of %s did not fire for %s: %s",
                    trigger.id,
                    flow.key,
                    upstream.execution_id,
                    exc,
                )

    def _matches(
        self, trigger: FlowTrigger, upstream: ExecutionChanged, facts: dict[str, Any]
    ) -> bool:
        if trigger.states and upstream.state not in trigger.states:
            return False
        if not trigger.states and not upstream.state.is_terminal:
            return False  # without `states`, Kestra fires on the end states only
        if not all(condition.test(facts, self.ctx.renderer) for condition in trigger.conditions):
            return False
        pre = trigger.preconditions
        if pre is not None and pre.flows:
            return any(_flow_matches(spec, upstream) for spec in pre.flows)
        return True


def _flow_matches(spec: dict[str, Any], upstream: ExecutionChanged) -> bool:
    if spec.get("namespace") not in (None, upstream.namespace):
        return False
    if spec.get("flowId") not in (None, upstream.flow_id):
        return False
    states = spec.get("states")
    return not states or upstream.state.value in states
