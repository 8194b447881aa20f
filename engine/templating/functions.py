"""The functions, filters and tests templates can use, installed by `install()`.

Kestra's names are kept (`fromJson`, `dateAdd`, `substringBefore`, ...) so flows run
unchanged. A few Jinja builtins are replaced by size-checked versions: they can build a
value far larger than their input (`join` with a huge separator, `center(10**9)`), and
the bounds module can only refuse that before it is built.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import orjson
import yaml
from jinja2 import (
    Environment,
    Undefined,
    UndefinedError,
    pass_context,
    pass_environment,
    pass_eval_context,
)
from jinja2.filters import (
    do_format,
    do_indent,
    do_tojson,
    do_wordwrap,
    make_attrgetter,
    sync_do_sum,
)
from jinja2.nodes import EvalContext
from jinja2.runtime import Context

from engine.errors import TemplateError
from engine.templating import dates, execution_functions, generators, kestra_filters
from engine.templating.bounds import check_binop, check_size, current_budget
from engine.templating.jq import jq_filter
from engine.templating.output import to_json, to_text
from engine.templating.pebble import COALESCE, IF_UNDEFINED

__all__ = ["install"]


# -- functions -----------------------------------------------------------------------


MAX_RENDER_DEPTH = 10


@pass_context
def render(context: Context, value: Any, recursive: bool = True) -> Any:
    """Render `value` as a template in the current context (Kestra's `render()`).

    Like Kestra, it renders again while the result still holds template syntax (at most
    MAX_RENDER_DEPTH times); `recursive=false` or `renderOnce()` renders once. Nothing
    else is rendered twice: a variable holding "{{ inputs.name }}" prints as is unless
    passed through here, so user data is never executed by accident.
    """
    if not isinstance(value, str):
        return value
    environment = cast(Any, context.environment)
    variables = context.get_all()
    for _ in range(MAX_RENDER_DEPTH if recursive else 1):
        rendered = environment.render_nested(value, variables)
        if (
            rendered == value
            or not isinstance(rendered, str)
            or ("{{" not in rendered and "{%" not in rendered)
        ):
            return rendered
        value = rendered
    return value


@pass_context
def render_once(context: Context, value: Any) -> Any:
    return render(context, value, recursive=False)


def now(timeZone: str | None = None) -> Any:
    return current_budget().clock().astimezone(dates.zone(timeZone))


def secret(name: str) -> str:
    store = current_budget().secrets
    if store is None:
        raise TemplateError("secrets are not available here", variable=f"secret({name!r})")
    return store.get(name)


def from_json(value: Any) -> Any:
    if not isinstance(value, (str, bytes)):
        return value  # already parsed (Kestra outputs are often maps)
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise TemplateError(f"fromJson: invalid JSON: {exc}") from None


def from_yaml(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise TemplateError(f"yaml: invalid YAML: {exc}") from None


def _is_undefined(value: Any) -> bool:
    if not isinstance(value, Undefined):
        return False
    if value._undefined_exception is not UndefinedError:
        # A blocked attribute (`x.__class__ ?? 'y'`) is a sandbox probe, not a missing
        # value: report it instead of quietly taking the fallback.
        value._fail_with_undefined_error()
    return True


def coalesce(value: Any, fallback: Any) -> Any:
    """Pebble's `??`: the fallback when the value is undefined or None."""
    return fallback if value is None or _is_undefined(value) else value


def if_undefined(value: Any, fallback: Any) -> Any:
    """Kestra's `???`: the fallback only when the value is undefined."""
    return fallback if _is_undefined(value) else value


# -- filters -------------------------------------------------------------------------


def slugify(value: Any) -> str:
    text = unicodedata.normalize("NFKD", to_text(value)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def number(value: Any, type: str | None = None) -> int | float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        result: int | float = value
    else:
        text = to_text(value).strip()
        try:
            result = int(text)
        except ValueError:
            try:
                result = float(text)
            except ValueError:
                raise TemplateError(f"number: {text!r} is not a number") from None
    kind = (type or "").upper()
    if kind in ("INT", "LONG", "BIGINTEGER", "INTEGER"):
        return int(result)
    if kind in ("FLOAT", "DOUBLE", "BIGDECIMAL"):
        return float(result)
    return result


def keys(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.keys())
    if isinstance(value, (list, tuple)):
        return list(range(len(value)))
    raise TemplateError(f"keys: expected a map or a list, not {type(value).__name__}")


def values(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    raise TemplateError(f"values: expected a map, not {type(value).__name__}")


def starts_with(value: Any, prefix: Any) -> bool:
    return to_text(value).startswith(to_text(prefix))


def ends_with(value: Any, suffix: Any) -> bool:
    return to_text(value).endswith(to_text(suffix))


# The four substring filters follow Apache Commons StringUtils, which Kestra uses.
def substring_before(value: Any, separator: str) -> str:
    text = to_text(value)
    if not separator:
        return ""
    index = text.find(separator)
    return text if index < 0 else text[:index]


def substring_after(value: Any, separator: str) -> str:
    text = to_text(value)
    if not separator:
        return text
    index = text.find(separator)
    return "" if index < 0 else text[index + len(separator) :]


def substring_before_last(value: Any, separator: str) -> str:
    text = to_text(value)
    index = text.rfind(separator) if separator else -1
    return text if index < 0 else text[:index]


def substring_after_last(value: Any, separator: str) -> str:
    text = to_text(value)
    index = text.rfind(separator) if separator else -1
    return (
        "" if index < 0 or index == len(text) - len(separator) else text[index + len(separator) :]
    )


def split(value: Any, separator: str | None = None, limit: int = -1) -> list[str]:
    """A literal separator (not a regex); `limit` caps the number of parts as in Pebble."""
    text = to_text(value)
    if separator == "":
        return list(text)
    return text.split(separator, limit - 1 if limit > 0 else -1)


def b64encode(value: Any) -> str:
    data = value if isinstance(value, bytes) else to_text(value).encode()
    return base64.b64encode(data).decode("ascii")


def b64decode(value: Any) -> str:
    try:
        return base64.b64decode("".join(to_text(value).split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise TemplateError("base64decode: not valid base64 UTF-8 text") from None


def _hasher(name: str) -> Callable[[Any], str]:
    def digest(value: Any) -> str:
        return hashlib.new(name, to_text(value).encode()).hexdigest()

    digest.__name__ = name
    return digest


def nindent(value: Any, width: int | str = 4) -> str:
    """Helm/Kestra `nindent`: a newline, then every line indented."""
    text = to_text(value)
    return "\n" + _indent(text, width, first=True)


def chunk(value: Iterable[Any], size: int) -> list[list[Any]]:
    if not isinstance(size, int) or size < 1:
        raise TemplateError(f"chunk: size must be a positive integer, not {size!r}")
    items = list(value)
    return [items[i : i + size] for i in range(0, len(items), size)]


def distinct(value: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in value:
        if item not in seen:
            seen.append(item)
    return seen


def flatten(value: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for item in value:
        if isinstance(item, (list, tuple)):
            out.extend(item)
        else:
            out.append(item)
    return out


# -- size-checked replacements of Jinja builtins -------------------------------------


@pass_environment
def join(environment: Environment, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    items = [to_text(item) for item in value]
    separator = to_text(d)
    check_size(len(separator) * max(len(items) - 1, 0) + sum(map(len, items)), "join result")
    return separator.join(items)


def center(value: Any, width: int = 80) -> str:
    check_size(width, "center result")
    return to_text(value).center(width)


def _indent(text: str, width: int | str, first: bool = False, blank: bool = False) -> str:
    prefix_length = width if isinstance(width, int) else len(width)
    check_size(len(text) + (text.count("\n") + 1) * prefix_length, "indent result")
    return do_indent(text, width, first, blank)


def indent(value: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    return _indent(to_text(value), width, first, blank)


def format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    if not kwargs:
        check_binop("%", to_text(value), tuple(args), current_budget().max_output_chars)
    return do_format(value, *args, **kwargs)


@pass_environment
def wordwrap(
    environment: Environment,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    check_size(len(s) * (1 + len(wrapstring or "\n")), "wordwrap result")
    return do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


@pass_environment
def sum_filter(
    environment: Environment, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
) -> Any:
    items = list(iterable)
    if not isinstance(start, (int, float)):  # summing lists or strings concatenates them
        sized = [i for i in items if isinstance(i, (str, bytes, list, tuple))]
        check_size(sum(map(len, sized)) + len(start), "sum result")
    return sync_do_sum(environment, items, attribute, start)


def batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> list[list[Any]]:
    if fill_with is not None:
        check_size(linecount, "batch size")
    items = list(value)
    rows = [items[i : i + linecount] for i in range(0, len(items), linecount)]
    if fill_with is not None and rows and len(rows[-1]) < linecount:
        rows[-1] += [fill_with] * (linecount - len(rows[-1]))
    return rows


def slice_filter(value: Iterable[Any], slices: int, fill_with: Any = None) -> list[list[Any]]:
    check_size(slices, "slice count")
    items = list(value)
    per_slice, extra = divmod(len(items), slices)
    rows, offset = [], 0
    for index in range(slices):
        size = per_slice + (1 if index < extra else 0)
        row = items[offset : offset + size]
        offset += size
        if fill_with is not None and extra and index >= extra:
            row.append(fill_with)
        rows.append(row)
    return rows


@pass_eval_context
def tojson(eval_ctx: EvalContext, value: Any, indent: int | None = None) -> Any:
    if indent is not None and not 0 <= indent <= 16:  # the indent repeats on every line
        raise TemplateError(f"tojson: indent must be between 0 and 16, not {indent!r}")
    return do_tojson(eval_ctx, value, indent)


# -- tests ---------------------------------------------------------------------------


def is_null(value: Any) -> bool:
    return value is None


def contains(value: Any, item: Any) -> bool:
    """Pebble's `contains` as a test: `{% if list is contains('a') %}`."""
    if isinstance(value, str):
        return to_text(item) in value
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return item in value
    raise TemplateError(f"contains: expected a string, list or map, not {type(value).__name__}")


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset, Mapping, Undefined)):
        return len(value) == 0  # an undefined value raises here, as everywhere else
    return False


# -- registration --------------------------------------------------------------------

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "render": render,
    "renderOnce": render_once,
    "now": now,
    "secret": secret,
    "fromJson": from_json,
    "jsonDecode": from_json,
    "yaml": from_yaml,
    "fromIon": kestra_filters.from_ion,
    "uuid": generators.uuid,
    "id": generators.id_function,
    "nanoId": generators.nano_id,
    "randomInt": generators.random_int,
    "randomPort": generators.random_port,
    "fileSize": execution_functions.file_size,
    "fileExists": execution_functions.file_exists,
    "isFileEmpty": execution_functions.is_file_empty,
    "fileURI": execution_functions.file_uri,
    "currentEachOutput": execution_functions.current_each_output,
    "printContext": execution_functions.print_context,
    "errorLogs": execution_functions.error_logs,
    "max": kestra_filters.largest,
    "min": kestra_filters.smallest,
    COALESCE: coalesce,
    IF_UNDEFINED: if_undefined,
}

FILTERS: dict[str, Callable[..., Any]] = {
    "date": dates.format_date,
    "dateAdd": dates.date_add,
    "timestamp": dates.timestamp,
    "timestampMilli": dates.timestamp_milli,
    "timestampMicro": dates.timestamp_micro,
    "timestampNano": dates.timestamp_nano,
    "json": to_json,
    "toJson": to_json,
    "jsonEncode": to_json,
    "fromJson": from_json,
    "jsonDecode": from_json,
    "slugify": slugify,
    "number": number,
    "keys": keys,
    "values": values,
    "startsWith": starts_with,
    "endsWith": ends_with,
    "substringBefore": substring_before,
    "substringAfter": substring_after,
    "substringBeforeLast": substring_before_last,
    "substringAfterLast": substring_after_last,
    "split": split,
    "yaml": kestra_filters.to_yaml,
    "toYaml": kestra_filters.to_yaml,
    "jq": jq_filter,
    "escapeChar": kestra_filters.escape_char,
    "urlencode": kestra_filters.url_encode,
    "urldecode": kestra_filters.url_decode,
    "numberformat": kestra_filters.number_format,
    "merge": kestra_filters.merge,
    "abbreviate": kestra_filters.abbreviate,
    "rsort": kestra_filters.rsort,
    "raw": kestra_filters.raw,
    "b64encode": b64encode,
    "base64encode": b64encode,
    "b64decode": b64decode,
    "base64decode": b64decode,
    "md5": _hasher("md5"),
    "sha1": _hasher("sha1"),
    "sha256": _hasher("sha256"),
    "sha512": _hasher("sha512"),
    "nindent": nindent,
    "chunk": chunk,
    "distinct": distinct,
    "flatten": flatten,
    "join": join,
    "replace": kestra_filters.replace,
    "center": center,
    "indent": indent,
    "format": format_filter,
    "wordwrap": wordwrap,
    "sum": sum_filter,
    "batch": batch,
    "slice": slice_filter,
    "tojson": tojson,
}

TESTS: dict[str, Callable[..., bool]] = {
    "null": is_null,
    "empty": is_empty,
    "startsWith": starts_with,
    "endsWith": ends_with,
    "contains": contains,
    "map": kestra_filters.is_map,
    "json": kestra_filters.is_json,
}


def install(environment: Environment) -> None:
    """Add Podium's functions, filters and tests; drop globals that only make big text."""
    environment.globals.pop("lipsum", None)  # lipsum(10**6) is a memory bomb with no use here
    environment.globals.update(FUNCTIONS)
    environment.filters.update(FILTERS)
    environment.tests.update(TESTS)
