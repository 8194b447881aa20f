"""Flow inputs: what a flow declares under `inputs:`, and the values an execution gets.

The input types, their load-time checks and the resolver of an execution's values are
in engine/input_types.py, imported the first time something here asks for them: most
flows declare no inputs, and for those, importing and building the 23 classes of the
input types was ~10 ms of every `podium flow run` (bench/README.md). Every name of
engine/input_types.py is importable from here as well (`from engine.inputs import
StringInput`).

Here, what every execution needs without them:

- `DeclaredInput`: how a model holds an input (`Flow.inputs`), validated with
  `input_adapter()`, built on first use (engine/lazy_schema.py);
- `undeclared` and `nest_dotted`, on the names and values an execution is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, get_args

from pydantic import TypeAdapter

from engine.lazy_schema import OnFirstUse, adapter_of

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
    declares inputs (or outputs) needs."""
    from engine.input_types import Input

    return adapter_of(Input, get_args(get_args(Input)[0]))


if TYPE_CHECKING:
    DeclaredInput = Input
else:  # `Any` to pydantic, which then needs not import the input types to build a model
    DeclaredInput = Annotated[Any, OnFirstUse(input_adapter)]
"""An `Input` inside a model (`Flow.inputs`), validated by `input_adapter()`."""


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
