"""Budgets that stop a template from hanging the worker or exhausting its memory.

Rendering runs inline in the caller's thread (no watchdog thread or process: that would
cost more than most renders). Instead the generated code checks one `RenderBudget` at
the few places where work can grow without bound:

- every `{% for %}` iterable is wrapped by `guard_loop` (iteration count, and the deadline
  every 1024 iterations);
- every call made from template code checks the deadline (recursive macros, `loop()`);
- operators and methods that build big values (`'x' * n`, `~`, `str.ljust`, `join`, ...)
  refuse, *before* computing it, a result larger than the output limit;
- the renderer stops streaming output once it passes the limit.

The budget travels in a ContextVar so `render()` inside a template shares its parent's.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from engine.errors import TemplateError

if TYPE_CHECKING:
    from engine.templating.execution_functions import FileStore
    from engine.templating.secrets import SecretStore

__all__ = [
    "DEFAULT_MAX_LOOP_ITERATIONS",
    "DEFAULT_MAX_OUTPUT_CHARS",
    "DEFAULT_TIME_LIMIT",
    "RenderBudget",
    "check_binop",
    "check_call",
    "check_size",
    "current_budget",
    "enter_budget",
    "exit_budget",
    "guard_loop",
]

DEFAULT_MAX_OUTPUT_CHARS = 1_000_000
DEFAULT_MAX_LOOP_ITERATIONS = 1_000_000
DEFAULT_TIME_LIMIT = 2.0
# Integers this wide already take milliseconds per multiplication and cannot be printed
# (Python refuses int->str beyond 4300 digits); nothing legitimate needs more.
MAX_INT_BITS = 100_000
MAX_RENDER_DEPTH = 16
_CHECK_EVERY = 1024

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


class RenderBudget:
    """What one top-level render may still spend, plus the services it may use.

    A plain slotted class rather than a dataclass: one is built per render, and the
    dataclass __init__ with a __post_init__ cost a tenth of a cached render.
    """

    __slots__ = (
        "_next_check",
        "buffered_chars",
        "clock",
        "deadline",
        "depth",
        "iterations",
        "max_loop_iterations",
        "max_output_chars",
        "secrets",
        "storage",
        "time_limit",
    )

    def __init__(
        self,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        max_loop_iterations: int = DEFAULT_MAX_LOOP_ITERATIONS,
        time_limit: float = DEFAULT_TIME_LIMIT,
        secrets: SecretStore | None = None,
        clock: Callable[[], datetime] = utc_now,
        storage: FileStore | None = None,
    ) -> None:
        self.max_output_chars = max_output_chars
        self.max_loop_iterations = max_loop_iterations
        self.time_limit = time_limit
        self.secrets = secrets
        self.clock = clock
        self.storage = storage
        self.deadline = time.monotonic() + time_limit
        self.iterations = 0
        self.buffered_chars = 0
        self.depth = 0
        # min(), spelled out: the builtin cost a third of building a budget, once a render
        cap = max_loop_iterations + 1
        self._next_check = cap if cap < _CHECK_EVERY else _CHECK_EVERY

    def __repr__(self) -> str:
        return (
            f"<RenderBudget iterations={self.iterations}/{self.max_loop_iterations} "
            f"buffered={self.buffered_chars} depth={self.depth} "
            f"left={self.deadline - time.monotonic():.3f}s>"
        )

    def checkpoint(self) -> None:
        """Called every _CHECK_EVERY iterations, and exactly once past the cap."""
        if self.iterations > self.max_loop_iterations:
            raise TemplateError(
                f"template ran more than {self.max_loop_iterations} loop iterations"
            )
        self.check_deadline()
        self._next_check = min(self.iterations + _CHECK_EVERY, self.max_loop_iterations + 1)

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateError(f"template rendering took longer than {self.time_limit}s")

    def count_buffered(self, text: str) -> str:
        """Output written to a buffer ({% set %} blocks, macros) instead of streamed.

        Nested buffers count the same text again, hence the allowance of four outputs.
        """
        self.buffered_chars += len(text)
        if self.buffered_chars > 4 * self.max_output_chars:
            raise TemplateError(
                f"template buffered more than {4 * self.max_output_chars} characters"
            )
        return text


_current: ContextVar[RenderBudget | None] = ContextVar("podium_render_budget", default=None)


def current_budget() -> RenderBudget:
    """The budget of the render in progress; a fresh default one outside any render
    (Jinja folds constant filter calls at compile time, with no render in progress)."""
    budget = _current.get()
    return budget if budget is not None else RenderBudget()


def enter_budget(budget: RenderBudget) -> Token[RenderBudget | None]:
    """Install `budget` for a top-level render; pass the token to `exit_budget` after.

    Plain functions rather than a context manager: this runs on every render.
    """
    return _current.set(budget)


def exit_budget(token: Token[RenderBudget | None]) -> None:
    _current.reset(token)


def guard_loop(iterable: Iterable[T]) -> Iterator[T]:
    """Wraps every `{% for %}` iterable (see the code generator)."""
    budget = current_budget()
    for item in iterable:
        budget.iterations += 1
        if budget.iterations >= budget._next_check:
            budget.checkpoint()
        yield item


def output_too_long(limit: int) -> TemplateError:
    """The error of a render whose output grew over `limit` characters."""
    return TemplateError(f"output is longer than {limit} characters")


def check_size(size: int, what: str, limit: int | None = None) -> None:
    limit = current_budget().max_output_chars if limit is None else limit
    if size > limit:
        raise TemplateError(f"{what} would be {size} characters long, over the limit of {limit}")


def check_binop(operator: str, left: Any, right: Any, limit: int) -> None:
    """Refuse `left <operator> right` when the result would be huge, before computing it."""
    if operator == "*":
        if isinstance(left, int) and not isinstance(right, int):
            left, right = right, left
        if isinstance(right, int):
            if isinstance(left, (str, bytes, list, tuple)):
                check_size(len(left) * right, f"{type(left).__name__} repetition", limit)
            elif isinstance(left, int):
                _check_int_bits(left.bit_length() + right.bit_length())
    elif operator == "**":
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left) > 1
            and (left.bit_length() - 1) * right > MAX_INT_BITS
        ):
            _check_int_bits((left.bit_length() - 1) * right)
    elif operator == "+":
        if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, type(left)):
            check_size(len(left) + len(right), f"{type(left).__name__} concatenation", limit)
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right, limit)


def _check_int_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateError(f"integer result would have about {bits} bits, over {MAX_INT_BITS}")


_PERCENT_SPEC = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def check_percent_format(fmt: str, args: Any, limit: int) -> None:
    """`'%999999999d' % 1` and `'%*d' % (10**9, 1)` would allocate gigabytes."""
    values = args if isinstance(args, tuple) else (args,)
    for match in _PERCENT_SPEC.finditer(fmt):
        for number in match.groups():
            if number == "*":
                _check_format_numbers(values, limit)
            elif number is not None:
                check_size(int(number), "formatted field", limit)
    _check_format_total(fmt, fmt.count("%"), values, limit)


def _check_format_numbers(values: Iterable[Any], limit: int) -> None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            check_size(value, "formatted field", limit)


def _check_format_total(fmt: str, fields: int, values: Iterable[Any], limit: int) -> None:
    longest = max((len(v) for v in values if isinstance(v, (str, bytes))), default=0)
    check_size(len(fmt) + fields * longest, "formatted string", limit)


def check_str_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> None:
    """`'{:>999999999}'.format(1)` and `'{:{}}'.format(1, 10**9)`."""
    fields = 0
    for _, field_name, spec, _ in string.Formatter().parse(fmt):
        if field_name is None:
            continue
        fields += 1
        for number in _DIGITS.findall(spec or ""):
            check_size(int(number), "formatted field", limit)
        if spec and "{" in spec:
            _check_format_numbers((*args, *kwargs.values()), limit)
    _check_format_total(fmt, fields, (*args, *kwargs.values()), limit)


_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})


def check_call(
    obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int
) -> tuple[Any, ...]:
    """Size checks for the str/bytes methods that can grow a value far beyond its input.

    Returns the arguments to call with: an iterator given to `join` is materialized
    first, since its size can only be checked once it is a list.
    """
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(target, "__self__", None)
    if not isinstance(owner, (str, bytes)):
        return args
    name = getattr(target, "__name__", "")
    if name in _WIDTH_METHODS:
        width = args[0] if args else kwargs.get("width", 0)
        if isinstance(width, int):
            check_size(width, f"{name}() result", limit)
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tabsize, int):
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            check_size(len(owner) + tabs * tabsize, "expandtabs() result", limit)
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, type(owner)) and isinstance(new, type(owner)):
            text: Any = owner  # str or bytes, with `old` of the same type
            occurrences = text.count(old) if old else len(owner) + 1
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                occurrences = min(occurrences, args[2])
            check_size(len(owner) + occurrences * len(new), "replace() result", limit)
    elif name == "join" and args:
        items = args[0] if isinstance(args[0], (list, tuple)) else list(args[0])
        total = len(owner) * max(len(items) - 1, 0)
        total += sum(len(i) for i in items if isinstance(i, (str, bytes)))
        check_size(total, "join() result", limit)
        args = (items, *args[1:])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, (str, bytes))), default=1)
        check_size(len(owner) * longest, "translate() result", limit)
    elif name in ("format", "format_map") and isinstance(owner, str):
        mapping = args[0] if name == "format_map" and args else kwargs
        check_str_format(
            owner,
            args if name == "format" else (),
            dict(mapping) if isinstance(mapping, dict) else {},
            limit,
        )
    return args
