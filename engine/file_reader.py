"""What `read()` reads during one task run (engine/templating/reading.py says why it is
gathered before the run).

- A `kestra:///` URI is read from internal storage only inside this execution's own
  folder (`<namespace as dirs>/<flow>/executions/<id>/`, after symlinks are resolved), or
  its parent's when a Subflow task started it (a parent hands files to its subflows): a
  template cannot read another execution's files by guessing their URI.
- Anything else is a namespace file: `read('a/b.sql')` and `nsfile:///a/b.sql` in the
  flow's namespace, `read('a/b.sql', namespace='other')` and `nsfile://other/a/b.sql` in
  another. When a task's properties (or the flow's variables) call `read(`, the current
  files of the flow's namespace, and of every namespace written literally as
  `namespace='…'` or `nsfile://…/` in them, are fetched before the run, up to
  `max_read_bytes` in all (the files whose path the task names first).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import orjson

from engine.errors import StorageError, TemplateError
from engine.events import ParentRef
from engine.flow import Flow
from engine.nsfiles import NamespaceFileError, NamespaceFiles, clean_namespace, clean_path
from engine.plugin import Task
from engine.storage import LocalStorage

__all__ = ["RunFileReader", "file_reader_for"]

_OTHER_NAMESPACE = re.compile(
    r"""namespace\s*=\s*['"]([A-Za-z0-9][\w.-]*)['"]|nsfile://([A-Za-z0-9][\w.-]*)/"""
)


# (namespace, flow id, execution id): an execution whose folder a run may read
ExecutionKey = tuple[str, str, str]


def _execution_folder(storage: LocalStorage, execution: ExecutionKey) -> Path:
    namespace, flow_id, execution_id = execution
    return storage.root / namespace.replace(".", "/") / flow_id / "executions" / execution_id


class RunFileReader:
    def __init__(
        self,
        storage: LocalStorage,
        executions: Sequence[ExecutionKey],
        *,
        namespace: str,
        files: dict[tuple[str, str], bytes],
        left_out: set[tuple[str, str]],
        gathered: set[str],
        max_bytes: int,
    ) -> None:
        self._storage = storage
        # their folders are built only when a kestra:/// URI is read: most runs never do,
        # and four pathlib joins per task run were a tenth of a trivial task's CPU
        self._executions = tuple(executions)
        self._namespace = namespace
        self._files = files
        self._left_out = left_out
        self._gathered = gathered
        self._max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"<RunFileReader {self._namespace} {len(self._files)} files>"

    def read(self, path: str, namespace: str | None = None, version: int | None = None) -> str:
        if path.startswith("kestra://"):
            return self._read_storage(path)
        if version is not None:
            raise TemplateError(
                f"read({path!r}, version={version}): earlier revisions are read through the "
                "API (GET …/files?revision=N), not in templates"
            )
        if path.startswith("nsfile://"):
            where, _, rest = path[len("nsfile://") :].partition("/")
            namespace, path = where or namespace, "/" + rest
        namespace = namespace or self._namespace
        try:
            key = (clean_namespace(namespace), clean_path(path))
        except NamespaceFileError as exc:
            raise TemplateError(f"read({path!r}): {exc.message}") from None
        found = self._files.get(key)
        if found is not None:
            return found.decode("utf-8", errors="replace")
        if key in self._left_out:
            raise TemplateError(
                f"read({path!r}): the namespace files this task may read are over "
                f"{self._max_bytes} bytes in all; copy big files with namespaceFiles instead"
            )
        if namespace not in self._gathered:
            raise TemplateError(
                f"read({path!r}): the files of namespace {namespace} are fetched for tasks "
                "whose properties (or the flow's variables) call read() and name the "
                "namespace literally"
            )
        raise TemplateError(f"read({path!r}): no such file in namespace {namespace}")

    def _read_storage(self, uri: str) -> str:
        try:
            local = self._storage.path_of(uri)
        except StorageError as exc:
            raise TemplateError(f"read(): {exc}") from None
        folders = (_execution_folder(self._storage, e).resolve() for e in self._executions)
        if not any(local.is_relative_to(folder) for folder in folders):
            raise TemplateError("read(): the file does not belong to this execution")
        try:
            with local.open("rb") as handle:
                data = handle.read(self._max_bytes + 1)
        except OSError:
            raise TemplateError(f"read(): no file in internal storage at {uri!r}") from None
        if len(data) > self._max_bytes:
            raise TemplateError(f"read(): {uri!r} is over {self._max_bytes} bytes")
        return data.decode("utf-8", errors="replace")


async def file_reader_for(
    flow: Flow,
    task: Task,
    execution_id: str,
    parent: ParentRef | None,
    storage: LocalStorage,
    namespace_files: NamespaceFiles,
) -> RunFileReader:
    executions = [(flow.namespace, flow.id, execution_id)]
    if parent is not None:
        executions.append((parent.namespace, parent.flow_id, parent.execution_id))
    limit = namespace_files.limits.max_read_bytes
    files: dict[tuple[str, str], bytes] = {}
    left_out: set[tuple[str, str]] = set()
    gathered: set[str] = set()
    text = ""
    if flow.may_read_files:  # else no property or variable of the flow says `read(`
        text = task.model_dump_json(by_alias=True)
        text += orjson.dumps(flow.variables, default=str).decode()
    if "read(" in text:
        gathered = {flow.namespace}
        for match in _OTHER_NAMESPACE.finditer(text):
            gathered.add(match.group(1) or match.group(2))
        total = 0
        for namespace in sorted(gathered, key=lambda n: n != flow.namespace):
            try:
                records = await namespace_files.files(namespace)
            except NamespaceFileError:
                continue  # not a namespace name: read() will say so if it is used
            # the files the task names first, then the smallest
            records.sort(key=lambda r: (r.path.lstrip("/") not in text, r.size, r.path))
            chosen = []
            for record in records:
                if total + record.size > limit:
                    left_out.add((namespace, record.path))
                    continue
                total += record.size
                chosen.append(record)
            contents = await namespace_files.contents(namespace, chosen)
            files.update({(namespace, path): data for path, data in contents.items()})
    return RunFileReader(
        storage,
        executions,
        namespace=flow.namespace,
        files=files,
        left_out=left_out,
        gathered=gathered,
        max_bytes=limit,
    )
