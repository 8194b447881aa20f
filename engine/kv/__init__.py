"""The namespace key/value store's model: keys, typed values, entries and the change record.

A KV entry is a value with one of Kestra's seven types (STRING, NUMBER, BOOLEAN, DATETIME,
DATE, DURATION, JSON), a description, created/updated dates, an optional expiration and a
revision. Values are kept as JSON: dates and durations as their ISO-8601 text, so what a
template prints is what Kestra prints. `KvChanged` is the one record that changes an
entry; it travels on the `kv` topic keyed by `namespace/key` and the KV projector
(engine/kv/projector.py) is the only writer of the rows (docs/architecture.md says why).

Reads inherit: a key not set in `company.team.data` is looked up in `company.team`, then
`company` (Kestra's rule, only when the caller names no namespace).

The package: this module (the model), `service.py` (reads, and changes that wait for
their projection), `projector.py` (the one writer), `loading.py` (the entries a task's
`kv()` calls need, read before it runs), `cli.py` (`podium kv`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from engine.durations import format_duration, parse_duration
from engine.events import new_event_id

__all__ = [
    "INLINE_VALUE_BYTES",
    "KvChanged",
    "KvEntry",
    "KvError",
    "KvRows",
    "KvType",
    "ancestors",
    "check_key",
    "check_namespace",
    "infer_type",
    "parse_text_value",
    "typed_value",
]

# Values whose JSON is larger than this are kept in internal storage and the row points
# to them, so a record on the bus and a row in the store stay small.
INLINE_VALUE_BYTES = 64 << 10
# Past this a value is refused: KV is for configuration and small state, not for data.
MAX_VALUE_BYTES = 32 << 20

_KEY = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
_NAMESPACE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")


class KvError(ValueError):
    """A key, namespace or value the store refuses; the message says what to change."""


class KvType(StrEnum):
    STRING = "STRING"
    NUMBER = "NUMBER"
    BOOLEAN = "BOOLEAN"
    DATETIME = "DATETIME"
    DATE = "DATE"
    DURATION = "DURATION"
    JSON = "JSON"


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY.match(key) or len(key) > 255:
        raise KvError(
            f"invalid KV key {key!r}: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit, at most 255 characters)"
        )
    return key


def check_namespace(namespace: Any) -> str:
    if (
        not isinstance(namespace, str)
        or not _NAMESPACE.match(namespace)
        or ".." in namespace
        or namespace.endswith(".")
        or len(namespace) > 255
    ):
        raise KvError(f"invalid namespace {namespace!r}")
    return namespace


def ancestors(namespace: str) -> list[str]:
    """The namespace, then each parent up to the root: `a.b.c` -> [a.b.c, a.b, a]."""
    parts = namespace.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


# -- typed values -------------------------------------------------------------------


def infer_type(value: Any) -> KvType:
    """The type Kestra gives a value it was handed without `kvType`."""
    if isinstance(value, bool):
        return KvType.BOOLEAN
    if isinstance(value, int | float):
        return KvType.NUMBER
    if isinstance(value, datetime):
        return KvType.DATETIME
    if isinstance(value, date):
        return KvType.DATE
    if isinstance(value, timedelta):
        return KvType.DURATION
    if isinstance(value, dict | list | tuple):
        return KvType.JSON
    return KvType.STRING


def _parse_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise KvError(f"{text!r} is not an ISO-8601 date-time (2026-01-31T10:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _as_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise KvError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        return value
    try:
        parsed = json.loads(str(value))
    except ValueError:
        parsed = None
    if isinstance(parsed, bool) or not isinstance(parsed, int | float):
        raise KvError(f"{value!r} is not a number")
    return parsed


def _as_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise KvError(f"the value is not JSON: {exc}") from None
    return value


def _as_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return _parse_datetime(text).date().isoformat()


def _as_datetime(value: Any) -> str:
    moment = value if isinstance(value, datetime) else _parse_datetime(str(value))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _as_duration(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    try:
        return format_duration(parse_duration(str(value)))
    except ValueError:
        raise KvError(f"{value!r} is not an ISO-8601 duration (PT1H30M)") from None


def typed_value(value: Any, kv_type: KvType | str | None = None) -> tuple[KvType, Any]:
    """The value as stored (JSON-ready) and its type: `kv_type` converts a value given as
    text (Kestra's `kvType`); without it the type follows the value."""
    if value is None:
        raise KvError("a KV value cannot be null")
    wanted = KvType(kv_type) if kv_type is not None else infer_type(value)
    if wanted is KvType.STRING:
        return wanted, value if isinstance(value, str) else json.dumps(value, default=str)
    if wanted is KvType.NUMBER:
        return wanted, _as_number(value)
    if wanted is KvType.BOOLEAN:
        return wanted, value if isinstance(value, bool) else str(value).strip().lower() == "true"
    if wanted is KvType.DATETIME:
        return wanted, _as_datetime(value)
    if wanted is KvType.DATE:
        return wanted, _as_date(value)
    if wanted is KvType.DURATION:
        return wanted, _as_duration(value)
    result = _as_json(value)
    return wanted, list(result) if isinstance(result, tuple) else result


_DURATION_TEXT = re.compile(r"^-?P(?=\d|T\d)")


def parse_text_value(text: str) -> tuple[KvType, Any]:
    """A value sent as text (the REST API's PUT body, the CLI), read as Kestra reads it:
    JSON (`"a"`, `42`, `true`, `{...}`), an ISO date-time, date or duration, else the
    text itself as a STRING."""
    stripped = text.strip()
    try:
        return typed_value(json.loads(stripped))
    except (ValueError, KvError):
        pass
    if re.match(r"^\d{4}-\d{2}-\d{2}$", stripped):
        return typed_value(stripped, KvType.DATE)
    if re.match(r"^\d{4}-\d{2}-\d{2}T", stripped):
        try:
            return typed_value(stripped, KvType.DATETIME)
        except KvError:
            pass
    if _DURATION_TEXT.match(stripped):
        try:
            return typed_value(stripped, KvType.DURATION)
        except KvError:
            pass
    return KvType.STRING, text


# -- entries and changes ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KvEntry:
    """One stored entry. `value` is None when the value lives at `value_uri`."""

    namespace: str
    key: str
    type: KvType
    value: Any
    value_uri: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    revision: int
    event_id: str

    def __repr__(self) -> str:
        return f"<KvEntry {self.namespace}/{self.key} {self.type} rev={self.revision}>"

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def kestra_json(self) -> dict[str, Any]:
        """Kestra's `KVEntry`, as its list endpoints return it."""
        return {
            "namespace": self.namespace,
            "key": self.key,
            "type": self.type.value,  # not in Kestra's shape; the UI shows it
            "revision": self.revision,
            "description": self.description,
            "creationDate": self.created_at,
            "updateDate": self.updated_at,
            "expirationDate": self.expires_at,
        }


class KvChanged(BaseModel):
    """A change of one entry: `KvSet` puts a whole value, `KvDeleted` removes the key.

    A set with `only_if_absent` (Kestra's `overwrite: false`) changes nothing when a live
    entry exists; the writer then reads the row back and sees whose change won."""

    # built on first use: a process that changes no key and reads no change never needs it
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)
    v: int = 1
    kind: Literal["KvSet", "KvDeleted"]
    event_id: str = Field(default_factory=new_event_id)
    namespace: str
    key: str
    at: datetime
    type: KvType | None = None
    value: Any = None
    value_uri: str | None = None
    description: str | None = None
    expires_at: datetime | None = None
    only_if_absent: bool = False

    @property
    def partition_key(self) -> str:
        """Every change of one key lands in one partition, so they apply in order."""
        return f"{self.namespace}/{self.key}"


class KvRows(Protocol):
    """What the store does for the KV store (engine/store/sqlite_kv.py, postgres_kv.py)."""

    async def apply_kv(self, changes: Sequence[KvChanged]) -> list[str]:
        """Apply changes in order in one transaction; returns the internal-storage URIs of
        the values they replaced or deleted (to remove once committed)."""

    async def get_kv(self, namespace: str, key: str) -> KvEntry | None:
        """The entry as stored, expired or not."""

    async def list_kv(
        self,
        *,
        namespace: str | None = None,
        include_children: bool = False,
        key_prefix: str | None = None,
        q: str | None = None,
        live_at: datetime | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> tuple[list[KvEntry], int]:
        """Entries in namespace then key order, and how many match. `q` is a
        case-insensitive substring of the key or the description; with `live_at`, the
        entries expired by then are left out."""
