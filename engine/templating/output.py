"""How values print in a template, and how a rendered string reads as a boolean.

Kestra prints through Pebble with a JSON writer, so flows depend on `{{ inputs.columns }}`
giving `["brand","price"]` (a script parses it with `json.loads`) and on
`{{ inputs.taxi == 'yellow' }}` giving `true` (an `If` condition compares it). Python's
`str()` would give `['brand', 'price']` and `True`, which breaks both.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Set
from decimal import Decimal
from typing import Any

import orjson
from jinja2 import Undefined

from engine.templating.dates import kestra_iso

__all__ = ["is_truthy", "to_json", "to_text"]

# Dates go through _json_default so they print as Kestra prints them.
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_FALSE_TEXTS = frozenset({"", "0", "-0"})


def to_text(value: Any) -> str:
    """The text of `value` inside a rendered template (see the module docstring)."""
    kind = type(value)
    if kind is str:  # by far the most common case; keep it first and cheap
        return value
    if kind is int or kind is float:  # `type is`, so bool does not match
        return str(value)
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return str(value)
    if kind is dict or kind is list or isinstance(value, (tuple, Mapping, Set)):
        return to_json(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        # Kestra prints dates in ISO 8601 with milliseconds and `Z` (see dates.kestra_iso).
        return kestra_iso(value)
    # Undefined lands here on purpose: its __str__ raises the "is undefined" error.
    return str(value)


def to_json(value: Any) -> str:
    """Compact JSON: non-str keys stringified, datetimes in ISO 8601."""
    try:
        return orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS).decode()
    except orjson.JSONEncodeError as exc:
        # orjson wraps what `default` raised; surface the real error (an undefined
        # variable inside a list must read as such, not as "not JSON serializable").
        if exc.__cause__ is not None:
            raise exc.__cause__ from None
        # Integers beyond 64 bits and similar: the stdlib is slower but has no such limit.
        return json.dumps(value, default=_json_default, separators=(",", ":"), ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # raises the undefined error with its message
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (Set, tuple)):
        return list(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return kestra_iso(value)
    return str(value)


def is_truthy(text: str) -> bool:
    """Kestra's truthiness of a rendered condition: only "false", "0", "-0" and "" are false."""
    stripped = text.strip()
    return not (stripped in _FALSE_TEXTS or stripped.lower() == "false")
