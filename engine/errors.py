"""Every error Podium raises on purpose, in one tree.

    PodiumError
    ├── FlowDefinitionError     a flow (YAML, model, task properties) is invalid; never retried
    │                           carries every Problem found, each with file, line, column, path
    ├── InputError              execution inputs do not match the flow's declared inputs
    ├── TemplateError           a template failed to parse or render (names template and variable)
    ├── StorageError            an internal-storage URI is malformed or escapes its root
    ├── TransientError          the bus or the store failed in a way worth retrying
    ├── ConfigError             settings files or PODIUM_* variables are invalid
    └── TaskFailed              a user task failed; the executor records it and may retry it
        └── TaskTimeout         an attempt ran past its `timeout`

Lower-level errors (sqlite3, asyncpg, aiokafka, OSError) are translated into these once,
at the adapter that calls the library, so the rest of the code only sees this tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigError",
    "FlowDefinitionError",
    "InputError",
    "PodiumError",
    "Problem",
    "StorageError",
    "TaskFailed",
    "TaskTimeout",
    "TemplateError",
    "TransientError",
]


class PodiumError(Exception):
    """Base class of every error Podium raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a flow definition, located as precisely as we can."""

    message: str
    path: str = ""
    source: str = "<flow>"
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        at = f" {self.path}:" if self.path else ""
        return f"{where}:{at} {self.message}"


class FlowDefinitionError(PodiumError):
    """A flow cannot be loaded. Holds every problem found, not only the first."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InputError(PodiumError):
    """Execution inputs are invalid. `errors` maps an input id to why it was rejected."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"input '{name}': {why}" for name, why in self.errors.items()))


class TemplateError(PodiumError):
    """A template could not be parsed or rendered."""

    def __init__(self, message: str, *, template: str = "", variable: str | None = None) -> None:
        self.template = template
        self.variable = variable
        shown = template if len(template) <= 200 else template[:197] + "..."
        super().__init__(f"{message} (in template {shown!r})" if template else message)


class StorageError(PodiumError):
    """An internal-storage URI is malformed, missing, or would leave the storage root."""


class TransientError(PodiumError):
    """The bus or the store failed in a way that is worth retrying with backoff."""


class EventsLost(TransientError):
    """Records sent without waiting (`Bus.send`) were not written. Retrying the call that
    raised it does not bring them back: whoever sent them re-reads what is durable (the
    executor takes its partitions over again) and calls `Bus.discard_failed()`."""


class ConfigError(PodiumError):
    """Settings are invalid."""


class TaskFailed(PodiumError):
    """A task failed. Raised by task code (or by the executor on its behalf).

    `outputs` are recorded on the failed task run all the same (a script's exit code and
    what it printed before failing, as Kestra keeps them)."""

    def __init__(self, message: str = "", *, outputs: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.outputs = dict(outputs or {})


class TaskTimeout(TaskFailed):
    """An attempt ran past the task's `timeout`."""
