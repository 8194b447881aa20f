"""`jsonable`: what a task returns, as the plain JSON values events carry."""

from __future__ import annotations

import enum
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import PurePosixPath
from uuid import UUID

import orjson

from engine.values import jsonable


class Color(enum.Enum):
    RED = "red"


class Size(enum.StrEnum):
    BIG = "big"


def test_plain_values_come_back_as_they_are() -> None:
    outputs = {"value": "x", "n": 1, "ok": True, "none": None, "list": [1, "two", [3]]}
    assert jsonable(outputs) == outputs
    assert jsonable(outputs) is not outputs  # a copy: the task may change its own later


def test_everything_else_becomes_json() -> None:
    at = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    given = {
        1: (at, date(2026, 12, 4)),
        "duration": timedelta(minutes=90),
        "enum": Color.RED,
        "decimals": [Decimal("2"), Decimal("2.5")],
        "bytes": b"\x00\x01",
        "path": PurePosixPath("/a/b"),
        "uuid": UUID(int=1),
        "set": {3},
        "nan": float("nan"),
        "ordered": OrderedDict(b=1),
        "size": Size.BIG,  # a str already: kept as it is, and written as its value
    }
    result = jsonable(given)
    assert result == {
        "1": ["2026-12-04T16:00:00+00:00", "2026-12-04"],
        "duration": "PT1H30M",
        "enum": "red",
        "decimals": [2, 2.5],
        "bytes": "AAE=",
        "path": "/a/b",
        "uuid": "00000000-0000-0000-0000-000000000001",
        "set": [3],
        "nan": "nan",
        "ordered": {"b": 1},
        "size": Size.BIG,
    }
    assert orjson.loads(orjson.dumps(result))["size"] == "big"
