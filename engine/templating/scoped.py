"""`Scoped`: a context variable set for the time of a `with` block.

What the renders inside a block see through a template function (`read()`'s files,
`kv()`'s entries) travels in context variables, so parallel task runs each see their
own. A slotted class rather than a `@contextmanager` generator: one is entered for every
task run and every render, where a generator's frame and its wrapper cost several times
more.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Generic, TypeVar

__all__ = ["Scoped"]

T = TypeVar("T")


class Scoped(Generic[T]):
    """`with Scoped(variable, value):` — `variable` is `value` inside, as before after."""

    __slots__ = ("_token", "_value", "_variable")

    def __init__(self, variable: ContextVar[T], value: T) -> None:
        self._variable = variable
        self._value = value

    def __repr__(self) -> str:
        return f"Scoped({self._variable.name}={self._value!r})"

    def __enter__(self) -> None:
        self._token: Token[T] = self._variable.set(self._value)

    def __exit__(self, *exc: object) -> None:
        self._variable.reset(self._token)
