"""Flow inputs' types: what a flow declares under `inputs:`, and the values an execution
gets. Imported the first time a flow declares inputs, through engine/inputs.py (which
also says what every execution needs without them).

How to read this module, top to bottom:

1. Converters (`_to_int`, `_to_datetime`, ...) turn one raw value, typed (from YAML or
   JSON) or text (from the CLI or a form), into a Python value, or raise ValueError with a
   reason that says what was expected. The same converters serve load-time checks and
   run-time resolution, so a default is judged exactly like a value given later.
2. The models, one per Kestra input `type`, joined by `Input`, a union discriminated on
   `type`. Each model validates its own declaration (regexes compile, min <= max) and
   has `coerce(value, choices)`, which converts and validates one value for that input.
3. `check_declarations` checks a whole `inputs:` list at flow load: ids, `dependsOn`,
   and defaults that are not templates.
4. `InputResolver` builds an execution's inputs: rendered defaults, `dependsOn`
   conditions, files put in storage, and every error collected into one `InputError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import PurePath
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.durations import format_duration, is_template, parse_duration
from engine.errors import FlowDefinitionError, InputError, StorageError
from engine.json_limits import loads
from engine.yaml_loader import load_yaml_value

__all__ = [
    "ArrayInput", "BaseInput", "BoolInput", "DateInput", "DateTimeInput", "DependsOn",
    "DurationInput", "EmailInput", "FileInput", "FloatInput", "Input", "InputResolver",
    "IntInput", "JsonInput", "MultiselectInput", "SecretInput", "SelectInput", "StringInput",
    "TimeInput", "UriInput", "YamlInput", "check_declarations",
]  # fmt: skip

# Kestra allows dots in input ids (`nested.value` reads as inputs.nested.value).
ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$"
ScalarType = Literal[
    "STRING", "EMAIL", "URI", "INT", "FLOAT", "BOOL", "BOOLEAN", "DATETIME", "DATE", "TIME",
    "DURATION",
]  # fmt: skip

# ---------------------------------------------------------------- 1. converters


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> str:
    """What a value is, for messages; only text is quoted (secrets never reach here)."""
    if isinstance(value, str):
        return _shown(value)
    if value is None or isinstance(value, bool):
        return "null" if value is None else "a boolean"
    if isinstance(value, Mapping | list | tuple):
        return "a mapping" if isinstance(value, Mapping) else "a list"
    return type(value).__name__


def _to_text(value: Any) -> str:
    if isinstance(value, bool):  # as Kestra prints them
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"expected text, got {_kind(value)}")


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]{1,30}\s*", value):
        return int(value)
    raise ValueError(f"{_shown(value)} is not an integer")


def _to_float(value: Any) -> float:
    try:  # min/max mean nothing for nan and inf
        scalar = isinstance(value, int | float | str) and not isinstance(value, bool)
        if scalar and math.isfinite(number := float(value)):
            return number
    except ValueError:
        pass
    raise ValueError(f"{_shown(value)} is not a number")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{_shown(value)} is not a boolean (true or false)")


def _iso(kind: Any, value: Any, what: str, example: str) -> Any:
    try:
        return value if isinstance(value, kind) else kind.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise ValueError(f"{_shown(value)} is not an ISO-8601 {what} (e.g. {example})") from None


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    moment: datetime = _iso(datetime, value, "date-time", "2024-01-31T10:00:00Z")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive means UTC


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return _iso(date, value, "date", "2024-01-31")


def _to_time(value: Any) -> time:
    return _iso(time, value, "time", "10:30:00")


def _to_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta | str | int | float) and not isinstance(value, bool):
        try:
            return parse_duration(value)
        except ValueError:
            pass
    raise ValueError(f"{_shown(value)} is not an ISO-8601 duration (e.g. PT15M, P1D)")


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*")


def _to_email(value: Any) -> str:
    text = _to_text(value).strip()
    if not _EMAIL.fullmatch(text):
        raise ValueError(f"{_shown(text)} is not an email address")
    return text


def _to_uri(value: Any) -> str:
    text = _to_text(value).strip()
    parts = urlsplit(text)
    if not _SCHEME.fullmatch(parts.scheme) or " " in text or not (parts.netloc or parts.path):
        raise ValueError(f"{_shown(text)} is not a URI (e.g. https://example.com/data.csv)")
    return text


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "STRING": _to_text, "EMAIL": _to_email, "URI": _to_uri, "INT": _to_int, "FLOAT": _to_float,
    "BOOL": _to_bool, "BOOLEAN": _to_bool, "DATETIME": _to_datetime, "DATE": _to_date,
    "TIME": _to_time, "DURATION": _to_duration,
}  # fmt: skip


def _to_list(value: Any) -> list[Any]:
    """A list, or the JSON array text that Kestra's UI and API send for one."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        try:
            parsed = loads(value)  # bounded nesting: engine/json_limits.py
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    raise ValueError(f'expected a list (or a JSON array such as ["a", "b"]), got {_kind(value)}')


