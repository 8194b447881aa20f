"""What a trigger runner is given, and what it must do: decide, then publish one request.

A runner handles one trigger of one flow for as long as that trigger exists unchanged in
the flow's current revision; the `TriggerService` starts it, and cancels it when the flow
is edited, disabled or deleted. Runners never run tasks and never write execution state:
they call `TriggerContext.fire`, which goes through the same `Intake` as the API.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from engine.clock import Clock
from engine.events import ExecutionRequested
from engine.flow import Flow
from engine.intake import Intake
from engine.plugin import Trigger
from engine.storage import LocalStorage
from engine.store.base import Journal
from engine.templating import Renderer
from engine.values import jsonable

__all__ = ["TriggerContext", "TriggerRunner", "TriggerStateStore", "slot_id", "trigger_scope"]


class TriggerStateStore(Protocol):
    """The part of the store triggers may use: their own state and claims."""

    async def get_trigger_state(self, scope: str) -> dict[str, Any] | None: ...
    async def set_trigger_state(self, scope: str, state: dict[str, Any]) -> None: ...
    async def claim(
        self, scope: str, items: list[str], *, journal: Journal | None = None
    ) -> list[str]: ...
    async def release(self, scope: str, items: list[str]) -> None: ...


def trigger_scope(flow: Flow, trigger: Trigger) -> str:
    """The key of a trigger's state: stable across revisions of its flow."""
    return f"{flow.namespace}/{flow.id}/{trigger.id}"


def slot_id(scope: str, item: str) -> str:
    """The execution id of one firing: the same firing always gets the same id, so
    the executor runs it once whoever publishes it, however often."""
    return hashlib.blake2b(f"{scope}\x1f{item}".encode(), digest_size=11).hexdigest()


@dataclass
class TriggerContext:
    intake: Intake
    state: TriggerStateStore
    clock: Clock
    renderer: Renderer
    storage: LocalStorage
    allowed_paths: tuple[Path, ...] = ()
    envs: Mapping[str, str] = field(default_factory=dict)
    # Disables a trigger (by scope) as the API does: what a reached stopAfter state calls.
    # The TriggerService sets it; None where no service runs (some unit tests).
    disable: Callable[[str], Awaitable[None]] | None = None

    async def fire(
        self,
        flow: Flow,
        trigger: Trigger,
        *,
        variables: Mapping[str, Any],
        item: str,
        inputs: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        check_inputs: bool = False,
    ) -> ExecutionRequested:
        """Publish one execution of `flow` for this firing (`item` identifies it: a slot,
        a file version, an upstream execution). Trigger inputs are rendered with
        `trigger` = `variables`.

        As in Kestra, a firing whose inputs are invalid (a required one missing) still
        makes an execution, which fails with the reason where users look for it; only a
        caller waiting for the answer (a webhook) asks `check_inputs` to be told at once."""
        given, trigger_labels, fired_by = self._request_parts(trigger, variables)
        given.update(inputs or {})
        return await self.intake.execute(
            flow.namespace,
            flow.id,
            inputs=given,
            labels={**trigger_labels, **(labels or {})},
            trigger=fired_by,
            execution_id=slot_id(trigger_scope(flow, trigger), item),
            check_inputs=check_inputs,
        )

    def request_for(
        self, flow: Flow, trigger: Trigger, *, variables: Mapping[str, Any]
    ) -> ExecutionRequested:
        """The request a firing would publish, not published and without its id yet: for
        a firing the executor decides later (a Flow trigger's windows)."""
        given, trigger_labels, fired_by = self._request_parts(trigger, variables)
        return ExecutionRequested(
            execution_id="",
            namespace=flow.namespace,
            flow_id=flow.id,
            revision=flow.revision,
            inputs=jsonable(given),
            labels=trigger_labels,
            trigger=fired_by,
            requested_at=self.clock.now(),
        )

    def _request_parts(
        self, trigger: Trigger, variables: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
        """Inputs rendered with `trigger` = `variables`, labels, and the trigger's record."""
        context = {"trigger": dict(variables), "envs": dict(self.envs)}
        given = self.renderer.render_value(dict(trigger.inputs), context) if trigger.inputs else {}
        trigger_labels = trigger.labels
        if isinstance(trigger_labels, list):
            trigger_labels = {str(i["key"]): str(i["value"]) for i in trigger_labels}
        fired_by = {"type": trigger.type, "id": trigger.id, "variables": dict(variables)}
        return given, dict(trigger_labels), fired_by


class TriggerRunner(Protocol):
    """Watches one trigger of one flow; returns only when cancelled (or nothing is left to do)."""

    async def run(self, flow: Flow, trigger: Trigger, ctx: TriggerContext) -> None: ...
