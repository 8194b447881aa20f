"""Backfill: run a Schedule trigger's slots over a past range, as if it had fired then.

    backfill(flows, ctx, namespace, flow_id, trigger_id, start, end, …) -> BackfillResult
        what the API (inside the server) and the command line both call
    backfill_command(args, open_data) -> int
        `podium trigger backfill NAMESPACE FLOW TRIGGER --start … [--end …]`: opens the
        data folder with `open_data` (the command line passes one that opens it as
        `podium flow run --data` does), publishes, and exits; the executions run when
        Podium next starts on that folder. Only one process may open an embedded data
        folder: stop the server first (or use the API's backfill route).

A backfilled slot is exactly the slot the schedule would have fired: the same
`trigger.date/next/previous`, the same claim key and the same execution id. So a slot
that already ran (claimed by the runner or by an earlier backfill) is not run again, and
two backfills over one range fire each slot once. The trigger's date conditions apply (a
slot they refuse is reported, not fired); lateMaximumDelay does not (Kestra ignores it for
backfills too).

`rerun=True` runs already-run slots again, as new executions. The original claim is kept
(the slot did run; its execution keeps its id and history); the n-th rerun of a slot
claims `<slot key>#rerun-<n>` instead, and that string is also the firing's item, so each
rerun gets an execution id of its own and is itself recorded once, even when two
backfills rerun the same range at the same time.

Range: [start, end), end defaulting to now and clamped to now: a backfill never fires a
slot that is not due yet (the runner would then find it claimed and skip it). A time
without an offset is read in the trigger's zone. Labels: the trigger's, then the given
ones, then `backfill: "true"`, which marks every backfilled execution (the label Podium
documents for Kestra users to filter on; Kestra itself only offers custom labels).
Inputs: the trigger's (rendered), then the given ones.

A slot whose request is refused is released, so the next backfill may try it again.
Errors that concern every slot alike (the flow is gone or disabled, inputs do not match
the flow, the bus is unavailable) stop the backfill at the first slot they hit, with the
exception; slots fired before it stay fired.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, TextIO

from engine.errors import ConfigError, InputError, PodiumError, TransientError
from engine.flows import FlowRepository
from engine.intake import FlowNotFound
from engine.settings import Settings, load_settings
from triggers.base import TriggerContext, trigger_scope
from triggers.cron import as_utc
from triggers.schedule import Schedule, ScheduleSlots, slot_key

__all__ = ["BACKFILL_LABEL", "BackfillResult", "ProgressLine", "backfill", "backfill_command"]

BACKFILL_LABEL = ("backfill", "true")
MAX_SLOTS = 100_000  # per call: a larger range is backfilled in parts
MAX_RERUNS = 1_000  # reruns of one slot

Progress = Callable[[int, int], Awaitable[None] | None]
SlotProgress = Callable[[int, int, datetime], Awaitable[None] | None]
# What the command needs of a data folder: its flows and a trigger context on its bus.
OpenData = Callable[[Settings], AbstractAsyncContextManager[tuple[FlowRepository, TriggerContext]]]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class BackfillResult:
    """What a backfill did, slot by slot (slots are ISO-8601 in the trigger's zone)."""

    total: int
    fired: tuple[tuple[str, str], ...] = ()  # (slot, execution id), reruns included
    already_run: tuple[str, ...] = ()  # claimed before: not run again (rerun=False)
    refused: tuple[str, ...] = ()  # the trigger's conditions refused them
    failed: tuple[tuple[str, str], ...] = ()  # (slot, why): not published, released

    def __repr__(self) -> str:
        return (
            f"<BackfillResult {self.total} slots: {len(self.fired)} fired, "
            f"{len(self.already_run)} already run, {len(self.refused)} refused, "
            f"{len(self.failed)} failed>"
        )


async def backfill(
    flows: FlowRepository,
    ctx: TriggerContext,
    namespace: str,
    flow_id: str,
    trigger_id: str,
    start: datetime,
    end: datetime | None,
    *,
    inputs: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    rerun: bool = False,
    progress: Progress | None = None,
    on_slot: SlotProgress | None = None,
    default_zone: tzinfo | None = None,
) -> BackfillResult:
    """Fire the slots of a Schedule trigger in [start, end) (see the module docstring).

    `progress(done, total)` and `on_slot(done, total, slot)` are told after each slot.
    Raises FlowNotFound (no such flow), ValueError (no such Schedule trigger, an empty or
    too large range), and InputError / TransientError from publishing."""
    flow = await flows.get(namespace, flow_id)
    if flow is None:
        raise FlowNotFound(f"flow {namespace}/{flow_id} not found")
    trigger = next((t for t in flow.triggers if t.id == trigger_id), None)
    if not isinstance(trigger, Schedule):
        kind = "no trigger" if trigger is None else f"trigger {trigger.type}, not a Schedule,"
        raise ValueError(f"flow {flow.key} has {kind} with id {trigger_id!r}")
    slots = ScheduleSlots.of(flow, trigger, ctx, default_zone)
    zone = slots.cron.zone
    now = ctx.clock.now()
    first = _aware(start, zone)
    last = now if end is None else min(_aware(end, zone), now, key=as_utc)
    if as_utc(first) >= as_utc(last):
        raise ValueError(
            f"nothing to backfill between {first.isoformat()} and {last.isoformat()}: "
            "start must be before end, and in the past"
        )
    dates: list[datetime] = []
    for slot in slots.cron.range(first, last):
        if len(dates) == MAX_SLOTS:
            raise ValueError(f"more than {MAX_SLOTS} slots in that range: backfill it in parts")
        dates.append(slot)

    run = _Backfill(ctx, slots, inputs, {**(labels or {}), BACKFILL_LABEL[0]: BACKFILL_LABEL[1]})
    for done, slot in enumerate(dates, start=1):
        await run.one(slot, rerun=rerun)
        for reported in (
            progress(done, len(dates)) if progress is not None else None,
            on_slot(done, len(dates), slot) if on_slot is not None else None,
        ):
            if inspect.isawaitable(reported):
                await reported
    return BackfillResult(
        total=len(dates),
        fired=tuple(run.fired),
        already_run=tuple(run.already_run),
        refused=tuple(run.refused),
        failed=tuple(run.failed),
    )


class _Backfill:
    """One backfill's firings and what became of each slot."""

    def __init__(
        self,
        ctx: TriggerContext,
        slots: ScheduleSlots,
        inputs: Mapping[str, Any] | None,
        labels: Mapping[str, str],
    ) -> None:
        self.ctx, self.slots, self.inputs, self.labels = ctx, slots, inputs, labels
        self.scope = trigger_scope(slots.flow, slots.trigger)
        self.fired: list[tuple[str, str]] = []
        self.already_run: list[str] = []
        self.refused: list[str] = []
        self.failed: list[tuple[str, str]] = []

    def __repr__(self) -> str:
        return f"<backfill {self.scope} fired={len(self.fired)}>"

    async def one(self, slot: datetime, *, rerun: bool) -> None:
        date = slot.isoformat()
        try:
            if not self.slots.accepts(slot):
                self.refused.append(date)
                return
            variables = await self.slots.variables(slot)
        except Exception as exc:  # a condition that cannot be evaluated: this slot only
            self.failed.append((date, f"conditions failed: {exc}"))
            return
        key = slot_key(slot)
        item: str | None = key if await self.ctx.state.claim(self.scope, [key]) else None
        if item is None and rerun:
            item = await self._claim_rerun(key)
        if item is None:
            self.already_run.append(date)
            return
        try:
            request = await self.ctx.fire(
                self.slots.flow,
                self.slots.trigger,
                variables=variables,
                item=item,
                inputs=self.inputs,
                labels=self.labels,
                check_inputs=True,  # the user who asked for the backfill is told at once
            )
        except asyncio.CancelledError:
            await self.ctx.state.release(self.scope, [item])  # maybe unpublished: free it
            raise
        except PodiumError as exc:
            await self.ctx.state.release(self.scope, [item])  # not run: a later backfill may
            if isinstance(exc, InputError | FlowNotFound | TransientError):
                raise  # every slot would fail alike
            self.failed.append((date, str(exc)))
        else:
            self.fired.append((date, request.execution_id))

    async def _claim_rerun(self, key: str) -> str:
        for number in range(1, MAX_RERUNS + 1):
            item = f"{key}#rerun-{number}"
            if await self.ctx.state.claim(self.scope, [item]):
                return item
        raise ValueError(f"slot {key} was rerun {MAX_RERUNS} times already")


def _aware(moment: datetime, zone: tzinfo) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


# ---------------------------------------------------------------------------
# The command line


def _pairs(items: Sequence[str] | Mapping[str, str] | None, what: str) -> dict[str, str]:
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} must look like key=value, got {item!r}")
        out[key] = value
    return out


