"""Rendering a task's properties at run time and checking what they render to.

Kestra lets every property of these tasks be a template (`header: "{{ inputs.h }}"`), so
the models accept text wherever a boolean, a number, a duration or a list is expected,
and the task asks for the typed value here when it runs. A value that renders to the
wrong kind fails the task with the property's name, never with a Python traceback.

Shared by every task family (http, jdbc, notifications, …).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import orjson

from engine.durations import parse_duration
from engine.errors import TaskFailed
from engine.plugin import RunContext

__all__ = [
    "masks_failures",
    "render_choice",
    "render_flag",
    "render_integer",
    "render_mapping",
    "render_seconds",
    "render_strings",
    "render_text",
]

_TRUE = {"true", "1", "yes", "on"}
T = TypeVar("T")
R = TypeVar("R")


def masks_failures(
    run: Callable[[T, RunContext], Coroutine[Any, Any, R]],
) -> Callable[[T, RunContext], Coroutine[Any, Any, R]]:
    """Decorate a task's `run`: its failure message (a URL, a statement …) may hold a
    secret the execution revealed, and the engine records that message as it is."""

    @functools.wraps(run)
    async def run_masked(self: T, ctx: RunContext) -> R:
        try:
            return await run(self, ctx)
        except TaskFailed as exc:
            raise TaskFailed(ctx.mask(str(exc))) from None

    return run_masked


_FALSE = {"false", "0", "no", "off", ""}


def render_text(ctx: RunContext, value: Any, name: str) -> str | None:
    """A string property, rendered; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return ctx.render_text(value)
    rendered = ctx.render(value)
    if isinstance(rendered, Mapping | list | tuple):
        return orjson.dumps(rendered).decode()
    return str(rendered)


def render_flag(ctx: RunContext, value: Any, name: str) -> bool | None:
    """A boolean property: `true`/`false` or a template that renders to one."""
    if value is None or isinstance(value, bool):
        return value
    text = str(render_text(ctx, value, name)).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise TaskFailed(f"property '{name}' must be true or false, not {text!r}")


def render_integer(
    ctx: RunContext, value: Any, name: str, *, minimum: int | None = None
) -> int | None:
    """An integer property (a number or a template rendering to one)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TaskFailed(f"property '{name}' must be a whole number, not {value!r}")
    text = value if isinstance(value, int) else str(render_text(ctx, value, name)).strip()
    try:
        number = int(text)
    except ValueError:
        raise TaskFailed(f"property '{name}' must be a whole number, not {text!r}") from None
    if minimum is not None and number < minimum:
        raise TaskFailed(f"property '{name}' must be at least {minimum}, not {number}")
    return number


def render_seconds(ctx: RunContext, value: Any, name: str) -> float | None:
    """A duration property (ISO-8601 such as PT30S, or seconds) in seconds."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(render_text(ctx, value, name)).strip()
    try:
        seconds = parse_duration(float(text) if _is_number(text) else text).total_seconds()
    except ValueError as exc:
        raise TaskFailed(f"property '{name}': {exc}") from None
    if seconds < 0:
        raise TaskFailed(f"property '{name}' cannot be negative: {text!r}")
    return seconds


def render_choice(ctx: RunContext, value: Any, name: str, choices: Iterable[str]) -> str | None:
    """One of a fixed set of upper-case words (FETCH, CSV …), case-insensitive."""
    text = render_text(ctx, value, name)
    if text is None:
        return None
    allowed = tuple(choices)
    word = text.strip().upper().replace("-", "_")
    if word not in allowed:
        raise TaskFailed(f"property '{name}' must be one of {', '.join(allowed)}, not {text!r}")
    return word


def render_strings(ctx: RunContext, value: Any, name: str) -> list[str]:
    """A list of strings: a YAML list (each item rendered) or a template rendering to a
    JSON array. A single plain string is a list of one."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(render_text(ctx, item, name)) for item in value]
    text = str(render_text(ctx, value, name)).strip()
    if text.startswith("["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise TaskFailed(f"property '{name}' is not a JSON list: {text[:200]!r}") from None
        return [i if isinstance(i, str) else orjson.dumps(i).decode() for i in items]
    return [text] if text else []


def render_mapping(ctx: RunContext, value: Any, name: str) -> dict[str, Any]:
    """A map: a YAML map (keys and values rendered) or a template rendering to JSON."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in ctx.render(dict(value)).items()}
    text = str(render_text(ctx, value, name)).strip()
    try:
        parsed = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        raise TaskFailed(f"property '{name}' is not a map: {text[:200]!r}") from None
    if not isinstance(parsed, dict):
        raise TaskFailed(f"property '{name}' must be a map, not {type(parsed).__name__}")
    return parsed


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
