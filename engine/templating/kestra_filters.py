"""Kestra's and Pebble's text and data filters that Jinja lacks or spells differently.

Each follows the Java implementation it stands for (named in its docstring), because
flows compare their output: `urlencode` is `java.net.URLEncoder` (space as `+`), `replace`
takes Pebble's map of pairs and `regexp=true` with Java's `$1` group references,
`numberformat` reads `java.text.DecimalFormat` patterns, `yaml` prints as Jackson does.
Pebble's own core names that Jinja lacks (`max()`/`min()` functions, `abbreviate`, `rsort`,
`raw`, the `map` test) are here too, so flows written for Pebble find them.

Regular expressions run with the `regex` module's timeout (the render's remaining time),
so a catastrophic pattern fails the render instead of hanging the worker.
"""

from __future__ import annotations

import decimal
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import orjson
import yaml

from engine.errors import TemplateError
from engine.templating.bounds import check_size, current_budget
from engine.templating.output import to_text

__all__ = [
    "abbreviate",
    "escape_char",
    "from_ion",
    "is_json",
    "is_map",
    "largest",
    "merge",
    "number_format",
    "raw",
    "replace",
    "rsort",
    "smallest",
    "to_yaml",
    "url_decode",
    "url_encode",
]

MAX_PATTERN_CHARS = 10_000


# -- strings -------------------------------------------------------------------------

_ESCAPES = {"single": ("'", "\\'"), "double": ('"', '\\"'), "shell": ("'", "'\\''")}


def escape_char(value: Any, type: Any = None) -> Any:
    """Kestra's `escapeChar('single'|'double'|'shell')`, applied to strings inside lists
    and maps too (other scalars become their text, as Kestra's `toString()`)."""
    if value is None:
        return None
    if not isinstance(type, str) or type.lower() not in _ESCAPES:
        raise TemplateError(
            f"escapeChar: the type must be either 'single', 'double', or 'shell', not {type!r}"
        )
    old, new = _ESCAPES[type.lower()]
    return _map_strings(value, lambda text: _sized_replace(text, old, new))


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """`change` applied to every leaf of lists and maps, as Kestra's filters walk them."""
    if isinstance(value, Mapping):
        return {key: _map_strings(item, change) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_strings(item, change) for item in value]
    return change(to_text(value))


def _sized_replace(text: str, old: str, new: str) -> str:
    occurrences = text.count(old) if old else len(text) + 1
    check_size(len(text) + occurrences * len(new), "replace result")
    return text.replace(old, new)


def replace(value: Any, old: Any, new: Any = None, count: int | None = None, **kwargs: Any) -> Any:
    """Pebble's `replace({'old': 'new', ...}, regexp=false)` on strings, lists and maps;
    with two strings, Jinja's `replace(old, new[, count])` on a string."""
    regexp = kwargs.pop("regexp", False)
    if kwargs:
        raise TemplateError(f"replace: unknown argument {next(iter(kwargs))!r}")
    if isinstance(old, Mapping):
        if value is None:
            return None
        pairs = [(to_text(k), to_text(v)) for k, v in old.items()]
        return _map_strings(value, lambda text: _replace_pairs(text, pairs, bool(regexp)))
    if new is None:
        raise TemplateError("replace: expected a map of replacements, or old and new strings")
    text, old, new = to_text(value), to_text(old), to_text(new)
    if regexp:
        return _regex_replace(text, old, new, -1 if count is None else count)
    occurrences = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    check_size(len(text) + occurrences * len(new), "replace result")
    return text.replace(old, new, -1 if count is None else count)


def _replace_pairs(text: str, pairs: list[tuple[str, str]], regexp: bool) -> str:
    for old, new in pairs:
        text = _regex_replace(text, old, new, -1) if regexp else _sized_replace(text, old, new)
    return text


