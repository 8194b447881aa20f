"""io.kestra.plugin.core.trigger.ScheduleOnDates: run a flow at each date of a list.

    dates                   ISO-8601 date-times with an offset (a list, or a template
                            that renders to one: checked when the runner starts)
    timezone                the zone `trigger.date` is given in (default: the server's)
    recoverMissedSchedules  ALL (default), LAST or NONE, as the Schedule's
    inputs, labels, conditions (the Schedule's date conditions); stopAfter is refused

Each date fires once, as a Schedule slot does: it is claimed in the store under its
instant in UTC, and its execution id derives from it, across restarts, scheduler
processes and flow edits. A trigger seen for the first time starts from now: dates
already past when it is deployed do not run. Dates missed while Podium was down follow
`recoverMissedSchedules`, except that a date at most DUE_GRACE old is simply due. The
execution gets `trigger.date` (the date, in `timezone`); Kestra gives no variables.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, tzinfo
from typing import Any

from pydantic import AwareDatetime, field_validator

from engine.durations import is_template
from engine.errors import PodiumError, TransientError
from engine.flow import Flow
from engine.plugin import Condition, Trigger, plugin
from triggers.base import TriggerContext, trigger_scope
from triggers.cron import as_utc, server_zone, slot_key, zone_named
from triggers.schedule import DUE_GRACE, FIRE_TIMEOUT, RecoverPolicy
from triggers.schedule_conditions import applies_to_schedules

__all__ = ["ScheduleOnDates", "ScheduleOnDatesRunner"]

log = logging.getLogger("podium.triggers.schedule_on_dates")

MAX_DATES = 10_000


@plugin("io.kestra.plugin.core.trigger.ScheduleOnDates")
class ScheduleOnDates(Trigger):
    """Run the flow at each of `dates` (see the module docstring)."""

    dates: list[AwareDatetime] | str
    timezone: str | None = None
    recoverMissedSchedules: RecoverPolicy | None = None

    @field_validator("dates")
    @classmethod
    def _check_dates(cls, value: list[datetime] | str) -> list[datetime] | str:
        if isinstance(value, str) and not is_template(value):
            raise ValueError("dates is a list of ISO-8601 date-times, or a template making one")
        if isinstance(value, list) and not 0 < len(value) <= MAX_DATES:
            raise ValueError(f"dates lists 1 to {MAX_DATES} date-times")
        return value

    @field_validator("stopAfter")
    @classmethod
    def _no_stop_after(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if value:
            raise ValueError(
                "stopAfter is not supported on ScheduleOnDates yet: a list of dates ends "
                "by itself; disable the trigger with the API or trigger.Toggle instead"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone_named(value)
        return value


def _parse(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is None:
        raise ValueError(f"{value!s} has no offset (write 2026-05-01T09:00:00+02:00 or ...Z)")
    return moment.replace(microsecond=0)  # Kestra truncates to seconds


class ScheduleOnDatesRunner:
    """Fires the dates of one ScheduleOnDates trigger (a TriggerRunner)."""

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
        self.wake_seconds = wake_seconds

    def __repr__(self) -> str:
        return f"<ScheduleOnDatesRunner recover={self.recover_default}>"

    async def run(self, flow: Flow, trigger: Trigger, ctx: TriggerContext) -> None:
        if not isinstance(trigger, ScheduleOnDates):
            raise TypeError(f"ScheduleOnDatesRunner cannot run {trigger!r}")
        scope = trigger_scope(flow, trigger)
        zone = zone_named(trigger.timezone) if trigger.timezone else self.default_zone
        zone = zone or server_zone()
        dates = self._dates(flow, trigger, ctx, zone)
        if dates is None:
            return
        conditions = tuple(c for c in trigger.conditions if applies_to_schedules(c))
        policy = trigger.recoverMissedSchedules or self.recover_default
        now = as_utc(ctx.clock.now())
        state = await ctx.state.get_trigger_state(scope)
        if state is None:
            state = {"last": now.isoformat()}  # a new trigger starts from now
        elif state.get("pending"):
            await self._publish(flow, trigger, ctx, conditions, _parse(state["pending"]), zone)
        state["pending"] = None
        await self._save(ctx, scope, state, dates)
        while True:
            now = as_utc(ctx.clock.now())
            last = as_utc(datetime.fromisoformat(str(state["last"])))
            due = [d for d in dates if last < d <= now]
            if due:
                chosen = due
                if policy == "NONE":
                    chosen = [d for d in due if now - d <= self.due_grace]
                elif policy == "LAST":
                    chosen = due[-1:]
                if len(chosen) < len(due):
                    log.info(
                        "%s: %d missed date(s) not recovered (recoverMissedSchedules: %s)",
                        scope,
                        len(due) - len(chosen),
                        policy,
                    )
                for date in chosen:
                    state["pending"] = slot_key(date)
                    await self._save(ctx, scope, state, dates)
                    if await ctx.state.claim(scope, [slot_key(date)]):
                        await self._publish(flow, trigger, ctx, conditions, date, zone)
                    state.update(pending=None, last=max(last, date).isoformat())
                    await self._save(ctx, scope, state, dates)
                state["last"] = due[-1].isoformat()
                await self._save(ctx, scope, state, dates)
                continue
            upcoming = next((d for d in dates if d > now), None)
            wait = self.wake_seconds
            if upcoming is not None:
                wait = min(wait, (upcoming - now).total_seconds())
            await ctx.clock.sleep(wait)

    def _dates(
        self, flow: Flow, trigger: ScheduleOnDates, ctx: TriggerContext, zone: tzinfo
    ) -> list[datetime] | None:
        """The dates, in UTC, sorted; None (logged) when a template makes no valid list."""
        raw: Any = trigger.dates
        try:
            if isinstance(raw, str):
                context = {"flow": {"id": flow.id, "namespace": flow.namespace}}
                raw = ctx.renderer.render_value(raw, {**context, "envs": dict(ctx.envs)})
                if isinstance(raw, str):
                    raw = [part for part in raw.strip("[] \n").split(",") if part.strip()]
            if not isinstance(raw, list) or not 0 < len(raw) <= MAX_DATES:
                raise ValueError(f"dates must make a list of 1 to {MAX_DATES} date-times")
            parsed = sorted({as_utc(_parse(str(v).strip().strip("'\""))) for v in raw})
        except (ValueError, PodiumError) as exc:
            log.error("trigger %s of %s fires nothing: %s", trigger.id, flow.key, exc)
            return None
        return parsed

    async def _publish(
        self,
        flow: Flow,
        trigger: ScheduleOnDates,
        ctx: TriggerContext,
        conditions: tuple[Condition, ...],
        date: datetime,
        zone: tzinfo,
    ) -> None:
        variables = {"date": date.astimezone(zone).isoformat()}
        facts = {
            "trigger": variables,
            "flow": {"id": flow.id, "namespace": flow.namespace},
            "envs": dict(ctx.envs),
        }
        try:
            if not all(c.test(facts, ctx.renderer) for c in conditions):
                log.debug("%s: date %s refused by its conditions", flow.key, date)
                return
        except Exception as exc:  # a condition that fails to evaluate: this date only
            log.warning("%s: date %s skipped: its conditions failed: %s", flow.key, date, exc)
            return
        try:
            async with asyncio.timeout(FIRE_TIMEOUT):
                await ctx.fire(flow, trigger, variables=variables, item=slot_key(date))
        except TransientError:
            raise  # pending stays: the restarted runner publishes it again
        except PodiumError as exc:
            log.warning("%s: date %s did not fire: %s", flow.key, date, exc)

    async def _save(
        self, ctx: TriggerContext, scope: str, state: dict[str, Any], dates: list[datetime]
    ) -> None:
        now = as_utc(ctx.clock.now())
        last = as_utc(datetime.fromisoformat(str(state["last"])))
        upcoming = next((d for d in dates if d > max(now, last)), None)
        state["next"] = upcoming.isoformat() if upcoming else None
        await ctx.state.set_trigger_state(scope, dict(state))


TRIGGERS: tuple[type, ...] = (ScheduleOnDates,)
RUNNERS: dict[type, Any] = {ScheduleOnDates: ScheduleOnDatesRunner()}
