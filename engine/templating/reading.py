"""The `read()` template function: the text of a namespace file or of an execution's file.

    {{ read('scripts/query.sql') }}         a file of the flow's namespace
    {{ read(inputs.file) }}                 a kestra:/// URI of this execution

Templates render synchronously, but namespace files live in the store: so the engine
gathers what a task run may read before the run starts and hands it over as a
`FileReader` for the time of the run (a context variable, so parallel task runs each
see their own). Outside a task run, `read()` says it is not available.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol

from jinja2 import Environment

from engine.errors import TemplateError
from engine.templating.scoped import Scoped

__all__ = ["FileReader", "install", "read", "reading"]


class FileReader(Protocol):
    def read(self, path: str, namespace: str | None = None, version: int | None = None) -> str:
        """The file's text; raises TemplateError with the reason when it cannot."""


_READER: ContextVar[FileReader | None] = ContextVar("podium_file_reader", default=None)


def reading(reader: FileReader) -> Scoped[FileReader | None]:
    """`with reading(reader):` the renders inside read through `reader`."""
    return Scoped(_READER, reader)


def read(path: Any, namespace: Any = None, version: Any = None) -> str:
    """Kestra's `read(path, namespace=flow.namespace, version=latest)`."""
    reader = _READER.get()
    if reader is None:
        raise TemplateError("read() is only available while a task runs", variable="read()")
    if not isinstance(path, str) or not path:
        raise TemplateError(f"read() takes a path or a kestra:/// URI, got {path!r}")
    if namespace is not None and not isinstance(namespace, str):
        raise TemplateError(f"read(): namespace must be text, got {namespace!r}")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise TemplateError(f"read(): version must be a number, got {version!r}")
    return reader.read(path, namespace, version)


def install(environment: Environment) -> None:
    environment.globals["read"] = read
