"""Turning whatever a task returns into plain JSON values, the only thing events carry."""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from uuid import UUID

from engine.durations import format_duration

__all__ = ["jsonable"]


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of `value`: datetimes ISO-8601, durations ISO-8601, etc."""
    # Exact types first: a task's outputs are mostly strings and numbers in dicts and
    # lists, and `isinstance` against the ABCs below costs several times a type check.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): jsonable(v) for k, v in value.items()}
    if kind is list:
        return [jsonable(v) for v in value]
    if isinstance(value, str | bool | int):  # their subclasses (a StrEnum's member too)
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, PurePath | UUID):
        return str(value)
    return str(value)
