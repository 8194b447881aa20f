"""Amazon Ion text, Kestra's internal row format: one value per line, streamed.

Kestra writes every file of rows (a query's STORE result, CsvToIon's output…) as Ion
text with one top-level value per line, and maps Java types as its FileSerde does:

    None                 null
    bool, int            true, 42
    float                1.5e0, +inf, -inf, nan
    Decimal              12.50 (an Ion decimal: no binary rounding)
    str                  "text" (UTF-8; control characters escaped)
    bytes                {{3q2+7w==}} (a blob)
    date                 2030-12-25 (a timestamp of day precision)
    datetime, naive      LocalDateTime::"2004-10-19T10:23:54.999999"
    datetime, aware      ZonedDateTime::"2004-10-19T08:23:54.25+02:00"
    time, naive / aware  LocalTime::"04:05:30" / OffsetTime::"13:05:06+02:00"
    timedelta            "P1DT2H" (an ISO-8601 duration, as Kestra's JDBC tasks give)
    list, tuple / map    [1,2] / {id:1,'odd name':"x"}
    anything else        its text (UUIDs, paths…)

Reading turns what Kestra writes back into those Python values (an Ion timestamp with
time becomes an aware datetime; Instant/OffsetDateTime annotations likewise).

The writer emits the text itself and the reader parses one line with a regular-expression
tokenizer: `amazon.ion`'s simpleion reads and writes ~10k rows/s, too slow for a STORE
of millions of rows. A row holding only strings, integers, booleans and nulls (every row
of a CSV) is written with quoted field names, `{"id":"1"}`: the same Ion value as
Kestra's `{id:"1"}`, which a JSON parser also reads, so both ways run at orjson's speed. A line the fast reader does not know (s-expressions, clobs, long
strings) is handed to simpleion when the `ion` extra is installed. A value spanning
several lines is not read: Kestra never writes one.

Files Podium wrote before it switched to Ion (`*.jsonl`, one JSON object per line) are
still read: `read_rows` picks the format by the file's suffix.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from engine.durations import format_duration
from engine.errors import PodiumError

__all__ = [
    "ION_SUFFIX",
    "MAX_ROW_CHARS",
    "IonError",
    "IonWriter",
    "dumps",
    "ion_line",
    "loads",
    "read_rows",
    "write_rows",
]

ION_SUFFIX = ".ion"
_JSON_SUFFIXES = (".jsonl", ".ndjson")
_SLICE = 1 << 20
MAX_ROW_CHARS = 64 << 20
"""A row (one line) longer than this is refused when read: 64 Mi characters."""


class IonError(PodiumError):
    """Text that is not Ion this reader understands; the message names the line."""


# ---------------------------------------------------------------------------
# Writing


_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_KEYWORDS = frozenset({"null", "true", "false", "nan"})


def _symbol(name: str) -> str:
    if _IDENTIFIER.match(name) and name not in _KEYWORDS:
        return name
    quoted = orjson.dumps(name).decode()[1:-1].replace("'", "\\'").replace('\\"', '"')
    return f"'{quoted}'"


def _string(text: str) -> str:
    try:
        return orjson.dumps(text).decode()
    except TypeError:  # a lone surrogate: not valid UTF-8, so not valid Ion either
        return orjson.dumps(text.encode("utf-8", "replace").decode("utf-8")).decode()


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        return "nan" if value.is_nan() else ("+inf" if value > 0 else "-inf")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    head = "-" if sign else ""
    if exponent > 0:
        return f"{head}{text}d{exponent}"
    if exponent == 0:
        return f"{head}{text}."
    if -exponent >= len(text) + 20:  # 1E-40: a point and 40 zeros is no help to a reader
        return f"{head}{text}d{exponent}"
    text = text.rjust(-exponent + 1, "0")
    return f"{head}{text[:exponent]}.{text[exponent:]}"


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    text = repr(value)
    return text if "e" in text else text + "e0"


def _timestamp_day(value: date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _datetime(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        return f'LocalDateTime::"{value.isoformat()}"'
    text = value.isoformat()
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return f'ZonedDateTime::"{text}"'


def _time(value: time) -> str:
    if value.tzinfo is None:
        return f'LocalTime::"{value.isoformat()}"'
    return f'OffsetTime::"{value.isoformat()}"'


def dumps(value: Any) -> str:
    """One value as Ion text, on one line."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _float(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_symbol(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime):
        return _datetime(value)
    if isinstance(value, date):
        return _timestamp_day(value)
    if isinstance(value, time):
        return _time(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "{{" + base64.b64encode(bytes(value)).decode() + "}}"
    if isinstance(value, timedelta):
        return _string(format_duration(value))
    if isinstance(value, bool):  # numpy-like bools are not `bool`
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, set | frozenset):
        return dumps(sorted(value, key=str))
    return _string(str(value))


