"""Fields of a pydantic model whose schema is built the first time a value is given.

Building a model builds the schema of every type its fields name, used or not: the
`Flow` model, built when the first flow loads, would build every input type, both SLA
types and the `Problem` dataclass although most flows have no inputs, SLA or
deprecations (~20 ms of every `podium flow run` of a small flow, bench/README.md). A
field annotated `Annotated[Any, OnFirstUse(adapter)]` is validated by `adapter()`, a
cached `TypeAdapter` of the real type, built on the first value given: errors keep
their locations (pydantic prefixes the adapter's own), the JSON schema is the real
type's, and values serialize as themselves (the adapter's models must be built, so
that a dump finds their serializers: see `adapter_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

__all__ = ["OnFirstUse", "adapter_of"]


def adapter_of(annotation: Any, models: Iterable[type[BaseModel]] = ()) -> TypeAdapter[Any]:
    """A TypeAdapter of `annotation`, once each of `models` (its members that build on
    first use, `defer_build`) has built its own schema, so that a value it validates
    serializes as itself inside any other model."""
    for model in models:
        model.model_rebuild()
    return TypeAdapter(annotation)


class OnFirstUse:
    """Pydantic metadata: validate the annotated field with `adapter()` (cached by the
    caller), built on the first value given rather than with the model."""

    def __init__(self, adapter: Callable[[], TypeAdapter[Any]]) -> None:
        self.adapter = adapter

    def __repr__(self) -> str:
        return f"OnFirstUse({self.adapter.__qualname__})"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(self.adapter().core_schema)

    def validate(self, value: Any) -> Any:
        return self.adapter().validate_python(value)
