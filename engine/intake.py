"""How a request enters Podium: ids minted at the edge, inputs checked before publishing.

The API, the CLI and (later) every trigger go through `Intake`, so an execution with
invalid inputs is refused at the door and never created, and the id a caller gets back
is the id the execution will have (it doubles as the idempotency key).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.bus.base import Bus, Topics
from engine.checks import Check, ChecksBlocked, failed_checks, resolve_behavior
from engine.clock import Clock, SystemClock
from engine.errors import InputError, PodiumError
from engine.events import (
    ExecutionRequested,
    ForceRunRequested,
    KillRequested,
    LabelsRequested,
    ReplayRequested,
    RestartRequested,
    ResumeRequested,
    StatusChangeRequested,
    TaskRunStateRequested,
    UnqueueRequested,
    Wire,
    encode,
    new_id,
)
from engine.flow import Flow
from engine.flows import FlowRepository
from engine.inputs import nest_dotted
from engine.states import State
from engine.storage import LocalStorage, safe_name
from engine.templating import Renderer
from engine.values import jsonable

if TYPE_CHECKING:
    from engine.input_types import Input

__all__ = ["FlowNotFound", "Intake", "resolve_inputs"]

# Requests this intake accepted lately, so a read right after a create can answer with
# the execution as requested (CREATED) before the projection has it.
REMEMBERED_REQUESTS = 10_000


class FlowNotFound(PodiumError):
    """No flow with that namespace and id (or revision)."""


def resolve_inputs(
    flow: Flow,
    given: Mapping[str, Any],
    renderer: Renderer,
    *,
    envs: Mapping[str, str] | None = None,
    execution_id: str | None = None,
    declared: Sequence[Input] | None = None,
) -> dict[str, Any]:
    """The flow's inputs (or `declared`, a Pause's `onResume`) typed and validated, as
    JSON values. Raises InputError."""
    specs = list(flow.inputs if declared is None else declared)
    if not specs:  # what the resolver returns for no inputs, without importing it
        return {}
    from engine.input_types import InputResolver

    base = {
        "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
        "execution": {"id": execution_id},
        "envs": dict(envs or {}),
    }
    resolver = InputResolver(
        render=lambda value, ctx: renderer.render_value(value, {**base, **ctx}),
        evaluate_condition=lambda text, ctx: renderer.is_true(text, {**base, **ctx}),
    )
    values = jsonable(resolver.resolve(specs, given, context=base))
    if renderer.secrets is not None:
        for spec in specs:
            if spec.type == "SECRET" and isinstance(values.get(spec.id), str):
                renderer.secrets.reveal(values[spec.id])  # masked like secret() values
    return nest_dotted(values)


class Intake:
    def __init__(
        self,
        bus: Bus,
        flows: FlowRepository,
        renderer: Renderer,
        *,
        topics: Topics = Topics(),
        clock: Clock | None = None,
        envs: Mapping[str, str] | None = None,
        storage: LocalStorage | None = None,
        max_request_bytes: int = 4 << 20,
    ) -> None:
        self.storage = storage
        self.max_request_bytes = max_request_bytes
        self.bus = bus
        self.flows = flows
        self.renderer = renderer
        self.topics = topics
        self.clock = clock or SystemClock()
        self.envs = dict(envs or {})
        self._accepted: OrderedDict[str, ExecutionRequested] = OrderedDict()

    def accepted(self, execution_id: str) -> ExecutionRequested | None:
        """The request of an execution this intake published lately (bounded), or None."""
        return self._accepted.get(execution_id)

    def forget(self, execution_ids: Iterable[str]) -> None:
        """Executions deleted since (engine/purge.py): no longer shown as requested."""
        for execution_id in execution_ids:
            self._accepted.pop(execution_id, None)

    def __repr__(self) -> str:
        return f"<Intake topic={self.topics.requests}>"

    async def execute(
        self,
        namespace: str,
        flow_id: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        trigger: Mapping[str, Any] | None = None,
        execution_id: str | None = None,
        revision: int | None = None,
        files: Mapping[str, tuple[str, bytes]] | None = None,
        check_inputs: bool = True,
    ) -> ExecutionRequested:
        """Check and publish a request to run a flow. Raises FlowNotFound or InputError.

        `files` maps FILE input ids to (file name, content): they are put in internal
        storage under the execution and the input gets their `kestra:///` URI. Without
        `check_inputs` (triggers), invalid inputs make a FAILED execution saying why."""
        flow = await self.flows.get(namespace, flow_id, revision)
        if flow is None:
            raise FlowNotFound(f"flow {namespace}/{flow_id} not found")
        if flow.disabled:
            raise FlowNotFound(f"flow {namespace}/{flow_id} is disabled")
        execution_id = execution_id or new_id()
        given = dict(inputs or {})
        stored = self._store_files(flow, execution_id, files or {})
        given.update(stored)
        failed: list[Check] = []
        try:
            # Validation only: the executor resolves again, with the same rules.
            if check_inputs:
                resolved = resolve_inputs(
                    flow, given, self.renderer, envs=self.envs, execution_id=execution_id
                )
                failed = self._failed_checks(flow, resolved, labels or {})
        except PodiumError:
            if self.storage is not None:
                for uri in stored.values():
                    self.storage.delete(uri)  # nothing is kept for a refused request
            raise
        request = ExecutionRequested(
            execution_id=execution_id,
            namespace=namespace,
            flow_id=flow_id,
            revision=flow.revision,
            inputs=jsonable(given),
            labels=dict(labels or {}),
            trigger=dict(trigger) if trigger else None,
            requested_at=self.clock.now(),
            failed_checks=tuple(c.message for c in failed),
        )
        record = encode(request)
        if len(record) > self.max_request_bytes:
            # Uploads go to storage (FILE inputs); what travels on the bus stays small.
            raise InputError(
                {
                    "inputs": f"the request is {len(record):,} bytes, above the limit of "
                    f"{self.max_request_bytes:,} (max_record_bytes); send large data as a "
                    "FILE input"
                }
            )
        await self.bus.publish(self.topics.requests, request.key, record)
        self._accepted[execution_id] = request
        while len(self._accepted) > REMEMBERED_REQUESTS:
            self._accepted.popitem(last=False)
        return request

    def _failed_checks(
        self, flow: Flow, inputs: Mapping[str, Any], labels: Mapping[str, str]
    ) -> list[Check]:
        """The flow's `checks` that fail with these inputs; raises ChecksBlocked when one
        of them blocks the execution (engine/checks.py)."""
        if not flow.checks:
            return []
        context = {
            "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
            "inputs": inputs,
            "labels": {**flow.labels, **labels},
            "vars": flow.variables,
            "envs": self.envs,
        }
        failed = failed_checks(flow.checks, context, self.renderer)
        behavior = resolve_behavior(failed)
        if behavior == "BLOCK_EXECUTION":
            raise ChecksBlocked([c.message for c in failed])
        return failed if behavior == "FAIL_EXECUTION" else []

    def _store_files(
        self, flow: Flow, execution_id: str, files: Mapping[str, tuple[str, bytes]]
    ) -> dict[str, str]:
        if not files:
            return {}
        declared = {i.id for i in flow.inputs if i.type == "FILE"}
        unknown = sorted(set(files) - declared)
        if unknown:
            raise InputError(
                {name: "a file was given but the input is not of type FILE" for name in unknown}
            )
        if self.storage is None:
            raise InputError({name: "file inputs are not accepted here" for name in files})
        prefix = f"{flow.namespace.replace('.', '/')}/{flow.id}/executions/{execution_id}/inputs"
        return {
            name: self.storage.write(f"{prefix}/{name}/{safe_name(filename)}", content)
            for name, (filename, content) in files.items()
        }

    # Commands about an existing execution: its owner checks them against its state
    # (a restart of a running execution is ignored, with a log line).

    async def kill(self, execution_id: str, namespace: str, flow_id: str) -> None:
        await self._publish(
            KillRequested(execution_id=execution_id, namespace=namespace, flow_id=flow_id)
        )

    async def resume(
        self,
        execution_id: str,
        namespace: str,
        flow_id: str,
        *,
        flow: Flow | None = None,
        declared: Sequence[Input] = (),
        inputs: Mapping[str, Any] | None = None,
    ) -> None:
        """Resume a paused execution; `declared` (the paused Pause's `onResume` inputs of
        `flow`) validate `inputs` as a flow's inputs are. Raises InputError."""
        values: dict[str, Any] = {}
        if declared and flow is not None:
            values = resolve_inputs(
                flow, inputs or {}, self.renderer, envs=self.envs,
                execution_id=execution_id, declared=declared,
            )  # fmt: skip
        await self._publish(
            ResumeRequested(
                execution_id=execution_id, namespace=namespace, flow_id=flow_id, inputs=values
            )
        )

    async def restart(self, execution_id: str, namespace: str, flow_id: str) -> None:
        await self._publish(
            RestartRequested(execution_id=execution_id, namespace=namespace, flow_id=flow_id)
        )

    async def replay(
        self, execution_id: str, namespace: str, flow_id: str, task_run_id: str | None = None
    ) -> str:
        """Returns the new execution's id."""
        request = ReplayRequested(
            execution_id=execution_id,
            new_execution_id=new_id(),
            namespace=namespace,
            flow_id=flow_id,
            task_run_id=task_run_id,
            requested_at=self.clock.now(),
        )
        await self._publish(request)
        return request.new_execution_id

    async def set_labels(
        self, execution_id: str, namespace: str, flow_id: str, labels: Mapping[str, str]
    ) -> None:
        await self._publish(
            LabelsRequested(
                execution_id=execution_id,
                namespace=namespace,
                flow_id=flow_id,
                labels=dict(labels),
            )
        )

    async def change_status(
        self, execution_id: str, namespace: str, flow_id: str, state: State
    ) -> None:
        await self._publish(
            StatusChangeRequested(
                execution_id=execution_id, namespace=namespace, flow_id=flow_id, state=state
            )
        )

    async def unqueue(
        self, execution_id: str, namespace: str, flow_id: str, state: State = State.RUNNING
    ) -> None:
        await self._publish(
            UnqueueRequested(
                execution_id=execution_id, namespace=namespace, flow_id=flow_id, state=state
            )
        )

    async def set_task_run_state(
        self, execution_id: str, namespace: str, flow_id: str, task_run_id: str, state: State
    ) -> None:
        await self._publish(
            TaskRunStateRequested(
                execution_id=execution_id, namespace=namespace, flow_id=flow_id,
                task_run_id=task_run_id, state=state,
            )
        )  # fmt: skip

    async def force_run(self, execution_id: str, namespace: str, flow_id: str) -> None:
        await self._publish(
            ForceRunRequested(execution_id=execution_id, namespace=namespace, flow_id=flow_id)
        )

    async def submit(self, request: Wire) -> None:
        """Publish a request another component built (a Flow trigger's ConditionsMet)."""
        await self._publish(request)

    async def _publish(self, request: Wire) -> None:
        await self.bus.publish(self.topics.requests, request.key, encode(request))
