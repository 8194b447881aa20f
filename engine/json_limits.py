"""JSON from a client, parsed with a bound on nesting.

Python's parser recurses once per level: a body of 100,000 `[` raises RecursionError (a
500 where a 400 belongs), and a structure a few hundred levels deep parses but breaks
later, where orjson (at most 254 levels) writes it onto the bus. `loads` refuses anything
nested deeper than `MAX_DEPTH` with a `TooDeep` (a ValueError, so every caller that
handles bad JSON handles it), before the value goes anywhere.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "TooDeep", "check_depth", "loads"]

# Levels of objects and arrays; the flow YAML loader has the same bound.
MAX_DEPTH = 64


class TooDeep(ValueError):
    """A value nested deeper than the bound."""


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads`, refusing a document nested deeper than `max_depth` levels."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels") from None
    check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise TooDeep when `value` (already parsed) nests deeper than `max_depth`; walks
    with an explicit stack, so the check itself cannot recurse too deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > max_depth:
            raise TooDeep(f"JSON nested deeper than {max_depth} levels")
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
