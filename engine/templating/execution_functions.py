"""Functions that read the execution a template renders for: its files and its context.

`fileSize`, `fileExists` and `isFileEmpty` take a `kestra:///` URI and answer from the
internal storage the `Renderer` was given, but only for a file of the execution being
rendered (or, as in Kestra, of the execution that triggered it): a template cannot probe
another execution's or another tenant's files by guessing URIs. `fileURI('path')` names
a namespace file, as Kestra does, without touching storage.

`printContext()` returns the whole template context with every revealed secret masked;
`currentEachOutput(outputs.t)` picks the outputs of `t` for the current ForEach value;
`errorLogs()` lists the ERROR log lines of the execution so far (the walk installs the
source in `ERROR_LOGS` for everything it runs; nothing else can see them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from jinja2 import pass_context
from jinja2.runtime import Context

from engine.errors import StorageError, TemplateError
from engine.templating.bounds import current_budget

__all__ = [
    "ERROR_LOGS",
    "FileStore",
    "error_logs",
    "current_each_output",
    "file_exists",
    "file_size",
    "file_uri",
    "is_file_empty",
    "print_context",
]

SCHEME = "kestra:///"

ERROR_LOGS: ContextVar[Callable[[], list[dict[str, Any]]] | None] = ContextVar(
    "podium_error_logs", default=None
)


def error_logs() -> list[dict[str, Any]]:
    """Kestra's `errorLogs()`: the execution's ERROR log lines, oldest first, with
    Kestra's LogEntry fields (`taskId`, `taskRunId`, `attemptNumber`, `level`,
    `message`, `timestamp`, ...)."""
    source = ERROR_LOGS.get()
    if source is None:
        raise TemplateError("errorLogs: only available while an execution runs")
    return source()


class FileStore(Protocol):
    """What the file functions need of the internal storage (`LocalStorage` is one)."""

    def path_of(self, uri: str) -> Path: ...


def _execution_file(context: Context, uri: Any, function: str) -> Path:
    """The local path of `uri`, checked to be a file of the current (or triggering)
    execution."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME):
        raise TemplateError(
            f"{function}: expects a kestra:/// URI of this execution's internal storage, "
            f"not {uri!r}"
        )
    store = current_budget().storage
    if store is None:
        raise TemplateError(f"{function}: the internal storage is not available here")
    if not any(uri.startswith(prefix) for prefix in _allowed_prefixes(context)):
        raise TemplateError(f"{function}: {uri!r} is not a file of this execution")
    try:
        return store.path_of(uri)
    except StorageError as exc:
        raise TemplateError(f"{function}: {exc}") from None


def _allowed_prefixes(context: Context) -> list[str]:
    prefixes = []
    flow, execution, trigger = (context.get(k) for k in ("flow", "execution", "trigger"))
    if isinstance(flow, Mapping) and isinstance(execution, Mapping):
        prefixes.append(_prefix(flow.get("namespace"), flow.get("id"), execution.get("id")))
    if isinstance(trigger, Mapping):  # a subflow reads the files its parent passed on
        prefixes.append(
            _prefix(trigger.get("namespace"), trigger.get("flowId"), trigger.get("executionId"))
        )
    return [p for p in prefixes if p]


def _prefix(namespace: Any, flow_id: Any, execution_id: Any) -> str:
    if not all(isinstance(v, str) and v for v in (namespace, flow_id, execution_id)):
        return ""
    return f"{SCHEME}{namespace.replace('.', '/')}/{flow_id}/executions/{execution_id}/"


@pass_context
def file_size(context: Context, path: Any = None) -> int:
    """Kestra's `fileSize(uri)`: the size in bytes of a file of this execution."""
    local = _execution_file(context, path, "fileSize")
    try:
        return local.stat().st_size
    except FileNotFoundError:
        raise TemplateError(f"fileSize: no file at {path!r}") from None


@pass_context
def file_exists(context: Context, path: Any = None) -> bool:
    """Kestra's `fileExists(uri)`."""
    return _execution_file(context, path, "fileExists").is_file()


@pass_context
def is_file_empty(context: Context, path: Any = None) -> bool:
    """Kestra's `isFileEmpty(uri)`: true for a file of zero bytes."""
    local = _execution_file(context, path, "isFileEmpty")
    try:
        return local.stat().st_size == 0
    except FileNotFoundError:
        raise TemplateError(f"isFileEmpty: no file at {path!r}") from None


@pass_context
def file_uri(context: Context, path: Any = None) -> str:
    """Kestra's `fileURI('dir/file.sql')`: the URI of a namespace file of this flow's
    namespace, `kestra:///<namespace as folders>/_files/<path>`."""
    if not isinstance(path, str) or not path.strip("/"):
        raise TemplateError("fileURI: expects the path of a namespace file")
    relative = path.lstrip("/")
    parts = PurePosixPath(relative).parts
    if any(part in ("..", ".") for part in parts) or "\\" in relative or "\x00" in relative:
        raise TemplateError(f"fileURI: the path must stay inside the namespace: {path!r}")
    flow = context.get("flow")
    namespace = flow.get("namespace") if isinstance(flow, Mapping) else None
    if not isinstance(namespace, str):
        raise TemplateError("fileURI: there is no flow namespace here")
    return f"{SCHEME}{namespace.replace('.', '/')}/_files/{relative}"


@pass_context
def current_each_output(context: Context, outputs: Any = None) -> Any:
    """Kestra's `currentEachOutput(outputs.child)`: inside (nested) ForEach loops, the
    outputs of `child` for the current values, outermost loop first."""
    if not isinstance(outputs, Mapping):
        raise TemplateError("currentEachOutput: expects the outputs of a task, e.g. outputs.t")
    parents = context.get("parents")
    selected: Any = outputs
    if isinstance(parents, list):
        for parent in reversed(parents):  # nearest first in the context: walk outermost first
            taskrun = parent.get("taskrun") if isinstance(parent, Mapping) else None
            value = taskrun.get("value") if isinstance(taskrun, Mapping) else None
            if value is not None and isinstance(selected, Mapping):
                selected = selected.get(value)
    taskrun = context.get("taskrun")
    value = taskrun.get("value") if isinstance(taskrun, Mapping) else None
    return selected.get(value) if isinstance(selected, Mapping) else None


@pass_context
def print_context(context: Context) -> dict[str, Any]:
    """Kestra's `printContext()`: every variable of the template context (not the
    functions), with the secrets revealed so far masked."""
    environment_globals = context.environment.globals
    variables = {
        key: value
        for key, value in context.get_all().items()
        if key not in environment_globals or environment_globals[key] is not value
    }
    secrets = current_budget().secrets
    return _masked(variables, secrets.mask) if secrets is not None else variables


def _masked(value: Any, mask: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {_masked(k, mask): _masked(v, mask) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v, mask) for v in value]
    return value
