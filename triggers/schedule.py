"""io.kestra.plugin.core.trigger.Schedule: the model, its slots, and the runner that fires them.

How to read this module
    Schedule        the YAML model. The cron expression and the time zone are checked when
                    the flow is saved: a bad one is a located FlowDefinitionError, never a
                    runtime surprise.
    Cron            (triggers/cron.py) pure slot arithmetic: the slot after/before an
                    instant, the slots of a range, with the DST rule below.
    ScheduleSlots   a trigger's slots as a flow sees them: its date conditions, and the
                    `trigger.date/next/previous` variables of a slot (shared with backfill).
    ScheduleRunner  the loop the TriggerService runs for each live Schedule trigger.

Why cronsim
    It is the cron evaluator of healthchecks.io: strict (out-of-range values, and dates no
    month has such as `0 0 31 2 *`, are errors: "Bad day-of-month"), it knows L, LW, nth
    weekday (`MON#1`), names, and 0 or 7 for Sunday, and it has a seconds field (six
    fields, seconds first) for `withSeconds`. Its DST handling (Debian cron's) covers
    5-field expressions only, so the rule below is applied here, to both forms, rather
    than relying on it: cronsim walks naive wall-clock times, this module maps them to
    instants.

The DST rule (Debian cron's)
    A wall-clock job, whose minute and hour fields are both fixed (do not start with `*`),
    e.g. `30 2 * * *` or `@daily`, follows the local wall clock:
      - fall-back: a wall time that happens twice fires once, at its first occurrence;
      - spring-forward: a wall time that does not exist fires once, at the first valid
        instant after the gap (02:30 on the day Europe/Berlin skips 02:00-03:00 fires at
        03:00 CEST; several slots in one gap fire once).
    An interval job, whose minute or hour field starts with `*` (`*/15 * * * *`, `@hourly`),
    follows elapsed time: the repeated hour of a fall-back is a real hour and runs again,
    and a gap holds nothing to run.

Each slot fires once
    A slot is keyed by its instant in UTC (`2026-03-29T01:00:00+00:00`), whatever the
    zone; the key is both the claim (`ctx.state.claim`) and the `item` whose hash is the
    execution id. A runner fires a slot only if it won the claim, so two scheduler
    processes, a restart, a flow edit or a re-enabled trigger never fire a slot twice, and
    the executor would drop a repeat anyway (same execution id). Before claiming, the slot
    is written to the trigger state as `pending`; a runner that starts and finds a pending
    slot (its predecessor died between claim and publish, or publishing failed transiently)
    publishes it again: at-least-once publishing, exactly-once execution. A runner
    cancelled while firing finishes the firing first (it is shielded).

Trigger state (`ctx.state`, keyed by namespace/flow/trigger, kept across revisions)
    {"last": slot evaluated last (UTC), "revision": the flow revision that ran, "pending",
     "watch": fired execution ids stopAfter still waits for, "stopped": why stopAfter
     disabled the trigger, "next": the next slot, for humans}

Missed slots, restarts and edits
    A trigger seen for the first time starts from now (no backfill of the past; use
    `podium trigger backfill`). Otherwise every loop turn looks at the slots in
    (last, now]: the newest one, if it is at most DUE_GRACE old, is simply due (so a slot
    that falls during a flow edit or a quick restart fires even with NONE); the others are
    missed and follow `recoverMissedSchedules` (ALL: each, oldest first - Kestra's
    default; LAST: the newest only; NONE: none). `lateMaximumDelay` then skips any slot
    older than it. Slots missed while the trigger or its flow was disabled (or deleted, or
    the trigger absent) in a revision between the one that last ran and the current one
    are not recovered: the runner starts from now, as Kestra does on re-enabling.

stopAfter
    The runner watches the executions it fired (up to MAX_WATCHED) and reads their state
    when it wakes (at least every `wake_seconds`). When one is in a `stopAfter` state the
    trigger stops: `stopped` is stored, nothing fires, and the trigger is disabled as the
    API disables it (`ctx.disable`). It starts again from now when it is enabled again
    (the API, the UI, trigger.Toggle, or `reenable()`), or when the trigger is disabled
    and enabled again in the flow. Reading execution state needs
    a store with `existing_executions` (the TriggerContext's state store is one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import ValidationInfo, field_validator

from engine.errors import PodiumError, TransientError
from engine.events import ExecutionChanged, ExecutionRequested
from engine.flow import Flow
from engine.plugin import Condition, Duration, Trigger, plugin
from triggers.base import TriggerContext, TriggerStateStore, trigger_scope
from triggers.cron import (
    Cron,
    as_utc,
    iso_or_none,
    parse_cron,
    server_zone,
    slot_key,
    zone_named,
)
from triggers.schedule_conditions import applies_to_schedules

__all__ = [
    "TRIGGERS",
    "RUNNERS",
    "Cron",
    "Schedule",
    "ScheduleRunner",
    "ScheduleSlots",
    "parse_cron",
    "reenable",
    "schedule_zone",
    "server_zone",
    "slot_key",
]

log = logging.getLogger("podium.triggers.schedule")

RecoverPolicy = Literal["ALL", "LAST", "NONE"]

DUE_GRACE = timedelta(minutes=1)
FIRE_TIMEOUT = 30.0  # seconds one publish may take before the runner restarts and retries
MAX_RECOVERED = 10_000  # missed slots recovered at most at once (the newest)
MAX_WATCHED = 100
MAX_REVISIONS_SCANNED = 200
CONDITION_LOOKAHEAD = 1_000  # slots tried to find the next/previous one conditions accept


# ---------------------------------------------------------------------------
# The model


@plugin("io.kestra.plugin.core.trigger.Schedule")
class Schedule(Trigger):
    """Run the flow at each slot of a cron expression (see the module docstring)."""

    withSeconds: bool = False  # before `cron`: its validator reads it
    cron: str
    timezone: str | None = None
    recoverMissedSchedules: RecoverPolicy | None = None  # None: the runner's default (ALL)
    lateMaximumDelay: Duration | None = None
    # Kestra's deprecated in-flow backfill, which Kestra 1.x no longer reads: accepted
    # so old flows load, with a deprecation warning (engine/flow_compat.py); backfills
    # are the API's, the UI's and `podium trigger backfill` (triggers.backfill).
    backfill: dict[str, Any] | None = None

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str, info: ValidationInfo) -> str:
        parse_cron(value, with_seconds=bool(info.data.get("withSeconds", False)))
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone_named(value)
        return value

    @property
    def fields(self) -> tuple[str, ...]:
        return parse_cron(self.cron, with_seconds=self.withSeconds)


def schedule_zone(trigger: Schedule, default: tzinfo | None = None) -> tzinfo:
    """The zone a trigger's cron is read in: its `timezone`, else `default`, else the server's."""
    if trigger.timezone:
        return zone_named(trigger.timezone)
    return default or server_zone()


@dataclass
class ScheduleSlots:
    """A Schedule trigger's slots as its flow sees them: filtered by the trigger's date
    conditions, each with the `trigger` variables an execution of it gets."""

    flow: Flow
    trigger: Schedule
    cron: Cron
    renderer: Any
    envs: Mapping[str, str] = field(default_factory=dict)
    conditions: tuple[Condition, ...] = field(init=False)
    _reads_neighbours: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        self.conditions = tuple(c for c in self.trigger.conditions if applies_to_schedules(c))
        spelled = " ".join(c.model_dump_json() for c in self.conditions)
        self._reads_neighbours = "next" in spelled or "previous" in spelled

    def __repr__(self) -> str:
        return f"<ScheduleSlots {self.flow.key}/{self.trigger.id} {self.cron!r}>"

    @classmethod
    def of(
        cls, flow: Flow, trigger: Schedule, ctx: TriggerContext, default_zone: tzinfo | None = None
    ) -> ScheduleSlots:
        cron = Cron(trigger.fields, schedule_zone(trigger, default_zone))
        return cls(flow, trigger, cron, ctx.renderer, ctx.envs)

    def _plain_variables(self, slot: datetime) -> dict[str, Any]:
        return {
            "date": iso_or_none(slot),
            "next": iso_or_none(self.cron.next_after(slot)),
            "previous": iso_or_none(self.cron.previous_before(slot)),
        }

    def accepts(self, slot: datetime) -> bool:
        """Whether the trigger's conditions let this slot fire. Raises what they raise."""
        if not self.conditions:
            return True
        # next/previous cost two cron walks: computed only for conditions that mention them
        variables = (
            self._plain_variables(slot) if self._reads_neighbours else {"date": iso_or_none(slot)}
        )
        facts = {
            "trigger": variables,
            "schedule": variables,
            "flow": {"id": self.flow.id, "namespace": self.flow.namespace},
            "envs": dict(self.envs),
        }
        return all(condition.test(facts, self.renderer) for condition in self.conditions)

    async def variables(self, slot: datetime) -> dict[str, Any]:
        """`trigger.date/next/previous` as ISO-8601 strings with the zone's offset. With
        conditions, next and previous are the nearest slots they accept (Kestra's
        behaviour), or None when none is found within CONDITION_LOOKAHEAD slots."""
        if not self.conditions:
            return self._plain_variables(slot)
        return {
            "date": iso_or_none(slot),
            "next": iso_or_none(await self._nearest_accepted(slot, reverse=False)),
            "previous": iso_or_none(await self._nearest_accepted(slot, reverse=True)),
        }

    async def _nearest_accepted(self, slot: datetime, *, reverse: bool) -> datetime | None:
        for tried, candidate in enumerate(self.cron.walk(slot, reverse=reverse)):
            if tried >= CONDITION_LOOKAHEAD:
                return None
            if tried % 64 == 63:
                await asyncio.sleep(0)  # a long search must not hold the event loop
            try:
                if self.accepts(candidate):
                    return candidate
            except Exception:  # a condition that cannot be evaluated accepts nothing
                return None
        return None