def _check_choice(text: str, choices: Sequence[str] | None, allow_custom: bool) -> None:
    if choices is not None and not allow_custom and text not in choices:
        raise ValueError(f"{_shown(text)} is not one of: {', '.join(choices)}")


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, Mapping):
        return any(_has_template(k) or _has_template(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_template(v) for v in value)
    return False


# ---------------------------------------------------------------- 2. the models

_CONFIG = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class DependsOn(BaseModel):
    """Show an input only once `inputs` are set and `condition` renders true."""

    model_config = _CONFIG
    inputs: list[str] = Field(default_factory=list)
    condition: str | None = None


class BaseInput(BaseModel):
    """The fields every input type shares. Not used alone: see `Input`."""

    model_config = _CONFIG
    id: str = Field(pattern=ID_PATTERN)
    description: str | None = None
    display_name: str | None = Field(default=None, alias="displayName", max_length=64)
    required: bool = True
    defaults: Any = None  # a value of the input's type, or a template rendered at run time
    prefill: Any = None  # shown in forms, never used as a value (Kestra 0.22+)
    depends_on: DependsOn | None = Field(default=None, alias="dependsOn")

    @model_validator(mode="before")
    @classmethod
    def _legacy_name(cls, data: Any) -> Any:
        # Kestra before 0.15 wrote `name:`; it still reads it as the id.
        if isinstance(data, dict) and "name" in data:
            data = dict(data)
            name = data.pop("name")
            data.setdefault("id", name)
        return data

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> Any:
        """`value` as this input's type, checked; ValueError says what was expected."""
        raise NotImplementedError


class _Validated(BaseInput):
    validator: str | None = None  # a regex the whole value must match

    @field_validator("validator")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern

    def _match(self, text: str, shown: str) -> str:
        if self.validator is not None and not re.fullmatch(self.validator, text):
            raise ValueError(f"{shown}does not match the validator {self.validator}")
        return text


class StringInput(_Validated):
    type: Literal["STRING"]

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> str:
        text = _to_text(value)
        return self._match(text, f"{_shown(text)} ")


class SecretInput(_Validated):
    type: Literal["SECRET"]

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> str:
        return self._match(_to_text(value), "")  # never echo a secret in an error


class _Scalar(BaseInput):
    """Inputs whose values are one scalar, converted as `_SCALARS` says for their type."""

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> Any:
        return _SCALARS[self.type](value)  # type: ignore[attr-defined]


class EmailInput(_Scalar):
    type: Literal["EMAIL"]


class UriInput(_Scalar):
    type: Literal["URI"]


class BoolInput(_Scalar):
    type: Literal["BOOL", "BOOLEAN"]  # BOOLEAN is the name before Kestra 0.23


# How bounds and values show in messages: `PT5M` rather than `0:05:00`.
_SHOW: dict[str, Callable[[Any], str]] = {
    "FLOAT": "{:g}".format, "DURATION": format_duration, "DATETIME": lambda v: v.isoformat(),
    "DATE": lambda v: v.isoformat(), "TIME": lambda v: v.isoformat(),
}  # fmt: skip


class _Bounded(_Scalar):
    """Ordered inputs: a value is converted like its type says (`_SCALARS`), then checked
    against the bounds named in `_bounds`: `min`/`max`, or `after`/`before` for times."""

    _bounds: ClassVar[tuple[str, str]] = ("min", "max")

    @model_validator(mode="before")
    @classmethod
    def _parse_bounds(cls, data: Any) -> Any:
        # Bounds are read like values (`after: 2024-01-01`, `min: PT5M`), by the same converter.
        convert = _SCALARS.get(str(data.get("type"))) if isinstance(data, dict) else None
        if convert is not None:
            data = {
                k: convert(v) if k in cls._bounds and v is not None else v for k, v in data.items()
            }
        return data

    def _limits(self) -> tuple[Any, Any, Callable[[Any], str]]:
        low, high = (getattr(self, name) for name in self._bounds)
        return low, high, _SHOW.get(self.type, str)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _ordered(self) -> _Bounded:
        low, high, show = self._limits()
        if low is not None and high is not None and low > high:
            first, second = self._bounds
            raise ValueError(f"{first} {show(low)} is greater than {second} {show(high)}")
        return self

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> Any:
        converted = super().coerce(value)
        low, high, show = self._limits()
        is_time = self._bounds == ("after", "before")
        if low is not None and converted < low:
            limit = "before the earliest allowed" if is_time else "below the minimum"
            raise ValueError(f"{show(converted)} is {limit} {show(low)}")
        if high is not None and converted > high:
            limit = "after the latest allowed" if is_time else "above the maximum"
            raise ValueError(f"{show(converted)} is {limit} {show(high)}")
        return converted


class IntInput(_Bounded):
    type: Literal["INT"]
    min: int | None = None
    max: int | None = None


class FloatInput(_Bounded):
    type: Literal["FLOAT"]
    min: float | None = None
    max: float | None = None


class DurationInput(_Bounded):
    type: Literal["DURATION"]
    min: timedelta | None = None
    max: timedelta | None = None


class DateTimeInput(_Bounded):
    type: Literal["DATETIME"]
    after: datetime | None = None
    before: datetime | None = None
    _bounds = ("after", "before")


class DateInput(_Bounded):
    type: Literal["DATE"]
    after: date | None = None
    before: date | None = None
    _bounds = ("after", "before")


class TimeInput(_Bounded):
    type: Literal["TIME"]
    after: time | None = None
    before: time | None = None
    _bounds = ("after", "before")


class JsonInput(BaseInput):
    type: Literal["JSON"]

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> Any:
        if not isinstance(value, str):
            return value  # already structured (from YAML, or a JSON request body)
        try:
            return loads(value)  # bounded nesting: engine/json_limits.py
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None


class YamlInput(BaseInput):
    type: Literal["YAML"]

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return load_yaml_value(value, source=f"input {self.id}")
        except FlowDefinitionError as exc:
            first = exc.problems[0]
            where = f" at line {first.line}, column {first.column}" if first.line else ""
            raise ValueError(f"not valid YAML{where}: {first.message}") from None


def _texts(values: Any) -> Any:
    # YAML writes `values: [2019, 2020]` as numbers; Kestra (Jackson) reads them as strings.
    if isinstance(values, list):
        return [_to_text(v) if isinstance(v, int | float | bool) else v for v in values]
    return values


class _Choice(BaseInput):
    """SELECT and MULTISELECT: a fixed list of `values`, or an `expression` rendering one."""

    values: list[str] | str | None = None
    expression: str | None = None
    allow_custom_value: bool = Field(default=False, alias="allowCustomValue")
    auto_select_first: bool = Field(default=False, alias="autoSelectFirst")

    _as_texts = field_validator("values", mode="before")(_texts)

    def static_choices(self) -> list[str] | None:
        return self.values if isinstance(self.values, list) else None

    def choices_template(self) -> str | None:
        """The template that lists the choices when they are only known at run time."""
        return self.values if isinstance(self.values, str) else self.expression

    @model_validator(mode="after")
    def _one_source(self) -> _Choice:
        if isinstance(self.values, str) and not is_template(self.values):
            raise ValueError("`values` must be a list, or an expression that renders one")
        sources = [self.values, getattr(self, "options", None), self.expression]
        if sum(source is not None for source in sources) != 1:
            legacy = ", `options`" if "options" in type(self).model_fields else ""
            raise ValueError(f"give exactly one of `values`{legacy} or `expression`")
        return self


class SelectInput(_Choice):
    type: Literal["SELECT"]
    is_radio: bool = Field(default=False, alias="isRadio")

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> str:
        text = _to_text(value)
        _check_choice(text, choices, self.allow_custom_value)
        return text


class MultiselectInput(_Choice):
    type: Literal["MULTISELECT"]
    options: list[str] | None = None  # the name of `values` before Kestra 0.20
    item_type: ScalarType = Field(default="STRING", alias="itemType")

    _options_texts = field_validator("options", mode="before")(_texts)

    def static_choices(self) -> list[str] | None:
        return self.values if isinstance(self.values, list) else self.options

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> list[Any]:
        chosen = [_to_text(item) for item in _to_list(value)]
        for text in chosen:
            _check_choice(text, choices, self.allow_custom_value)
        return [_SCALARS[self.item_type](text) for text in chosen]


class ArrayInput(BaseInput):
    type: Literal["ARRAY"]
    item_type: ScalarType = Field(alias="itemType")

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> list[Any]:
        convert, items = _SCALARS[self.item_type], _to_list(value)
        out = []
        for index, item in enumerate(items):
            try:
                out.append(convert(item))
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return out


class FileInput(BaseInput):
    type: Literal["FILE"]
    extension: str | None = None  # legacy: the extension given to the stored file
    allowed_file_extensions: list[str] | None = Field(default=None, alias="allowedFileExtensions")

    def check_name(self, value: Any) -> None:
        """Refuse a file whose name has none of `allowedFileExtensions` (bytes have no name)."""
        if not self.allowed_file_extensions or not isinstance(value, str | PurePath):
            return
        name = PurePath(str(value)).name
        allowed = ["." + e.lower().lstrip(".") for e in self.allowed_file_extensions]
        if not name.lower().endswith(tuple(allowed)):
            shown = _shown(name)
            raise ValueError(f"{shown} is not one of the allowed file types: {', '.join(allowed)}")

    def coerce(self, value: Any, choices: Sequence[str] | None = None) -> str:
        if not isinstance(value, str) or not value.startswith("kestra:///"):
            expected = "expected an internal storage URI (kestra:///...)"
            raise ValueError(f"{expected}, got {_kind(value)}")
        self.check_name(value)
        return value


Input = Annotated[
    StringInput | EmailInput | UriInput | SecretInput | IntInput | FloatInput | BoolInput
    | DateTimeInput | DateInput | TimeInput | DurationInput | JsonInput | YamlInput
    | SelectInput | MultiselectInput | ArrayInput | FileInput,
    Field(discriminator="type"),
]  # fmt: skip


# ---------------------------------------------------------------- 3. checks at flow load


def check_declarations(inputs: Sequence[Input]) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems of an `inputs:` list as (path inside the list, message); none is fine.

    Checks what needs the whole list or a value: unique ids, `dependsOn` naming earlier
    inputs, and `defaults` that are not templates being valid values already.
    """
    problems: list[tuple[tuple[str | int, ...], str]] = []
    position: dict[str, int] = {}
    for index, spec in enumerate(inputs):
        if spec.id in position:
            problems.append(
                ((index, "id"), f"duplicate input id '{spec.id}' (also input {position[spec.id]})")
            )
        else:
            position[spec.id] = index
    for index, spec in enumerate(inputs):
        for slot, name in enumerate(spec.depends_on.inputs if spec.depends_on else []):
            where = position.get(name)
            if where is None:
                why = f"'{name}' is not an input of this flow"
            elif where == index:
                why = "an input cannot depend on itself"
            elif where > index:
                why = f"'{name}' is declared after '{spec.id}'; dependsOn may only name earlier inputs"
            else:
                continue
            problems.append(((index, "dependsOn", "inputs", slot), why))
        if isinstance(spec, FileInput) and spec.defaults is not None:
            default = spec.defaults
            if not _has_template(default) and not (
                isinstance(default, str) and default.startswith(("file://", "nsfile://"))
            ):
                problems.append(
                    (
                        (index, "defaults"),
                        "inputs of type 'FILE' only support `defaults` as local files using "
                        "a file URI (file:///...) or as namespace files (nsfile:///...)",
                    )
                )
            continue
        if spec.defaults is None or _has_template(spec.defaults):
            continue
        choices = spec.static_choices() if isinstance(spec, _Choice) else None
        try:
            spec.coerce(spec.defaults, choices)
        except ValueError as exc:
            problems.append(((index, "defaults"), f"invalid default: {exc}"))
    return problems


# ---------------------------------------------------------------- 4. resolution at run time


def _is_missing(spec: BaseInput, value: Any) -> bool:
    # Forms send "" for an empty field; only text inputs can mean an empty string by it.
    return value is None or (value == "" and not isinstance(spec, StringInput | SecretInput))


@dataclass
class InputResolver:
    """Turns the values given to a new execution into the typed inputs of its flow.

    `render(value, context)` renders a template (a string, or strings nested in lists and
    mappings); `evaluate_condition(template, context)` decides a `dependsOn.condition`;
    `store_file(input_id, value)` puts a given file (bytes, a path, or a local file name)
    into internal storage and returns its `kestra:///` URI. Without it, FILE inputs must
    be given as such URIs already. A `store_file` that reads local paths must only be
    given to trusted callers (the CLI), never to the API: a path is not an upload.
    """

    render: Callable[[Any, Mapping[str, Any]], Any]
    evaluate_condition: Callable[[str, Mapping[str, Any]], bool]
    store_file: Callable[[str, Any], str] | None = None

    def resolve(
        self,
        declared: Sequence[Input],
        given: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Every declared input's value (None when absent), or InputError with all reasons."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        hidden: set[str] = set()
        for spec in declared:
            # Defaults, conditions and choices see the inputs resolved so far.
            scope = {**(context or {}), "inputs": dict(values)}
            needs = spec.depends_on.inputs if spec.depends_on else []
            if any(name in errors for name in needs):
                values[spec.id] = None  # its dependency failed: that error is enough
                continue
            try:
                # Hidden: neither required nor validated; hiding spreads to what depends on it.
                if any(name in hidden for name in needs) or not self._is_shown(spec, scope):
                    hidden.add(spec.id)
                    values[spec.id] = None
                else:
                    values[spec.id] = self._resolve_one(spec, given.get(spec.id), scope)
            except ValueError as exc:
                errors[spec.id] = str(exc)
        if errors:
            raise InputError(errors)
        return values

    def _is_shown(self, spec: Input, scope: Mapping[str, Any]) -> bool:
        if not spec.depends_on or not spec.depends_on.condition:
            return True
        try:
            return bool(self.evaluate_condition(spec.depends_on.condition, scope))
        except Exception as exc:  # a user template: report it, don't crash the request
            raise ValueError(f"cannot evaluate dependsOn.condition: {exc}") from None

    def _resolve_one(self, spec: Input, raw: Any, scope: Mapping[str, Any]) -> Any:
        if _is_missing(spec, raw) and spec.defaults is not None:
            raw = self._render(spec.defaults, scope, "defaults")
        if _is_missing(spec, raw):
            if spec.required:
                raise ValueError("required input is missing")
            return None
        choices: Sequence[str] | None = None
        if isinstance(spec, SelectInput | MultiselectInput):
            choices = spec.static_choices()
            template = spec.choices_template()
            if choices is None and template is not None:
                rendered = self._render(template, scope, "the list of values")
                choices = [_to_text(c) for c in _to_list(rendered) if c is not None]
        if isinstance(spec, FileInput):
            raw = self._store(spec, raw)
        return spec.coerce(raw, choices)

    def _render(self, template: Any, scope: Mapping[str, Any], what: str) -> Any:
        if not _has_template(template):
            return template
        try:
            return self.render(template, scope)
        except Exception as exc:  # a user template: report it, don't crash the request
            raise ValueError(f"cannot render {what}: {exc}") from None

    def _store(self, spec: FileInput, raw: Any) -> Any:
        if isinstance(raw, str) and raw.startswith("kestra:///"):
            return raw
        spec.check_name(raw)
        if self.store_file is None:
            return raw  # coerce() explains that a kestra:/// URI was expected
        try:
            return self.store_file(spec.id, raw)
        except (OSError, StorageError) as exc:  # a missing local file is the caller's mistake
            raise ValueError(f"cannot store the file: {exc}") from None
