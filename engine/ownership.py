"""Partition ownership: which executions an executor owns, and taking them over.

One executor owns every execution of the flows whose partitions of the requests topic
it holds (DESIGN.md, "Partition by flow"). `PartitionOwnership` is the subscription's
`PartitionListener` and decides what the executor may walk; the executor
(engine/executor.py) keeps the intake and the walks, and is asked through `Walks`.

Assigned: wait until the projector has stored every event published so far, claim the
unfinished executions of those partitions in a new owner epoch (engine/fencing.py:
whatever a previous owner that does not know it lost them still publishes is ignored
from there on), and resume them from the store (finished task runs keep their recorded
outputs; the others run again).

Revoked: the walks of those partitions get a short grace period to finish, then are
abandoned without recording anything, so their next owner resumes them.

Two things make it take everything over again rather than go on from memory: events
the bus could not write (`EventsLost`: `lost()`, then `resync()`), and an event loop
that stood still long enough for the group to move its partitions (the stall watch,
`_tick`): from then on nothing is published until the group assigns partitions again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from engine.bus.base import Bus, Subscription, Topics
from engine.clock import Clock
from engine.errors import EventsLost, TransientError
from engine.events import ExecutionChanged, TaskRunChanged
from engine.fencing import claim_seq
from engine.flow import Flow
from engine.flows import FlowRepository
from engine.recovery import count as recovery_count
from engine.recovery import is_running
from engine.states import State
from engine.store.base import Store

__all__ = ["PartitionOwnership", "Walks"]

log = logging.getLogger("podium.executor")

T = TypeVar("T")
MAX_BACKOFF_SECONDS = 5.0
TICK_SECONDS = 0.1  # how often the stall watch looks at the clock


class Walks(Protocol):
    """What ownership asks of the executor that walks the executions."""

    @property
    def is_stopping(self) -> bool: ...

    def is_known(self, execution_id: str) -> bool:
        """Walked, queued or recently ended here."""
        ...

    async def let_go(self, held: Callable[[str], bool], *, grace: float) -> None:
        """Drop what it holds of the flows (keys) `held` accepts."""
        ...

    async def take_over(
        self, flow: Flow, claim: ExecutionChanged, recorded: tuple[TaskRunChanged, ...]
    ) -> None:
        """Walk (or queue) a claimed execution from its recorded task runs."""
        ...

    async def admit_queued(self, key: str) -> None: ...

    async def end_early(self, header: ExecutionChanged, state: State, reason: str) -> None: ...

    async def publish_event(self, event: Any) -> None: ...

    async def await_projection(self) -> None: ...

    async def patiently(self, call: Callable[[], Awaitable[T]], what: str) -> T: ...


class PartitionOwnership:
    """The partitions of the requests topic one executor holds (see the module docstring).

    `handling` is held by a batch of requests or by an assignment or revocation: one or
    the other, so a request of a partition given up is never started here as well as by
    its next owner."""

    def __init__(
        self,
        walks: Walks,
        bus: Bus,
        store: Store,
        flows: FlowRepository,
        *,
        topics: Topics,
        clock: Clock,
        revoke_grace_seconds: float,
        max_recoveries: int,
    ) -> None:
        self.walks = walks
        self.bus = bus
        self.store = store
        self.flows = flows
        self.topics = topics
        self.clock = clock
        self.revoke_grace_seconds = revoke_grace_seconds
        self.max_recoveries = max_recoveries
        self.partitions: set[int] = set()  # held by this executor
        self.partition_of: dict[str, int] = {}  # flow key → partition
        self.handling = asyncio.Lock()
        self.subscription: Subscription | None = None
        self.recovering = 0  # partitions being recovered (health)
        self.needs_resync = False  # some events were not written: see `resync`
        # Set when the event loop stood still long enough for the group to have given
        # the partitions away (see `_tick`); cleared by the next assignment.
        self.is_frozen = False
        self._ticked = 0.0
        self._ticker: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<PartitionOwnership partitions={sorted(self.partitions)}>"

    def holds(self, partitions: set[int] | None) -> Callable[[str], bool]:
        """Whether a flow (key) is in these partitions (None: in any)."""
        return lambda key: partitions is None or self.partition_of.get(key) in partitions

    # -- the group's calls (PartitionListener) -------------------------------------

    async def on_assigned(self, partitions: list[int]) -> None:
        self.is_frozen = False  # the group just assigned these: this member is current
        self.partitions.update(partitions)
        self.recovering += 1
        try:
            async with self.handling:
                await self._recover(set(partitions))
        except EventsLost as exc:  # the intake loop takes every partition over again
            self.lost(exc)
        finally:
            self.recovering -= 1

    async def on_revoked(self, partitions: list[int]) -> None:
        """Stop work on these partitions before the group hands them to someone else."""
        async with self.handling:  # after the batch of requests in hand, if any
            revoked = set(partitions)
            self.partitions -= revoked
            await self.walks.let_go(self.holds(revoked), grace=self.revoke_grace_seconds)
            try:
                await self.bus.flush()  # the next owner must see every event of these
            except EventsLost as exc:  # the next owner's claim fences what follows the gap
                self.lost(exc)

    # -- the stall watch --------------------------------------------------------------

    def start_watch(self) -> None:
        self._tick()

    def stop_watch(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _tick(self) -> None:
        """A process frozen past its group's session timeout (a long GC or VM pause,
        SIGSTOP) has lost its partitions without knowing it, and its walks and fetched
        requests would go on when it wakes. A plain timer callback runs before the tasks
        the wake-up resumes, so this sees the gap first: from then on nothing is
        published (`refuse_if_frozen`), the intake drops what it fetched, and `resync`
        abandons everything and asks the group to assign partitions again;
        `on_assigned` then takes them over from the store."""
        limit = self.bus.session_timeout
        if limit is None:
            return  # partitions never move: nothing to watch
        loop = asyncio.get_running_loop()
        now = loop.time()
        stood_still = now - self._ticked
        if self._ticked and stood_still > limit / 2 and not self.is_frozen:
            log.warning(
                "the event loop stood still for %.1fs (the group's session timeout is %gs): "
                "publishing nothing until the group assigns partitions again",
                stood_still,
                limit,
            )
            self.is_frozen = self.needs_resync = True
        self._ticked = now
        if not self.walks.is_stopping:
            self._ticker = loop.call_later(TICK_SECONDS, self._tick)

    def refuse_if_frozen(self) -> None:
        if self.is_frozen:
            raise EventsLost("not published: this executor may have lost its partitions")

    # -- taking everything over again ---------------------------------------------------

    def lost(self, exc: EventsLost) -> None:
        if not self.needs_resync:
            log.error("events were not written (%s): taking every partition over again", exc)
        self.needs_resync = True

    async def resync(self) -> None:
        """Some events were not written, so what the executor holds in memory may differ
        from the log: drop all of it, forget the failure, and take the partitions over
        again from the store (claims included: whatever was still on its way from before
        the gap is fenced off)."""
        delay = 0.05
        while self.needs_resync and not self.walks.is_stopping:
            await self.walks.let_go(self.holds(None), grace=0)
            self.bus.discard_failed()
            self.needs_resync = False
            if self.is_frozen:  # not ours to take back: the group says what is (`on_assigned`)
                if self.subscription is not None:
                    self.subscription.rejoin()
                return
            try:
                await self._recover(set(self.partitions))
            except TransientError as exc:
                self.needs_resync = True
                log.warning("taking the partitions over again failed (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    # -- claims -----------------------------------------------------------------------

    async def _partition(self, namespace: str, flow_id: str) -> int:
        key = f"{namespace}/{flow_id}"
        partition = self.partition_of.get(key)
        if partition is None:
            partition = await self.bus.partition_of(self.topics.requests, key)
            self.partition_of[key] = partition
        return partition

    async def _recover(self, partitions: set[int]) -> None:
        """Take over the unfinished executions of these partitions, fenced
        (engine/fencing.py): claim each in a new epoch, wait until the claims are
        projected, then read them again and resume them. The second read holds whatever
        their previous owner published before the claims; what it publishes after them
        does not count."""
        walks = self.walks
        await walks.await_projection()
        claims: dict[str, tuple[Flow, ExecutionChanged]] = {}
        for unfinished in await walks.patiently(
            self.store.unfinished_executions, "reading unfinished executions"
        ):
            header = unfinished.execution
            if await self._partition(
                header.namespace, header.flow_id
            ) not in partitions or walks.is_known(header.execution_id):
                continue
            claim = header.model_copy(
                update={"seq": claim_seq(unfinished.last_seq), "at": self.clock.now()}
            )
            flow = await self.flows.get(header.namespace, header.flow_id, header.revision)
            if flow is None:
                await walks.end_early(claim, State.FAILED, "the flow no longer exists")
                continue
            if is_running(header):
                recovery = recovery_count(
                    header.labels, unfinished.task_runs, limit=self.max_recoveries
                )
                claim = claim.model_copy(update={"labels": recovery.labels})
                if recovery.failure is not None:
                    log.error("execution %s: %s", header.execution_id, recovery.failure)
                    await walks.end_early(claim, State.FAILED, recovery.failure)
                    continue
            await walks.publish_event(claim)
            claims[header.execution_id] = (flow, claim)
        if not claims:
            return
        await walks.await_projection()
        recovered: set[str] = set()
        for unfinished in await walks.patiently(
            self.store.unfinished_executions, "reading claimed executions"
        ):
            found = claims.get(unfinished.execution.execution_id)
            if found is None or walks.is_known(unfinished.execution.execution_id):
                continue  # not ours, ended before the claim, or already back in hand
            flow, claim = found
            recovered.add(flow.key)
            await walks.take_over(flow, claim, unfinished.task_runs)
        for key in recovered:
            await walks.admit_queued(key)
