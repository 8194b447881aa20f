"""The executor: consumes requests, enforces concurrency, walks flows.

One executor owns every execution of the flows whose partitions it holds (DESIGN.md,
"Partition by flow"), so a flow's `concurrency.limit` is exact with local counters.

    requests topic ──▶ intake loop ──▶ ExecutionRequested: dedupe, resolve flow and
                                        inputs, admit (run / QUEUE / CANCEL / FAIL)
                                      ─▶ Kill / Resume / ChildExecutionEnded: signal
                                        the owning ExecutionWalk
    each admitted execution: an ExecutionWalk in the executor's TaskGroup

A request's offset is committed once the events that make it durable were published.

Which executions it owns is decided by its `PartitionOwnership` (engine/ownership.py):
partitions assigned, revoked, recovered (claims), resync after lost events, and the stall
watch. When full, the executor pauses the subscription (and keeps polling, so it stays
in its group) instead of buffering requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from engine import checks, sla
from engine.bus.base import Bus, Record, Subscription, Topics
from engine.clock import Clock, SystemClock
from engine.errors import EventsLost, InputError, PodiumError, TransientError
from engine.events import (
    ChildExecutionEnded,
    ConditionsMet,
    ExecutionChanged,
    ExecutionRequested,
    ForceRunRequested,
    KillRequested,
    LabelsRequested,
    LogLine,
    LogsEmitted,
    ReplayRequested,
    RestartRequested,
    ResumeRequested,
    StatusChangeRequested,
    TaskRunChanged,
    TaskRunStateRequested,
    UnqueueRequested,
    decode_request,
    encode,
    evolve,
)
from engine.flow import Flow
from engine.flows import FlowRepository
from engine.inputs import undeclared
from engine.intake import resolve_inputs
from engine.nsfiles import NamespaceFiles
from engine.ownership import PartitionOwnership
from engine.plugin import Retry
from engine.queues import QueuedExecutions
from engine.reruns import (
    CORRELATION_ID,
    Rerun,
    RerunRefused,
    plan_mark,
    plan_replay,
    plan_restart,
    plan_retry,
)
from engine.states import State
from engine.storage import LocalStorage
from engine.store.base import Store
from engine.templating import Renderer
from engine.trigger_windows import merge, window_scope
from engine.walk import ExecutionWalk, Runtime

__all__ = ["Executor", "ExecutorSettings"]

log = logging.getLogger("podium.executor")

T = TypeVar("T")
MAX_BACKOFF_SECONDS = 5.0


@dataclass(frozen=True)
class ExecutorSettings:
    group: str = "podium-executor"
    max_running_executions: int = 10_000
    # How long walks of revoked partitions may go on finishing before they are abandoned
    # (they must be stopped before the group rebalances: keep under its rebalance timeout).
    revoke_grace_seconds: float = 5.0
    max_running_tasks: int = 64
    fetch_batch: int = 500
    drain_seconds: float = 10.0
    work_root: Path = Path("/tmp/podium-work")
    cache_root: Path = Path("/tmp/podium-cache")
    envs: Mapping[str, str] = field(default_factory=dict)
    script_env_allow: tuple[str, ...] = ()  # scripts.env_allow
    globals: Mapping[str, Any] = field(default_factory=dict)  # `{{ globals.x }}` (settings)
    remembered_executions: int = 10_000  # recent ends, for redelivered requests
    max_output_bytes: int = 4 << 20
    # Resumes in a row without progress before an execution is failed (engine/recovery.py).
    max_recoveries: int = 5
    ui_url: str = "http://localhost:8080"  # the server's public URL: links in notifications


@dataclass(eq=False)
class _Owned:
    walk: ExecutionWalk
    task: asyncio.Task[None] | None = None
    sla_watch: asyncio.Task[None] | None = None  # the MAX_DURATION timers (engine/sla.py)


class Executor:
    def __init__(
        self,
        bus: Bus,
        store: Store,
        flows: FlowRepository,
        storage: LocalStorage,
        *,
        renderer: Renderer,
        topics: Topics = Topics(),
        clock: Clock | None = None,
        settings: ExecutorSettings = ExecutorSettings(),
        wait_projected: Callable[[], Awaitable[None]] | None = None,
        namespace_files: NamespaceFiles | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.flows = flows
        self.storage = storage
        self.renderer = renderer
        self.topics = topics
        self.clock = clock or SystemClock()
        self.settings = settings
        self.wait_projected = wait_projected
        self.runtime = Runtime(
            publish_event=self.publish_event,
            publish_request=self._publish_request,
            clock=self.clock,
            renderer=renderer,
            storage=storage,
            task_slots=asyncio.Semaphore(settings.max_running_tasks),
            work_root=settings.work_root,
            cache_root=settings.cache_root,
            envs=dict(settings.envs),
            globals=dict(settings.globals),
            namespace_files=namespace_files or NamespaceFiles(store),
            script_env_allow=tuple(settings.script_env_allow),
            fetch_logs=self._fetch_logs,
            fetch_execution=self._fetch_execution,
            ui_url=settings.ui_url,
            flows=flows,
            max_output_bytes=settings.max_output_bytes,
            plan_retry=self._plan_retry,
        )
        self._owned: dict[str, _Owned] = {}
        self._running: dict[str, set[str]] = {}
        self._queued = QueuedExecutions()
        self._finished: OrderedDict[str, ExecutionChanged] = OrderedDict()
        self._group: asyncio.TaskGroup | None = None
        self._is_stopping = False
        self._is_paused = False
        self.ownership = PartitionOwnership(
            self,
            bus,
            store,
            flows,
            topics=topics,
            clock=self.clock,
            revoke_grace_seconds=settings.revoke_grace_seconds,
            max_recoveries=settings.max_recoveries,
        )
        self.is_ready = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Executor owned={len(self._owned)} queued={len(self._queued)}>"

    # -- life cycle ---------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop()`; then stop intake, drain with a deadline, and return."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                # Joining the group assigns partitions, and `on_assigned` recovers them.
                subscription = await self.bus.subscribe(
                    self.topics.requests, self.settings.group, listener=self.ownership
                )
                self.ownership.subscription = subscription
                try:
                    self.is_ready.set()
                    self.ownership.start_watch()
                    await self._intake(subscription)
                    await self._drain()
                finally:
                    self.ownership.stop_watch()
                    await subscription.close()
        finally:
            self._group = None

    def stop(self) -> None:
        self._is_stopping = True
        if self.ownership.subscription is not None:
            self.ownership.subscription.wake()

    @property
    def is_stopping(self) -> bool:
        return self._is_stopping

    async def _drain(self) -> None:
        # A paused execution could wait for days: leave it to the next owner at once.
        pending = [
            o.task for o in self._owned.values() if o.task is not None and not o.walk.is_paused
        ]
        if pending:
            await asyncio.wait(pending, timeout=self.settings.drain_seconds)
        self.runtime.is_shutting_down = True
        for owned in list(self._owned.values()):
            if owned.task is not None:
                owned.task.cancel()
        await self.bus.flush()

    # -- what ownership asks of the walks (engine/ownership.py, `Walks`) ---------------

    async def let_go(self, held: Callable[[str], bool], *, grace: float) -> None:
        """Drop what this executor holds in memory of the flows `held` accepts: walks get
        `grace` seconds to end, then are abandoned without recording anything; queued
        executions stay QUEUED in the store; ends it remembers are forgotten, as they may
        not have counted (fenced, if it learns late that it lost them). Whoever owns the
        partitions next (maybe this executor) takes them over from the store."""
        leaving = [o for o in self._owned.values() if o.task is not None and held(o.walk.flow.key)]
        for key in self._queued.flows():
            if held(key):
                while self._queued.first(key) is not None:
                    self._queued.pop(key)
        running = [o.task for o in leaving if o.task is not None and not o.walk.is_paused]
        if running and grace > 0 and not self._is_stopping:
            await asyncio.wait(running, timeout=grace)
        abandoned = [o.task for o in leaving if o.task is not None and not o.task.done()]
        for owned in leaving:
            owned.walk.is_abandoned = True
        for task in abandoned:
            task.cancel()
        if abandoned:
            log.info("let go of %d executions: left to their next owner", len(abandoned))
            await asyncio.wait(abandoned)
        for execution_id, header in list(self._finished.items()):
            if held(header.key):
                del self._finished[execution_id]

    async def take_over(
        self, flow: Flow, claim: ExecutionChanged, recorded: tuple[TaskRunChanged, ...]
    ) -> None:
        """Walk a claimed execution from what it recorded, or queue it again."""
        if claim.state is State.QUEUED:
            self._queued.push(flow.key, claim)
            if recorded:  # a restart or replay waiting for its turn
                self._queued.recorded[claim.execution_id] = recorded
            return
        log.info("resuming execution %s of %s", claim.execution_id, flow.key)
        self._start(flow, claim, recorded, claim.seq)

    # -- intake -------------------------------------------------------------------

    async def _intake(self, subscription: Subscription) -> None:
        limit = self.settings.max_running_executions
        ownership = self.ownership
        while not self._is_stopping:
            if ownership.needs_resync:
                await ownership.resync()
            room = limit - len(self._owned)
            if room <= 0 and not self._is_paused:
                # Full: the bus keeps the requests. Polling goes on (and returns nothing),
                # so this consumer stays in its group.
                subscription.pause()
                self._is_paused = True
            elif room > 0 and self._is_paused:
                subscription.resume()
                self._is_paused = False
            records = await subscription.fetch(
                max_records=max(1, min(self.settings.fetch_batch, room)), timeout=0.2
            )
            if not records or ownership.is_frozen:
                continue  # frozen: redelivered to whoever the group gives them to
            for record in records:  # requests are keyed by flow: this is the flow's partition
                ownership.partition_of[record.key] = record.partition
            # The group may take partitions away while a batch is handled (aiokafka calls
            # `on_revoked` from its own task): one at a time, so a request of a partition
            # given up is never started here as well as by its next owner.
            async with ownership.handling:
                records = [r for r in records if r.partition in ownership.partitions]
                messages = [m for m in map(self._decode, records) if m is not None]
                while True:
                    try:
                        await self._handle_all(messages)
                        await self.bus.flush()  # what made these requests durable is written
                        break
                    except EventsLost as exc:
                        # Handled again after the resync: the id is the idempotency key.
                        ownership.lost(exc)
                        await ownership.resync()
                        if ownership.is_frozen:
                            records = []  # the group hands them out again after the rejoin
                            break
            await subscription.commit(records)

    async def _handle_all(self, messages: list[Any]) -> None:
        # One store round trip per batch tells which requested ids already exist.
        unknown = [
            m.execution_id
            for m in messages
            if isinstance(m, ExecutionRequested) and not self.is_known(m.execution_id)
        ]
        existing = (
            await self.patiently(
                partial(self.store.existing_executions, unknown), "looking up executions"
            )
            if unknown
            else {}
        )
        for message in messages:
            # Handling a request again is harmless (the id is the idempotency key).
            await self.patiently(
                partial(self._handle, message, existing), f"handling {message.kind}"
            )

    async def patiently(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """Retry a call while the store (or the bus) is briefly away: a database restart
        must delay requests, never drop them or stop the executor."""
        delay = 0.05
        while True:
            try:
                return await call()
            except EventsLost:
                raise  # retrying does not bring them back: the intake loop resyncs
            except TransientError as exc:
                if self._is_stopping:
                    raise
                log.warning("%s failed (%s); retrying in %.2fs", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    @staticmethod
    def _decode(record: Record) -> Any:
        try:
            return decode_request(record.value)
        except ValueError as exc:
            log.error("dropping an undecodable request at %r: %s", record, exc)
            return None

    def is_known(self, execution_id: str) -> bool:
        return (
            execution_id in self._owned
            or execution_id in self._finished
            or execution_id in self._queued
        )

    async def _handle(self, message: Any, existing: Mapping[str, ExecutionChanged]) -> None:
        if isinstance(message, ExecutionRequested):
            await self._on_requested(message, existing)
        elif isinstance(message, KillRequested):
            await self._on_kill(message)
        elif isinstance(message, ResumeRequested):
            owned = self._owned.get(message.execution_id)
            if owned is not None and not owned.walk.resume(message.inputs):
                log.info("resume of %s: nothing is paused", message.execution_id)
        elif isinstance(message, ChildExecutionEnded):
            owned = self._owned.get(message.parent_execution_id)
            if owned is not None:
                owned.walk.child_ended(
                    message.parent_task_run_id, message.state, dict(message.outputs)
                )
        elif isinstance(message, RestartRequested):
            await self._on_restart(message)
        elif isinstance(message, ReplayRequested):
            await self._on_replay(message)
        elif isinstance(message, LabelsRequested):
            await self._on_labels(message)
        elif isinstance(message, StatusChangeRequested):
            await self._on_status_change(message)
        elif isinstance(message, UnqueueRequested):
            await self._on_unqueue(message.execution_id, message.state)
        elif isinstance(message, ForceRunRequested):
            await self._on_force_run(message)
        elif isinstance(message, TaskRunStateRequested):
            await self._on_task_run_state(message)
        elif isinstance(message, ConditionsMet):
            await self._on_conditions_met(message)

    async def _on_requested(
        self, request: ExecutionRequested, existing: Mapping[str, ExecutionChanged]
    ) -> None:
        execution_id = request.execution_id
        if execution_id in self._owned or execution_id in self._queued:
            return
        known = self._finished.get(execution_id) or existing.get(execution_id)
        if known is not None:
            # A redelivered or repeated request: the id is the idempotency key.
            if known.state.is_terminal and known.parent is not None:
                await self._notify_parent(known)
            return
        now = self.clock.now()
        header = ExecutionChanged(
            execution_id=execution_id,
            namespace=request.namespace,
            flow_id=request.flow_id,
            seq=0,
            at=now,
            revision=request.revision,
            state=State.CREATED,
            labels=dict(request.labels),
            trigger=request.trigger,
            parent=request.parent,
            created_at=request.requested_at,
            not_before=request.not_before,
        )
        flow = await self.flows.get(request.namespace, request.flow_id, request.revision)
        if flow is None:
            await self._refuse(header, f"flow {request.namespace}/{request.flow_id} does not exist")
            return
        labels = {**flow.labels, **request.labels}
        # every execution carries one (Kestra): its own id, or its root's (a subflow's
        # request, a retry's, names it)
        labels.setdefault(CORRELATION_ID, execution_id)
        header = evolve(header, {"revision": flow.revision, "labels": labels})
        if flow.disabled:
            await self._refuse(header, "the flow is disabled")
            return
        try:
            inputs = resolve_inputs(
                flow,
                request.inputs,
                self.renderer,
                envs=self.runtime.envs,
                execution_id=execution_id,
            )
        except (InputError, PodiumError) as exc:
            await self._refuse(header, str(exc))
            return
        header = evolve(header, {"inputs": inputs, "seq": 1})
        await self.publish_event(header)
        ignored = undeclared(flow.inputs, request.inputs)
        if ignored:  # Kestra ignores them too, with a warning in the execution's logs
            header = header.model_copy(update={"seq": 2})
            message = f"inputs not declared by the flow were ignored: {', '.join(ignored)}"
            await self.publish_event(_warning(header, message, self.clock.now()))
        if request.failed_checks:  # a FAIL_EXECUTION check failed (engine/checks.py)
            header = header.model_copy(update={"seq": header.seq + 1})
            await self.publish_event(_warning(header, checks.FAILED, self.clock.now()))
            reason = f"{checks.FAILED} Failed checks: {', '.join(request.failed_checks)}"
            await self.end_early(header, State.FAILED, reason)
            return
        await self._admit(flow, header)

    async def _admit(
        self, flow: Flow, header: ExecutionChanged, recorded: tuple[TaskRunChanged, ...] = ()
    ) -> None:
        """Start an execution, or queue, cancel or fail it at the flow's concurrency limit."""
        limit = flow.concurrency
        if limit is not None and len(self._running.get(flow.key, ())) >= limit.limit:
            if limit.behavior == "QUEUE":
                queued = header.model_copy(
                    update={"state": State.QUEUED, "seq": header.seq + 1, "at": self.clock.now()}
                )
                await self.publish_event(queued)
                self._queued.push(flow.key, queued)
                if recorded:
                    self._queued.recorded[header.execution_id] = recorded
            elif limit.behavior == "CANCEL":
                await self.end_early(header, State.CANCELLED, "concurrency limit reached")
            else:
                await self.end_early(
                    header, State.FAILED, f"concurrency limit of {limit.limit} reached"
                )
            return
        self._start(flow, header, recorded, header.seq)

    # -- commands about ended executions (see engine/reruns.py) -----------------------

    async def _recorded(
        self, execution_id: str
    ) -> tuple[ExecutionChanged, list[TaskRunChanged]] | None:
        """An execution as stored, once the store holds every event published so far."""
        await self.await_projection()
        header = await self.store.get_execution(execution_id)
        if header is None:
            return None
        return header, await self.store.task_runs(execution_id)

    async def _on_restart(self, request: RestartRequested) -> None:
        if request.execution_id in self._owned or request.execution_id in self._queued:
            log.info("restart of %s: it has not ended", request.execution_id)
            return
        found = await self._recorded(request.execution_id)
        if found is None:
            log.warning("restart of %s: no such execution", request.execution_id)
            return
        try:
            plan = plan_restart(*found, self.clock.now())
        except RerunRefused as exc:
            log.warning("restart refused: %s", exc)
            return
        self._finished.pop(request.execution_id, None)
        await self._rerun(plan, changed=[r for r in plan.task_runs if r.state is State.RESTARTED])

    async def _on_replay(self, request: ReplayRequested) -> None:
        new_id = request.new_execution_id
        if self.is_known(new_id) or await self.store.existing_executions([new_id]):
            return  # a redelivered request: the new id is its idempotency key
        found = await self._recorded(request.execution_id)
        if found is None:
            log.warning("replay of %s: no such execution", request.execution_id)
            return
        try:
            plan = plan_replay(
                *found,
                new_execution_id=new_id,
                from_task_run_id=request.task_run_id,
                now=self.clock.now(),
            )
        except RerunRefused as exc:
            log.warning("replay refused: %s", exc)
            return
        await self._rerun(plan, changed=list(plan.task_runs))
        # as Kestra, the replayed execution says so (system.replayed)
        await self._relabel(*found, {"system.replayed": "true"})

    async def _rerun(self, plan: Rerun, *, changed: list[TaskRunChanged]) -> None:
        header = plan.header
        flow = await self.flows.get(header.namespace, header.flow_id, header.revision)
        if flow is None:
            log.warning("%s: flow %s/%s is gone", plan, header.namespace, header.flow_id)
            return
        await self.publish_event(header)
        for run in changed:
            await self.publish_event(run)
        await self._admit(flow, header.model_copy(update={"seq": plan.last_seq}), plan.task_runs)

    async def _on_labels(self, request: LabelsRequested) -> None:
        owned = self._owned.get(request.execution_id)
        if owned is not None:
            owned.walk.labels.update(request.labels)
            await owned.walk.set_state(owned.walk.header.state)
            return
        queued = self._queued.relabel(request.execution_id, request.labels, self.clock.now())
        if queued is not None:
            await self.publish_event(queued)
            return
        found = await self._recorded(request.execution_id)
        if found is None:
            log.warning("labels of %s: no such execution", request.execution_id)
            return
        await self._relabel(*found, request.labels)

    async def _on_conditions_met(self, met: ConditionsMet) -> None:
        """Count an upstream execution in a Flow trigger's windows; run the trigger's
        request when they are full. This executor owns the listening flow, so it is the
        only writer of these windows (engine/trigger_windows.py)."""
        scope = window_scope(met)
        state, request = merge(await self.store.get_trigger_state(scope), met)
        if request is not None:  # first: a crash before the state is saved fires it again
            request = request.model_copy(update={"requested_at": self.clock.now()})
            existing = await self.store.existing_executions([request.execution_id])
            await self._on_requested(request, existing)
        self.ownership.refuse_if_frozen()
        await self.store.set_trigger_state(scope, state)

    async def _relabel(
        self, header: ExecutionChanged, runs: list[TaskRunChanged], labels: Mapping[str, str]
    ) -> None:
        """New labels on an execution no walk owns (same state, newer seq)."""
        changed = header.model_copy(
            update={
                "labels": {**header.labels, **labels},
                "seq": max([header.seq, *(r.seq for r in runs)]) + 1,
                "at": self.clock.now(),
            }
        )
        await self.publish_event(changed)
        if changed.state.is_terminal:
            self._remember(changed)

    async def _on_status_change(self, request: StatusChangeRequested) -> None:
        """Kestra's change-status: an ended execution gets another terminal state, as one
        event the store takes (`status_changed_seq`); its task runs stay as they are."""
        if request.execution_id in self._owned or request.execution_id in self._queued:
            log.info("status change of %s: it has not ended", request.execution_id)
            return
        found = await self._recorded(request.execution_id)
        if found is None:
            log.warning("status change of %s: no such execution", request.execution_id)
            return
        header, runs = found
        if not header.state.is_terminal or not request.state.is_terminal:
            log.warning("status change of %s refused: %s to %s", request.execution_id,
                        header.state, request.state)  # fmt: skip
            return
        if header.state is request.state:
            return
        seq = max([header.seq, *(r.seq for r in runs)]) + 1
        changed = header.model_copy(
            update={"state": request.state, "seq": seq, "at": self.clock.now(),
                    "status_changed_seq": seq}
        )  # fmt: skip
        await self.publish_event(changed)
        self._remember(changed)

    async def _on_task_run_state(self, request: TaskRunStateRequested) -> None:
        if request.execution_id in self._owned or request.execution_id in self._queued:
            log.info("task run state of %s: it has not ended", request.execution_id)
            return
        found = await self._recorded(request.execution_id)
        if found is None:
            log.warning("task run state of %s: no such execution", request.execution_id)
            return
        try:
            plan, published = plan_mark(
                *found, request.task_run_id, request.state, self.clock.now()
            )
        except RerunRefused as exc:
            log.warning("task run state refused: %s", exc)
            return
        self._finished.pop(request.execution_id, None)
        await self._rerun(plan, changed=list(published))

    async def _on_unqueue(self, execution_id: str, state: State) -> None:
        """Out of the concurrency queue: RUNNING starts it past the limit, another
        (terminal) state ends it."""
        recorded = self._queued.recorded.get(execution_id, ())
        queued = self._queued.remove(execution_id)
        if queued is None:
            log.info("unqueue of %s: it is not queued here", execution_id)
            return
        if state is not State.RUNNING:
            await self.end_early(queued, state, f"unqueued as {state.value}")
            return
        flow = await self.flows.get(queued.namespace, queued.flow_id, queued.revision)
        if flow is None:
            await self.end_early(queued, State.FAILED, "the flow no longer exists")
            return
        self._start(flow, queued, recorded, queued.seq)

    async def _on_force_run(self, request: ForceRunRequested) -> None:
        if request.execution_id in self._queued:
            await self._on_unqueue(request.execution_id, State.RUNNING)
            return
        owned = self._owned.get(request.execution_id)
        if owned is None or not owned.walk.force_start():
            log.info("force run of %s: it is not waiting to start", request.execution_id)

    async def _refuse(self, header: ExecutionChanged, reason: str) -> None:
        log.warning(
            "execution %s of %s/%s refused: %s",
            header.execution_id,
            header.namespace,
            header.flow_id,
            reason,
        )
        await self.end_early(header, State.FAILED, reason)

    async def end_early(self, header: ExecutionChanged, state: State, reason: str) -> None:
        now = self.clock.now()
        ended = header.model_copy(
            update={
                "state": state,
                "seq": header.seq + 1,
                "at": now,
                "ended_at": now,
                "error": reason,
            }
        )
        await self.publish_event(ended)
        self._remember(ended)
        if ended.parent is not None:
            await self._notify_parent(ended)

    # -- owning walks -----------------------------------------------------------------

    def _start(self, flow: Flow, header: ExecutionChanged, recorded: Any, last_seq: int) -> None:
        assert self._group is not None
        walk = ExecutionWalk(self.runtime, flow, header, recorded=recorded, last_seq=last_seq)
        owned = _Owned(walk)
        self._owned[header.execution_id] = owned
        self._running.setdefault(flow.key, set()).add(header.execution_id)
        owned.task = self._group.create_task(
            self._drive(owned), name=f"execution {header.execution_id}"
        )
        if any(isinstance(s, sla.MaxDurationSla) for s in flow.sla):
            end = partial(self._end_by_sla, owned)
            owned.sla_watch = self._group.create_task(
                sla.watch_durations(walk, self.clock, end), name=f"sla of {header.execution_id}"
            )

    async def _end_by_sla(self, owned: _Owned, state: State, reason: str) -> None:
        """Stop a walk as an SLA says: its running task runs are KILLED, then it ends in
        `state` (FAILED or CANCELLED) with `reason`."""
        walk = owned.walk
        if owned.task is None or owned.task.done() or walk.is_killing or walk.is_leaving:
            return  # ended, killed, or left to its next owner (which checks again)
        walk.ended_by = (state, reason)
        walk.is_killing = True
        owned.task.cancel()

    async def _drive(self, owned: _Owned) -> None:
        walk = owned.walk
        try:
            await walk.run()
        except asyncio.CancelledError:
            if not walk.is_killing or walk.is_abandoned or self.runtime.is_shutting_down:
                raise
            # our own kill: the walk recorded KILLED; this task ends normally
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
        except Exception as exc:
            lost = _events_lost(exc)
            if lost is not None:  # not the execution's fault: resumed after the resync
                self.ownership.lost(lost)
                walk.is_abandoned = True
                return
            log.exception("execution %s crashed in the executor", walk.execution_id)
            with contextlib.suppress(Exception):
                await walk.set_state(State.FAILED, error="internal error in the executor")
        finally:
            if owned.sla_watch is not None:
                owned.sla_watch.cancel()
            self._owned.pop(walk.execution_id, None)
            self._running.get(walk.flow.key, set()).discard(walk.execution_id)
        self._remember(walk.header)
        try:
            if walk.header.parent is not None and walk.header.state.is_terminal:
                await self._notify_parent(walk.header)
            await self.admit_queued(walk.flow.key)
        except EventsLost as exc:
            self.ownership.lost(exc)

    def _plan_retry(
        self, header: ExecutionChanged, policy: Retry | None
    ) -> ExecutionRequested | None:
        """A `retry` with behavior CREATE_NEW_EXECUTION (the flow's or a task's)."""
        return plan_retry(header, policy, self.clock.now(), random.random())

    async def admit_queued(self, key: str) -> None:
        while (first := self._queued.first(key)) is not None and not self._is_stopping:
            flow = await self.flows.get(first.namespace, first.flow_id, first.revision)
            if flow is None:
                await self.end_early(
                    self._queued.pop(key), State.FAILED, "the flow no longer exists"
                )
                continue
            limit = flow.concurrency.limit if flow.concurrency else None
            if limit is not None and len(self._running.get(key, ())) >= limit:
                return
            recorded = self._queued.recorded.get(first.execution_id, ())
            header = self._queued.pop(key)
            self._start(flow, header, recorded, header.seq)

    def _remember(self, header: ExecutionChanged) -> None:
        self._finished[header.execution_id] = header
        while len(self._finished) > self.settings.remembered_executions:
            self._finished.popitem(last=False)

    async def _on_kill(self, request: KillRequested) -> None:
        owned = self._owned.get(request.execution_id)
        if owned is not None and owned.task is not None:
            # an Exit's own kill may come when its walk has just recorded the end
            if not owned.walk.is_killing and not owned.walk.header.state.is_terminal:
                owned.walk.is_killing = True
                await owned.walk.set_state(State.KILLING)
                owned.task.cancel()
            return
        queued = self._queued.remove(request.execution_id)
        if queued is not None:
            await self.end_early(queued, State.KILLED, "killed while queued")

    async def _notify_parent(self, header: ExecutionChanged) -> None:
        parent = header.parent
        assert parent is not None
        await self._publish_request(
            ChildExecutionEnded(
                namespace=parent.namespace,
                flow_id=parent.flow_id,
                parent_execution_id=parent.execution_id,
                parent_task_run_id=parent.task_run_id,
                child_execution_id=header.execution_id,
                state=header.state,
                outputs=header.outputs,
            )
        )

    # -- the bus ------------------------------------------------------------------------

    async def publish_event(self, event: Any) -> None:
        # Sent, not awaited: events are flushed before a request's offset is committed,
        # before partitions are given up and before reading the projection back.
        self.ownership.refuse_if_frozen()
        await self.bus.send(self.topics.events, event.key, encode(event))

    async def _publish_request(self, request: Any) -> None:
        self.ownership.refuse_if_frozen()
        await self.bus.publish(self.topics.requests, request.key, encode(request))

    async def _fetch_logs(self, execution_id: str, **query: Any) -> Any:
        await self.await_projection()
        return await self.store.logs(execution_id, **query)

    async def _fetch_execution(
        self, execution_id: str
    ) -> tuple[ExecutionChanged, list[TaskRunChanged]] | None:
        await self.await_projection()
        header = await self.store.get_execution(execution_id)
        if header is None:
            return None
        return header, await self.store.task_runs(execution_id)

    async def await_projection(self) -> None:
        """Until the store holds every event this executor (and anyone) published so far."""
        await self.bus.flush()
        if self.wait_projected is not None:
            await self.wait_projected()


def _warning(header: ExecutionChanged, message: str, now: datetime) -> LogsEmitted:
    return LogsEmitted(
        execution_id=header.execution_id,
        namespace=header.namespace,
        flow_id=header.flow_id,
        seq=header.seq,
        at=now,
        lines=(LogLine(at=now, level="WARN", message=message),),
    )


def _events_lost(exc: BaseException) -> EventsLost | None:
    """The EventsLost in `exc`, also inside the groups the walk's task groups raise."""
    if isinstance(exc, EventsLost):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _events_lost(inner)
            if found is not None:
                return found
    return None