# ---------------------------------------------------------------------------
# The runner


@runtime_checkable
class ExecutionReader(Protocol):
    """What stopAfter needs of the store: the state of the executions a trigger fired."""

    async def existing_executions(
        self, execution_ids: Sequence[str]
    ) -> Mapping[str, ExecutionChanged]: ...


@dataclass
class _State:
    last: datetime
    revision: int | None = None
    pending: str | None = None
    watch: list[str] = field(default_factory=list)
    stopped: dict[str, Any] | None = None
    next: str | None = None

    @classmethod
    def load(cls, data: Mapping[str, Any], *, now: datetime) -> _State:
        try:
            last = as_utc(datetime.fromisoformat(str(data["last"])))
        except (KeyError, ValueError):
            last = now  # unreadable: start from now rather than guess a past
        revision = data.get("revision")
        return cls(
            last=last,
            revision=revision if isinstance(revision, int) else None,
            pending=data.get("pending") or None,
            watch=[str(i) for i in data.get("watch") or []],
            stopped=data.get("stopped") or None,
            next=data.get("next"),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "v": 1,
            "last": self.last.isoformat(),
            "revision": self.revision,
            "pending": self.pending,
            "watch": list(self.watch),
            "stopped": self.stopped,
            "next": self.next,
        }


async def reenable(store: TriggerStateStore, scope: str, *, now: datetime) -> bool:
    """Start a trigger that stopAfter stopped again, from `now` (slots missed while it was
    stopped are not recovered). Returns False when it was not stopped."""
    data = await store.get_trigger_state(scope)
    if not data or not data.get("stopped"):
        return False
    state = _State.load(data, now=as_utc(now))
    state.stopped = None
    state.last = max(state.last, as_utc(now))
    await store.set_trigger_state(scope, state.dump())
    return True