_PLAIN = frozenset({str, int, bool, type(None)})


def ion_line(value: Any) -> bytes:
    """One value as a line of Ion text, ready to append to a file of rows."""
    if type(value) is dict and all(type(v) in _PLAIN for v in value.values()):
        try:
            return orjson.dumps(value) + b"\n"  # JSON of these types is Ion, same values
        except TypeError:  # a key that is not text, an integer over 64 bits…
            pass
    return dumps(value).encode("utf-8") + b"\n"


class IonWriter:
    """Rows appended to a binary handle as Ion lines, flushed in 1 MiB slices.

    `add` takes a bounded batch and returns a slice to write once one is full, so an
    async caller can write it off the event loop; `write` streams any number of rows to
    the handle in the calling thread (for workers and scripts); `close` writes the rest."""

    def __init__(self, handle: BinaryIO | None = None) -> None:
        self.handle = handle
        self.size = 0
        self._pending = bytearray()

    def __repr__(self) -> str:
        return f"<IonWriter rows={self.size}>"

    def add(self, rows: Iterable[Any]) -> bytes | None:
        pending = self._pending
        for row in rows:
            pending += ion_line(row)
            self.size += 1
        return self.take() if len(pending) >= _SLICE else None

    def take(self) -> bytes:
        chunk = bytes(self._pending)
        self._pending.clear()
        return chunk

    def write(self, rows: Iterable[Any]) -> None:
        """Write rows to the handle, a slice at a time: `rows` may be a stream."""
        if self.handle is None:
            raise RuntimeError("this IonWriter has no handle; use add() and take()")
        pending = self._pending
        for row in rows:
            pending += ion_line(row)
            self.size += 1
            if len(pending) >= _SLICE:
                self.handle.write(self.take())

    def write_one(self, row: Any) -> None:
        self.write((row,))

    def close(self) -> None:
        """Write what is pending (the handle stays open: its owner closes it)."""
        if self.handle is not None and self._pending:
            self.handle.write(self.take())


def write_rows(path: Path, rows: Iterable[Any]) -> int:
    """Write rows to a new Ion file; returns how many."""
    with path.open("wb") as handle:
        writer = IonWriter(handle)
        for row in rows:
            writer.write_one(row)
        writer.close()
    return writer.size


# ---------------------------------------------------------------------------
# Reading

_TOKEN = re.compile(
    r"""
    (?P<space>[\s,]+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<blob>\{\{[A-Za-z0-9+/=\s]*\}\})
  | (?P<ts>\d{4}(?:-\d\d(?:-\d\d)?)?T(?:\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))?
      |\d{4}-\d\d-\d\d(?![\dT.:]))
  | (?P<number>[+-]inf\b|-?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+
      |\d[\d_]*(?:\.[\d_]*)?(?:[eEdD][+-]?\d+)?))
  | (?P<annotation>(?:[A-Za-z_$][A-Za-z0-9_$]*|'(?:[^'\\\n]|\\.)*')\s*::)
  | (?P<field>(?:[A-Za-z_$][A-Za-z0-9_$]*|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")\s*:(?!:))
  | (?P<symbol>[A-Za-z_$][A-Za-z0-9_$.]*|'(?:[^'\\\n]|\\.)*')
  | (?P<open>[\[{])
  | (?P<close>[\]}])
    """,
    re.VERBOSE,
)
_NULLS = {"null", "null.null"}