def _regex_replace(text: str, pattern: str, replacement: str, count: int) -> str:
    """Java's `String.replaceAll`: `$1`/`${name}` name groups, `\\x` is a literal x."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise TemplateError(f"replace: the pattern is longer than {MAX_PATTERN_CHARS} characters")
    import regex  # a twentieth of a second to import: only templates that replace pay it

    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        raise TemplateError(f"replace: invalid regular expression {pattern!r}: {exc}") from None
    pieces = _java_replacement(replacement)
    budget = current_budget()
    limit = budget.max_output_chars
    grown = 0

    def substitute(match: Any) -> str:
        nonlocal grown
        out = "".join(p if isinstance(p, str) else (match.group(p) or "") for p in pieces)
        grown += len(out)
        check_size(len(text) + grown, "replace result", limit)
        return out

    timeout = max(budget.deadline - time.monotonic(), 0.001)
    try:
        return str(compiled.sub(substitute, text, count=max(count, 0), timeout=timeout))
    except TimeoutError:
        raise TemplateError(f"replace: the regular expression {pattern!r} took too long") from None
    except IndexError:
        raise TemplateError(f"replace: {replacement!r} names a group {pattern!r} lacks") from None


_GROUP = re.compile(r"\$(?:\{([A-Za-z][A-Za-z0-9]*)\}|(\d))")


def _java_replacement(replacement: str) -> list[str | int]:
    pieces: list[str | int] = []
    literal: list[str] = []
    index = 0
    while index < len(replacement):
        char = replacement[index]
        if char == "\\" and index + 1 < len(replacement):
            literal.append(replacement[index + 1])
            index += 2
            continue
        if char == "$":
            match = _GROUP.match(replacement, index)
            if match is None:
                raise TemplateError(f"replace: illegal group reference in {replacement!r}")
            pieces.append("".join(literal))
            literal = []
            name, number = match.groups()
            pieces.append(int(number) if number is not None else name)
            index = match.end()
            continue
        literal.append(char)
        index += 1
    pieces.append("".join(literal))
    return pieces


def url_encode(value: Any) -> str:
    """Pebble's `urlencode` is `URLEncoder.encode(s, UTF-8)`: space as `+`, and only
    letters, digits and `.-*_` left as they are."""
    if isinstance(value, Mapping):
        return "&".join(f"{url_encode(k)}={url_encode(v)}" for k, v in value.items())
    return quote_plus(to_text(value), safe="*").replace("~", "%7E")


def url_decode(value: Any) -> Any:
    """Kestra's `urldecode` (`URLDecoder.decode`)."""
    return None if value is None else unquote_plus(to_text(value))


# -- numbers -------------------------------------------------------------------------

_NUMBER_CHARS = frozenset("#0,.")
# Enough digits for any value _decimal accepts (|exponent| <= 1000) plus a 100-char pattern.
_PRECISION = 1200


def number_format(value: Any, pattern: str = "#,##0.###") -> str:
    """Pebble's `numberformat`: a `java.text.DecimalFormat` pattern (`#`, `0`, `,`, `.`,
    a literal prefix and suffix, `%` and `‰`), rounded half-even like Java."""
    number = _decimal(value)
    if not isinstance(pattern, str) or len(pattern) > 100:
        raise TemplateError("numberformat: the pattern must be a string of at most 100 characters")
    positive = pattern.split(";", 1)[0]
    digits = [i for i, c in enumerate(positive) if c in _NUMBER_CHARS]
    if not digits:
        raise TemplateError(f"numberformat: no digits in the pattern {pattern!r}")
    prefix = positive[: digits[0]].replace("'", "")
    body = positive[digits[0] : digits[-1] + 1]
    suffix = positive[digits[-1] + 1 :].replace("'", "")
    if "%" in prefix + suffix:
        number *= 100
    elif "‰" in prefix + suffix:
        number *= 1000
    integer_part, _, fraction_part = body.partition(".")
    min_int = integer_part.count("0")
    grouping = len(integer_part) - integer_part.rfind(",") - 1 if "," in integer_part else 0
    min_frac = fraction_part.count("0")
    max_frac = min_frac + fraction_part.count("#")
    context = decimal.Context(prec=_PRECISION, rounding=decimal.ROUND_HALF_EVEN)
    rounded = number.quantize(decimal.Decimal(1).scaleb(-max_frac), context=context)
    sign = "-" if rounded < 0 else ""
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    fraction = fraction.rstrip("0").ljust(min_frac, "0")
    whole = whole.lstrip("0").rjust(min_int, "0")
    if grouping:
        head = len(whole) % grouping or grouping
        groups = [whole[:head]] + [
            whole[i : i + grouping] for i in range(head, len(whole), grouping)
        ]
        whole = ",".join(g for g in groups if g)
    text = whole + ("." + fraction if fraction else "")
    return f"{sign}{prefix}{text or '0'}{suffix}"


def _decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or value is None:
        raise TemplateError(f"numberformat: {value!r} is not a number")
    try:
        number = decimal.Decimal(value if isinstance(value, (int, str)) else repr(float(value)))
    except (decimal.InvalidOperation, TypeError, ValueError):
        raise TemplateError(f"numberformat: {value!r} is not a number") from None
    if not number.is_finite() or abs(number.adjusted()) > 1000:
        raise TemplateError(f"numberformat: {value!r} is out of range")
    return number