class ScheduleRunner:
    """Fires the slots of one Schedule trigger for as long as it runs (a TriggerRunner).

    `default_zone` is the zone of triggers without `timezone` (default: the server's);
    `recover_default` the policy of those without `recoverMissedSchedules`."""

    def __init__(
        self,
        *,
        default_zone: tzinfo | None = None,
        recover_default: RecoverPolicy = "ALL",
        due_grace: timedelta = DUE_GRACE,
        wake_seconds: float = 60.0,
    ) -> None:
        self.default_zone = default_zone
        self.recover_default: RecoverPolicy = recover_default
        self.due_grace = due_grace
        # Sleeps are cut into pieces this long: a wall clock that jumped (a suspended
        # laptop, NTP) is noticed, and stopAfter reads the watched executions this often.
        self.wake_seconds = wake_seconds

    def __repr__(self) -> str:
        return (
            f"<ScheduleRunner zone={self.default_zone or 'server'} recover={self.recover_default}>"
        )

    async def run(self, flow: Flow, trigger: Trigger, ctx: TriggerContext) -> None:
        if not isinstance(trigger, Schedule):
            raise TypeError(f"ScheduleRunner cannot run {trigger!r}")
        await _ScheduleLoop(self, flow, trigger, ctx).run()


class _ScheduleLoop:
    """One run of one trigger (what ScheduleRunner.run does), with its state at hand."""

    def __init__(
        self, runner: ScheduleRunner, flow: Flow, trigger: Schedule, ctx: TriggerContext
    ) -> None:
        self.runner = runner
        self.flow = flow
        self.trigger = trigger
        self.ctx = ctx
        self.scope = trigger_scope(flow, trigger)
        self.slots = ScheduleSlots.of(flow, trigger, ctx, runner.default_zone)
        self.policy: RecoverPolicy = trigger.recoverMissedSchedules or runner.recover_default
        state_store = ctx.state
        self.reader = (
            state_store if trigger.stopAfter and isinstance(state_store, ExecutionReader) else None
        )
        if trigger.stopAfter and self.reader is None:
            log.warning("%r: this store cannot report execution states; stopAfter is ignored", self)

    def __repr__(self) -> str:
        return f"<schedule {self.scope} {self.slots.cron.expression!r}>"

    async def run(self) -> None:
        state = await self._start()
        cron, clock = self.slots.cron, self.ctx.clock
        upcoming: tuple[datetime, datetime | None] | None = None  # (last, slot after it)
        while True:
            state = await self._watch(state)
            if state.stopped is not None:
                state = await self._wait_reenabled(state)
                continue
            now = as_utc(clock.now())
            if upcoming is None or upcoming[0] != state.last:
                upcoming = (state.last, cron.next_after(state.last))  # once per slot, not per wake
            slot = upcoming[1]
            if slot is not None and as_utc(slot) <= now:
                await self._handle(state, cron.latest(state.last, now, MAX_RECOVERED + 1), now)
                continue
            wait = self.runner.wake_seconds
            if slot is not None:
                wait = min(wait, (as_utc(slot) - now).total_seconds())
            await clock.sleep(wait)

    async def _start(self) -> _State:
        now = as_utc(self.ctx.clock.now())
        data = await self.ctx.state.get_trigger_state(self.scope)
        if data is None:
            state = _State(last=now)  # a new trigger starts from now: no backfill
        else:
            state = _State.load(data, now=now)
            if state.pending is not None:  # due while enabled: published whatever came after
                await self._publish_again(state.pending)
                state.pending = None
            if await self._was_disabled_since(state.revision):
                log.info("%r was disabled since it last ran: starting from now", self)
                state.last = max(state.last, now)
                state.stopped, state.watch = None, []
        state.revision = self.flow.revision
        await self._save(state)
        return state

    async def _handle(self, state: _State, due: list[datetime], now: datetime) -> None:
        """Fire what is due among the slots in (last, now], then move `last` past them."""
        if len(due) > MAX_RECOVERED:
            log.warning(
                "%r: more than %d missed slots; only the newest are considered", self, MAX_RECOVERED
            )
            due = due[-MAX_RECOVERED:]
        newest = due[-1]
        if self.policy == "ALL":
            chosen = due
        elif self.policy == "LAST" or now - as_utc(newest) <= self.runner.due_grace:
            chosen = [newest]  # NONE still fires the slot that is due right now
        else:
            chosen = []
        if len(chosen) < len(due):
            log.info(
                "%r: %d missed slot(s) not recovered (recoverMissedSchedules: %s)",
                self,
                len(due) - len(chosen),
                self.policy,
            )
        for slot in chosen:
            await self._evaluate(state, slot)
        if as_utc(newest) > state.last:  # skipped or refused slots are evaluated too
            state.last = as_utc(newest)
            await self._save(state)

    async def _evaluate(self, state: _State, slot: datetime) -> None:
        late = self.trigger.lateMaximumDelay
        lateness = as_utc(self.ctx.clock.now()) - as_utc(slot)
        if late is not None and lateness > late:
            log.warning(
                "%r: slot %s skipped: %s late (lateMaximumDelay %s)", self, slot, lateness, late
            )
            return
        try:
            if not self.slots.accepts(slot):
                log.debug("%r: slot %s refused by its conditions", self, slot)
                return
            variables = await self.slots.variables(slot)
        except Exception as exc:  # a condition that fails to evaluate: this slot only
            log.warning("%r: slot %s skipped: its conditions failed: %s", self, slot, exc)
            return
        async with asyncio.TaskGroup() as group:
            firing = group.create_task(self._fire(state, slot, variables), name=f"{self} {slot}")
            try:
                await asyncio.shield(firing)
            except asyncio.CancelledError:
                # A claimed slot must be published before the runner stops (an edit or a
                # shutdown cancels it): finish the firing, then let the cancellation go on.
                while not firing.done():
                    try:
                        await asyncio.wait([firing])
                    except asyncio.CancelledError:
                        continue
                raise
        error = firing.result()
        if error is not None:
            raise error

    async def _fire(
        self, state: _State, slot: datetime, variables: Mapping[str, Any]
    ) -> Exception | None:
        """pending → claim → publish → saved. Returns (does not raise) what failed, so the
        runner raises it outside the task group, and is restarted to publish the pending
        slot again."""
        key = slot_key(slot)
        try:
            state.pending = key
            await self._save(state)
            if await self.ctx.state.claim(self.scope, [key]):
                request = await self._publish(key, variables)
                if request is not None and self.reader is not None:
                    state.watch = [*state.watch, request.execution_id][-MAX_WATCHED:]
            state.pending = None
            state.last = max(state.last, as_utc(slot))
            await self._save(state)
        except Exception as exc:
            return exc
        return None

    async def _publish(self, key: str, variables: Mapping[str, Any]) -> ExecutionRequested | None:
        try:
            async with asyncio.timeout(FIRE_TIMEOUT):
                return await self.ctx.fire(self.flow, self.trigger, variables=variables, item=key)
        except TransientError:
            raise  # the slot stays pending: the restarted runner publishes it again
        except PodiumError as exc:  # bad inputs, a template error, a deleted flow: say so
            log.warning("%r: slot %s did not fire: %s", self, variables.get("date"), exc)
            return None

    async def _publish_again(self, key: str) -> None:
        slot = datetime.fromisoformat(key).astimezone(self.slots.cron.zone)
        log.info("%r: publishing slot %s again (its firing was interrupted)", self, slot)
        await self.ctx.state.claim(self.scope, [key])  # record it whoever won: same id
        await self._publish(key, await self.slots.variables(slot))

    async def _was_disabled_since(self, revision: int | None) -> bool:
        """Whether a revision between `revision` and this one disabled or lacked the trigger."""
        current = self.flow.revision
        if revision is None or current is None or current <= revision + 1:
            return False
        if current - revision - 1 > MAX_REVISIONS_SCANNED:
            return True  # too many edits to look at: assume the worst, recover nothing
        flows = self.ctx.intake.flows
        namespace, flow_id = self.flow.namespace, self.flow.id
        for past_revision in range(revision + 1, current):
            record = await flows.store.get_flow(namespace, flow_id, past_revision)
            past = await flows.get(namespace, flow_id, past_revision)
            if record is None or record.is_deleted or past is None or past.disabled:
                return True
            mine = next((t for t in past.triggers if t.id == self.trigger.id), None)
            if mine is None or mine.disabled:
                return True
        return False

    async def _watch(self, state: _State) -> _State:
        """Read the watched executions; stop the trigger if one is in a stopAfter state."""
        if self.reader is None or not state.watch:
            return state
        found = await self.reader.existing_executions(state.watch)
        waiting, stopped = [], state.stopped
        for execution_id in state.watch:
            execution = found.get(execution_id)
            if execution is None or not execution.state.is_terminal:
                waiting.append(execution_id)
            if (
                stopped is None
                and execution is not None
                and execution.state in self.trigger.stopAfter
            ):
                log.warning(
                    "%r stopped: execution %s is %s (stopAfter)",
                    self,
                    execution_id,
                    execution.state.value,
                )
                stopped = {
                    "state": execution.state.value,
                    "execution_id": execution_id,
                    "at": as_utc(self.ctx.clock.now()).isoformat(),
                }
        newly_stopped = stopped is not None and state.stopped is None
        if waiting != state.watch or stopped != state.stopped:
            state.watch, state.stopped = waiting, stopped
            await self._save(state)
        if newly_stopped and self.ctx.disable is not None:
            # disabled as the API would: enabling it again (API, UI, trigger.Toggle)
            # restarts it from now; this runner is cancelled meanwhile
            await self.ctx.disable(self.scope)
        return state

    async def _wait_reenabled(self, state: _State) -> _State:
        await self.ctx.clock.sleep(self.runner.wake_seconds)
        data = await self.ctx.state.get_trigger_state(self.scope)
        if data is None or data.get("stopped"):
            return state
        now = as_utc(self.ctx.clock.now())
        log.info("%r enabled again: starting from now", self)
        fresh = _State.load(data, now=now)
        fresh.last = max(fresh.last, now)
        fresh.watch = []
        await self._save(fresh)
        return fresh

    async def _save(self, state: _State) -> None:
        now = as_utc(self.ctx.clock.now())
        state.next = iso_or_none(self.slots.cron.next_after(max(state.last, now)))
        await self.ctx.state.set_trigger_state(self.scope, state.dump())


TRIGGERS: tuple[type, ...] = (Schedule,)
RUNNERS: dict[type, Any] = {Schedule: ScheduleRunner()}
