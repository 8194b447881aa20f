"""Tasks that wait: flow.Sleep and flow.Pause."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import model_validator

from engine.durations import parse_duration
from engine.errors import TaskFailed
from engine.inputs import Input
from engine.plugin import DurationOrTemplate, RunContext, Task, plugin

__all__ = ["TASKS", "Pause", "Sleep"]


def _duration(ctx: RunContext, value: Any) -> Any:
    return parse_duration(ctx.render_text(value)) if isinstance(value, str) else value


@plugin("io.kestra.plugin.core.flow.Sleep")
class Sleep(Task):
    """Wait for a while before going on to the next task.

    The wait holds no worker slot: any number of executions may sleep at once.
    """

    uses_worker_slot: ClassVar[bool] = False

    duration: DurationOrTemplate
    """How long to wait: an ISO-8601 duration (`PT30S`, `PT1H`), or a template that
    renders to one."""

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        await ctx.sleep(_duration(ctx, self.duration).total_seconds())
        return None


@plugin("io.kestra.plugin.core.flow.Pause")
class Pause(Task):
    """Pause the execution until it is resumed, or for `pauseDuration`.

    After `pauseDuration` the `behavior` applies: RESUME (default), WARN, FAIL or CANCEL.
    Without a duration, `timeout` bounds the wait and a timeout fails the task.
    """

    uses_worker_slot: ClassVar[bool] = False

    pauseDuration: DurationOrTemplate | None = None
    behavior: Literal["RESUME", "WARN", "FAIL", "CANCEL"] = "RESUME"
    # inputs given with the resume (the API validates them): outputs.<id>.onResume.<input>
    onResume: list[Input] | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_delay(cls, data: Any) -> Any:
        # Kestra 0.x called the duration `delay`.
        if isinstance(data, dict) and "delay" in data:
            data = dict(data)
            data.setdefault("pauseDuration", data.pop("delay"))
        return data

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        if self.pauseDuration is None:
            await ctx.pause(delay=None, timeout=None)
            return self._resumed(ctx, True)
        outcome = await ctx.pause(delay=_duration(ctx, self.pauseDuration), timeout=None)
        if outcome == "RESUMED" or self.behavior == "RESUME":
            return self._resumed(ctx, outcome == "RESUMED")
        if self.behavior == "WARN":
            ctx.logger.warning("the pause ended without a resume")
            ctx.warn()
            return {"resumed": False}
        raise TaskFailed(f"the pause ended without a resume (behavior {self.behavior})")

    def _resumed(self, ctx: RunContext, resumed: bool) -> dict[str, Any]:
        given = ctx.resume_inputs()
        if not self.onResume:
            return {"resumed": resumed}
        return {"resumed": resumed, "onResume": dict(given)}


TASKS: tuple[type, ...] = (Pause, Sleep)