# -- collections ---------------------------------------------------------------------


def merge(value: Any, other: Any) -> Any:
    """Pebble's `merge`: a list with a list (concatenated), a map with a map (the right
    side wins)."""
    if isinstance(value, Mapping) and isinstance(other, Mapping):
        return {**value, **other}
    if isinstance(value, (list, tuple)) and isinstance(other, Iterable):
        items = [*value, *(other.items() if isinstance(other, Mapping) else other)]
        check_size(len(items), "merge result")
        return items
    raise TemplateError(
        f"merge: cannot merge {type(value).__name__} with {type(other).__name__} "
        "(a list with a list, or a map with a map)"
    )


# -- YAML and Ion --------------------------------------------------------------------


class _KestraDumper(yaml.SafeDumper):
    """Jackson's YAML writer as Kestra configures it: nested lists indented under their
    key (INDENT_ARRAYS), no document markers."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def to_yaml(value: Any) -> str:
    """Kestra's `yaml` filter (Jackson): `- a` items indented, `null` for None, no `...`."""
    if value is None:
        return "null"
    try:
        text = yaml.dump(
            value,
            Dumper=_KestraDumper,
            default_flow_style=False,
            sort_keys=False,
            allow_unicode=True,
            width=2**31 - 1,  # Jackson's SPLIT_LINES is off
        )
    except yaml.YAMLError as exc:
        raise TemplateError(f"yaml: cannot represent {type(value).__name__}: {exc}") from None
    if text.endswith("\n...\n"):
        text = text[: -len("...\n")]
    if isinstance(value, (list, tuple)):
        text = "".join(" " + line for line in text.splitlines(keepends=True))
    check_size(len(text), "yaml result")
    return text


def from_ion(value: Any) -> Any:
    """Kestra's `fromIon(text)`: the first value of Amazon Ion text, as plain data."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TemplateError("fromIon: expects a string of Ion text")
    try:
        from amazon.ion import simpleion
    except ImportError:  # pragma: no cover - the extra is installed in tests
        raise TemplateError("fromIon needs Amazon Ion: pip install 'podium[ion]'") from None
    try:
        values = simpleion.loads(value, single_value=False)
    except Exception as exc:  # the Ion reader raises bare IonException/ValueError/...
        raise TemplateError(f"fromIon: invalid Ion: {exc}") from None
    return _plain(values[0]) if values else None


def _plain(value: Any) -> Any:
    """Ion's typed values as the JSON-like data templates use."""
    ion_type = getattr(value, "ion_type", None)
    if getattr(value, "is_null", False) or value is None:
        return None
    if hasattr(value, "text") and ion_type is not None:  # a symbol (a tuple underneath)
        return value.text
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    return value  # timestamps are datetimes already


# -- Pebble core names Jinja lacks ---------------------------------------------------


def abbreviate(value: Any, length: int) -> Any:
    """Pebble's `abbreviate(n)`: at most n characters, the last three being `...`."""
    if value is None:
        return None
    text = to_text(value)
    if not isinstance(length, int) or length < 0:
        raise TemplateError(f"abbreviate: length must be a non-negative integer, not {length!r}")
    if len(text) <= length:
        return text
    return text[: max(length - 3, 0)] + "..." if length > 3 else text[:length]


def rsort(value: Iterable[Any]) -> list[Any]:
    """Pebble's `rsort`: sorted, largest first."""
    try:
        return sorted(value, reverse=True)
    except TypeError as exc:
        raise TemplateError(f"rsort: cannot compare the items: {exc}") from None


def raw(value: Any) -> Any:
    """Pebble's `raw`: output is never escaped here, so the value as it is."""
    return value


def largest(*values: Any) -> Any:
    """Pebble's `max(a, b, ...)` function."""
    return _extreme(max, values, "max")


def smallest(*values: Any) -> Any:
    """Pebble's `min(a, b, ...)` function."""
    return _extreme(min, values, "min")


def _extreme(pick: Callable[..., Any], values: tuple[Any, ...], name: str) -> Any:
    if not values:
        raise TemplateError(f"{name}: expects at least one argument")
    try:
        return pick(values)
    except TypeError as exc:
        raise TemplateError(f"{name}: cannot compare the arguments: {exc}") from None


def is_map(value: Any) -> bool:
    """Pebble's `map` test."""
    return isinstance(value, Mapping)


def is_json(value: Any) -> bool:
    """Kestra's `json` test: a string that parses as JSON."""
    if not isinstance(value, str):
        return False
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    return True