class _Unsupported(Exception):
    """Valid Ion, maybe, that the fast reader leaves to simpleion."""


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
    try:
        return str(orjson.loads('"' + body.replace("\\'", "'") + '"'))
    except orjson.JSONDecodeError:
        return _ion_unescape(body)


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|\r?\n|.)")
_SIMPLE_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r",
    "v": "\v", '"': '"', "'": "'", "?": "?", "\\": "\\", "/": "/",
}  # fmt: skip


def _ion_unescape(body: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "xuU" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code in ("\n", "\r\n"):
            return ""
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        raise _Unsupported(f"unknown escape \\{code}")

    return _ESCAPE.sub(one, body)


def _number(text: str) -> Any:
    if text in ("+inf", "-inf"):
        return float(text)
    text = text.replace("_", "")
    lower = text.lower()
    if "0x" in lower:
        return int(text, 16)
    if "0b" in lower:
        return int(text, 2)
    if "e" in lower:
        return float(text)
    if "d" in lower or "." in text:
        return Decimal(lower.replace("d", "e"))
    return int(text)


def _timestamp(text: str) -> Any:
    if "T" not in text or text.endswith("T"):
        parts = [int(p) for p in text.rstrip("T").split("-")]
        return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    if text.endswith("-00:00"):  # Ion's "offset unknown": read as UTC, as Kestra does
        text = text[:-6] + "Z"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _annotated(annotation: str, value: Any) -> Any:
    """Kestra's typed strings (IonModule) back into Python values."""
    if not isinstance(value, str):
        return value
    try:
        if annotation in ("LocalDateTime",):
            return datetime.fromisoformat(value)
        if annotation in ("ZonedDateTime", "OffsetDateTime", "Instant"):
            text = value.split("[", 1)[0]  # 2004-10-19T08:23:54+02:00[Europe/Paris]
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if annotation == "LocalDate":
            return date.fromisoformat(value)
        if annotation in ("LocalTime", "OffsetTime"):
            return time.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return value


def _scalar(kind: str, text: str) -> Any:
    if kind == "string":
        return _unescape(text[1:-1])
    if kind == "number":
        return _number(text)
    if kind == "ts":
        return _timestamp(text)
    if kind == "blob":
        return base64.b64decode("".join(text[2:-2].split()))
    if text in _NULLS or text.startswith("null."):
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    if text == "nan":
        return math.nan
    if text.startswith("'"):
        return _unescape(text[1:-1])
    return text  # a symbol reads as its text, as Kestra's reader gives it


def _parse_line(line: str) -> list[Any]:
    """Every top-level value of one line of Ion text."""
    values: list[Any] = []
    stack: list[tuple[Any, str | None, list[str]]] = []  # (container, pending key, notes)
    key: str | None = None
    notes: list[str] = []
    position, end = 0, len(line)

    def place(value: Any) -> None:
        nonlocal key, notes
        for annotation in reversed(notes):
            value = _annotated(annotation, value)
        notes = []
        if not stack:
            values.append(value)
            return
        container = stack[-1][0]
        if isinstance(container, dict):
            if key is None:
                raise _Unsupported("a struct value without a field name")
            container[key] = value
            key = None
        else:
            container.append(value)

    while position < end:
        match = _TOKEN.match(line, position)
        if match is None:
            raise _Unsupported(f"unexpected text at column {position + 1}")
        position = match.end()
        kind = match.lastgroup
        text = match.group()
        if kind == "space":
            continue
        if kind == "field":
            if not stack or not isinstance(stack[-1][0], dict):
                raise _Unsupported("a field name outside a struct")
            name = text.rstrip()[:-1].rstrip()
            key = _unescape(name[1:-1]) if name[0] in "'\"" else name
        elif kind == "annotation":
            name = text.rstrip()[:-2].rstrip()
            notes.append(_unescape(name[1:-1]) if name[0] == "'" else name)
        elif kind == "open":
            stack.append(({} if text == "{" else [], key, notes))
            key, notes = None, []
        elif kind == "close":
            if not stack:
                raise _Unsupported(f"unbalanced {text!r}")
            container, key, notes = stack.pop()
            if (text == "}") != isinstance(container, dict):
                raise _Unsupported(f"mismatched {text!r}")
            place(container)
        else:
            assert kind is not None
            place(_scalar(kind, text))
    if stack:
        raise _Unsupported("a value continues past the end of the line")
    return values


def _simpleion(line: str, where: str) -> list[Any]:
    try:
        from amazon.ion import simpleion
    except ImportError:
        raise IonError(
            f"{where}: Ion this reader does not handle without Amazon Ion: "
            "pip install 'podium[ion]'"
        ) from None
    try:
        found = simpleion.loads(line, single_value=False)
    except Exception as exc:  # simpleion raises bare ValueErrors and its own IonException
        raise IonError(f"{where}: invalid Ion: {exc}") from None
    return [_plain(v) for v in found]


def _plain(value: Any) -> Any:
    """A simpleion value (IonPy* subclasses with annotations) as plain Python."""
    from amazon.ion.core import IonType, TimestampPrecision
    from amazon.ion.simple_types import IonPyNull

    ion_type = getattr(value, "ion_type", None)
    notes = [getattr(a, "text", a) for a in getattr(value, "ion_annotations", ())]
    if value is None or isinstance(value, IonPyNull) or ion_type is IonType.NULL:
        result: Any = None
    elif ion_type is IonType.STRUCT:
        result = {str(k): _plain(v) for k, v in value.items()}
    elif ion_type in (IonType.LIST, IonType.SEXP):
        result = [_plain(v) for v in value]
    elif ion_type is IonType.BOOL:
        result = bool(value)
    elif ion_type is IonType.INT:
        result = int(value)
    elif ion_type is IonType.FLOAT:
        result = float(value)
    elif ion_type is IonType.DECIMAL:
        result = Decimal(value)
    elif ion_type is IonType.TIMESTAMP and getattr(value, "precision", None) in (
        TimestampPrecision.YEAR,
        TimestampPrecision.MONTH,
        TimestampPrecision.DAY,
    ):
        result = date(value.year, value.month, value.day)
    elif ion_type is IonType.TIMESTAMP:
        moment = datetime.fromisoformat(value.isoformat())
        result = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    elif ion_type in (IonType.BLOB, IonType.CLOB):
        result = bytes(value)
    elif ion_type is IonType.SYMBOL:
        result = getattr(value, "text", str(value))
    else:
        result = str(value)
    for annotation in reversed(notes):
        result = _annotated(str(annotation), result)
    return result


def loads(text: str, *, where: str = "Ion text") -> list[Any]:
    """Every value of Ion text written one (or more) per line."""
    values: list[Any] = []
    # only \n ends a line: str.splitlines() would also cut at U+0085, U+2028 … in strings
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            values.extend(_loads_line(line.rstrip("\r"), f"{where}, line {number}"))
    return values


def _loads_line(line: str, where: str) -> list[Any]:
    if line.startswith('{"'):  # maybe JSON-shaped (see ion_line): orjson reads it at once
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
        else:
            # JSON's 1.5 is an Ion decimal, not a float: only exact types are taken as read
            if type(value) is dict and all(type(v) in _PLAIN for v in value.values()):
                return [value]
    if line.startswith("$ion_1_0"):
        line = line[len("$ion_1_0") :]
    try:
        return _parse_line(line)
    except _Unsupported:
        return _simpleion(line, where)
    except (ValueError, ArithmeticError) as exc:
        raise IonError(f"{where}: invalid Ion: {exc}") from None


def read_rows(path: Path, *, name: str | None = None) -> Iterator[Any]:
    """Stream the values of a file of rows, one line at a time: Ion, or JSON lines for
    a `.jsonl`/`.ndjson` file (what Podium wrote before). Blank lines are skipped."""
    where = name or path.name
    is_json = path.suffix.lower() in _JSON_SUFFIXES
    with path.open("r", encoding="utf-8", newline="\n") as handle:
        # readline with a bound: one endless line must not take the whole memory
        for number, line in enumerate(iter(lambda: handle.readline(MAX_ROW_CHARS + 1), ""), 1):
            if len(line) > MAX_ROW_CHARS:
                raise IonError(f"{where}, line {number}: a row over {MAX_ROW_CHARS} characters")
            if not line.strip():
                continue
            if is_json:
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise IonError(f"{where}, line {number}: invalid JSON: {exc}") from None
                continue
            yield from _loads_line(line.rstrip("\r\n"), f"{where}, line {number}")
