"""`Renderer`: what the rest of Podium calls to render task properties and conditions.

A Renderer is cheap and holds only settings (secrets, limits, clock); the sandboxed
environment and its compiled-template cache are shared by all of them. Each call gets a
fresh `RenderBudget`, so a limit is per render, never shared between executions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from engine.templating.bounds import (
    DEFAULT_MAX_LOOP_ITERATIONS,
    DEFAULT_MAX_OUTPUT_CHARS,
    DEFAULT_TIME_LIMIT,
    RenderBudget,
    enter_budget,
    exit_budget,
    utc_now,
)
from engine.templating.environment import ENVIRONMENT
from engine.templating.execution_functions import FileStore
from engine.templating.output import is_truthy
from engine.templating.pebble import split_expression
from engine.templating.secrets import SecretStore

__all__ = ["Renderer"]


class Renderer:
    """Renders Kestra-style templates in the sandbox, within time and size limits.

    `clock` is what `now()` returns (UTC); tests pass a fixed one. `storage` is what
    `fileSize()` and its siblings read (only files of the execution being rendered).
    """

    __slots__ = (
        "_clock",
        "_max_loop_iterations",
        "_max_output_chars",
        "_secrets",
        "_storage",
        "_time_limit",
    )

    def __init__(
        self,
        *,
        secrets: SecretStore | None = None,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        max_loop_iterations: int = DEFAULT_MAX_LOOP_ITERATIONS,
        time_limit: float = DEFAULT_TIME_LIMIT,
        clock: Callable[[], datetime] | None = None,
        storage: FileStore | None = None,
    ) -> None:
        if max_output_chars < 1 or max_loop_iterations < 0 or time_limit <= 0:
            raise ValueError("render limits must be positive")
        self._secrets = secrets
        self._max_output_chars = max_output_chars
        self._max_loop_iterations = max_loop_iterations
        self._time_limit = time_limit
        self._clock = clock or utc_now
        self._storage = storage

    def __repr__(self) -> str:
        return (
            f"Renderer(secrets={self._secrets!r}, max_output_chars={self._max_output_chars}, "
            f"max_loop_iterations={self._max_loop_iterations}, time_limit={self._time_limit})"
        )

    @property
    def secrets(self) -> SecretStore | None:
        return self._secrets

    def _budget(self) -> RenderBudget:
        return RenderBudget(
            self._max_output_chars,
            self._max_loop_iterations,
            self._time_limit,
            self._secrets,
            self._clock,
            self._storage,
        )

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        """`template` rendered with `context`; raises TemplateError on any failure."""
        if "{{" not in template and "{%" not in template:
            return template  # most properties are plain text: skip Jinja entirely
        token = enter_budget(self._budget())
        try:
            return ENVIRONMENT.render_source(template, context)
        finally:
            exit_budget(token)

    def render_value(self, value: Any, context: Mapping[str, Any]) -> Any:
        """Every string inside dicts (keys too), lists and tuples rendered; the rest as is."""
        if isinstance(value, str):
            return self.render(value, context)
        if isinstance(value, dict):
            return {
                self.render_value(k, context): self.render_value(v, context)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.render_value(item, context) for item in value]
        if isinstance(value, tuple):
            return tuple(self.render_value(item, context) for item in value)
        return value

    def evaluate(self, expression: str, context: Mapping[str, Any]) -> Any:
        """The native value of one expression: "{{ expr }}" alone, or a bare "expr"."""
        source = split_expression(expression)
        token = enter_budget(self._budget())
        try:
            return ENVIRONMENT.evaluate_source(source, context, expression)
        finally:
            exit_budget(token)

    def is_true(self, template: str, context: Mapping[str, Any]) -> bool:
        """Render, then apply Kestra's truthiness (see `is_truthy`)."""
        return is_truthy(self.render(template, context))