def _when(value: str | datetime | None, what: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{what} must be an ISO-8601 date-time, got {value!r}") from None


class ProgressLine:
    """`backfill: n/total slots` on stderr. On a terminal one line redrawn in place and
    erased by `close()`, so what is printed next starts on a clean line; elsewhere (a
    pipe, a log file) whole lines, every `every` slots and at the end."""

    def __init__(self, out: TextIO = sys.stderr, *, every: int = 100) -> None:
        self.out = out
        self.is_terminal = out.isatty()
        self.every = every
        self._is_drawn = False

    def __repr__(self) -> str:
        return f"<ProgressLine terminal={self.is_terminal}>"

    def show(self, done: int, total: int) -> None:
        text = f"backfill: {done}/{total} slots"
        if self.is_terminal:
            self.out.write("\r\x1b[K" + text)
            self._is_drawn = True
        elif done == total or done % self.every == 0:
            self.out.write(text + "\n")
        self.out.flush()

    def close(self) -> None:
        if self._is_drawn:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._is_drawn = False


async def backfill_command(args: argparse.Namespace, open_data: OpenData) -> int:
    """`podium trigger backfill`: args has namespace, flow, trigger, start, end (ISO
    strings or datetimes), input and label (lists of key=value), rerun, data, config."""
    try:
        start = _when(args.start, "--start")
        if start is None:
            raise ValueError("--start is required")
        end = _when(getattr(args, "end", None), "--end")
        inputs = _pairs(getattr(args, "input", None), "--input")
        labels = _pairs(getattr(args, "label", None), "--label")
        settings = load_settings(getattr(args, "config", None), overrides={"data": args.data})
    except (ValueError, ConfigError) as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return EXIT_USAGE

    progress = ProgressLine()
    async with open_data(settings) as (flows, ctx):
        try:
            result = await backfill(
                flows,
                ctx,
                args.namespace,
                args.flow,
                args.trigger,
                start,
                end,
                inputs=inputs,
                labels=labels,
                rerun=bool(getattr(args, "rerun", False)),
                progress=progress.show,
            )
        except (ValueError, FlowNotFound, InputError) as exc:
            progress.close()
            print(f"podium: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except PodiumError as exc:  # the store or the bus failed: what fired stays fired
            progress.close()
            print(f"podium: backfill interrupted: {exc}", file=sys.stderr)
            return EXIT_FAILED
        finally:
            progress.close()
    for date, execution_id in result.fired:
        print(f"{date}  {execution_id}")
    sys.stdout.flush()  # the list before the summary, also when both go to one pipe
    for date, why in result.failed:
        print(f"{date}  not fired: {why}", file=sys.stderr)
    summary = [f"{len(result.fired)} of {result.total} slots fired"]
    if result.already_run:
        summary.append(f"{len(result.already_run)} already run (--rerun runs them again)")
    if result.refused:
        summary.append(f"{len(result.refused)} refused by the trigger's conditions")
    if result.failed:
        summary.append(f"{len(result.failed)} failed")
    tail = f"; they run when Podium starts on {settings.data}" if result.fired else ""
    print(", ".join(summary) + tail, file=sys.stderr)
    return EXIT_FAILED if result.failed else EXIT_OK
