"""Flow inputs: what a flow declares under `inputs:`, and the values an execution gets.

The input types, their load-time checks and the resolver of an execution's values are
in engine/input_types.py, imported the first time something here asks for them: most
flows declare no inputs, and for those, importing and building the 23 classes of the
input types was ~10 ms of every `podium flow run` (bench/README.md). Every name of
engine/input_types.py is importable from here as well (`from engine.inputs import
StringInput`).

Here, what every execution needs without them:

- `DeclaredInput`: how a model holds an input (`Flow.inputs`), validated with
  `input_adapter()`, built on first use;
- `undeclared` and `nest_dotted`, on the names and values an execution is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, get_args

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

if TYPE_CHECKING:
    from engine.input_types import (
        ArrayInput,
        BaseInput,
        BoolInput,
        DateInput,
        DateTimeInput,
        DependsOn,
        DurationInput,
        EmailInput,
        FileInput,
        FloatInput,
        Input,
        InputResolver,
        IntInput,
        JsonInput,
        MultiselectInput,
        SecretInput,
        SelectInput,
        StringInput,
        TimeInput,
        UriInput,
        YamlInput,
        check_declarations,
    )

__all__ = [
    "ArrayInput", "BaseInput", "BoolInput", "DateInput", "DateTimeInput", "DeclaredInput",
    "DependsOn", "DurationInput", "EmailInput", "FileInput", "FloatInput", "Input",
    "InputResolver", "IntInput", "JsonInput", "MultiselectInput", "SecretInput",
    "SelectInput", "StringInput", "TimeInput", "UriInput", "YamlInput",
    "check_declarations", "input_adapter", "nest_dotted", "undeclared",
]  # fmt: skip

_OF_INPUT_TYPES = frozenset(__all__) - {
    "DeclaredInput", "input_adapter", "nest_dotted", "undeclared",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """The names of engine/input_types.py, which is imported on the first one asked for."""
    if name in _OF_INPUT_TYPES:
        from engine import input_types

        return getattr(input_types, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def input_adapter() -> TypeAdapter[Input]:
    """Built on first use: the schema of every input type, which only a flow that
    declares inputs (or outputs) needs. Each type's own schema is built first, so an
    input it validates serializes as itself (a `Flow`'s dump serializes its inputs)."""
    from engine.input_types import Input

    for cls in get_args(get_args(Input)[0]):
        cls.model_rebuild()
    return TypeAdapter(Input)


class _OnFirstUse:
    """Pydantic metadata for `DeclaredInput`: a model holding one validates it with
    `input_adapter()`, so building that model (the `Flow`, at the first flow loaded)
    neither imports nor builds the input types. Errors keep their locations (pydantic
    prefixes the adapter's own); the JSON schema is the union's."""

    def __repr__(self) -> str:
        return "<built on first use>"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(_validate_input)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(input_adapter().core_schema)


def _validate_input(value: Any) -> Input:
    return input_adapter().validate_python(value)


if TYPE_CHECKING:
    DeclaredInput = Input
else:  # `Any` to pydantic, which then needs not import the input types to build a model
    DeclaredInput = Annotated[Any, _OnFirstUse()]
"""An `Input` inside a model, validated the first time one is given (see `_OnFirstUse`)."""


def undeclared(declared: Sequence[Input], given: Mapping[str, Any]) -> list[str]:
    """Names given that the flow does not declare: Kestra ignores them with a warning."""
    names = {spec.id for spec in declared}
    return sorted(name for name in given if name not in names)


def nest_dotted(values: Mapping[str, Any]) -> dict[str, Any]:
    """`{"a.b": 1}` as `{"a": {"b": 1}}`, as Kestra exposes inputs with dotted ids.
    A plain id that is also a dotted prefix keeps its own value."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if "." not in name:
            out.setdefault(name, value)
            continue
        *parents, leaf = name.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return out
