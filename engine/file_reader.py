"""What `read()` reads during one task run (engine/templating/reading.py says why it is
gathered before the run).

- A `kestra:///` URI is read from internal storage only inside this execution's own
  folder (`<namespace as dirs>/<flow>/executions/<id>/`, after symlinks are resolved):
  a template cannot read another execution's files by guessing their URI.
- Any other text is a path of a namespace file of the flow's namespace. When a task's
  properties (or the flow's variables) call `read(`, the current files of the namespace
  are fetched before the run, up to `max_read_bytes` in all (the files whose path the
  task names first); a file left out by that bound is refused with the reason.
"""

from __future__ import annotations

import orjson

from engine.errors import StorageError, TemplateError
from engine.flow import Flow
from engine.nsfiles import NamespaceFileError, NamespaceFiles, clean_path
from engine.plugin import Task
from engine.storage import LocalStorage

__all__ = ["RunFileReader", "file_reader_for"]


class RunFileReader:
    def __init__(
        self,
        storage: LocalStorage,
        execution_folder: str,
        *,
        namespace: str,
        files: dict[str, bytes],
        left_out: set[str],
        max_bytes: int,
        is_gathered: bool,
    ) -> None:
        self._storage = storage
        self._folder = (storage.root / execution_folder).resolve()
        self._namespace = namespace
        self._files = files
        self._left_out = left_out
        self._max_bytes = max_bytes
        self._is_gathered = is_gathered

    def __repr__(self) -> str:
        return f"<RunFileReader {self._namespace} {len(self._files)} files>"

    def read(self, path: str) -> str:
        if path.startswith("kestra://"):
            return self._read_storage(path)
        try:
            cleaned = clean_path(path)
        except NamespaceFileError as exc:
            raise TemplateError(f"read({path!r}): {exc.message}") from None
        found = self._files.get(cleaned)
        if found is not None:
            return found.decode("utf-8", errors="replace")
        if cleaned in self._left_out:
            raise TemplateError(
                f"read({path!r}): the namespace files this task may read are over "
                f"{self._max_bytes} bytes in all; copy big files with namespaceFiles instead"
            )
        if not self._is_gathered:
            raise TemplateError(
                f"read({path!r}): namespace files are gathered for tasks whose properties "
                "(or the flow's variables) call read()"
            )
        raise TemplateError(f"read({path!r}): no such file in namespace {self._namespace}")

    def _read_storage(self, uri: str) -> str:
        try:
            local = self._storage.path_of(uri)
        except StorageError as exc:
            raise TemplateError(f"read(): {exc}") from None
        if not local.is_relative_to(self._folder):
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
    storage: LocalStorage,
    namespace_files: NamespaceFiles,
) -> RunFileReader:
    namespace = flow.namespace
    folder = f"{namespace.replace('.', '/')}/{flow.id}/executions/{execution_id}"
    limit = namespace_files.limits.max_read_bytes
    files: dict[str, bytes] = {}
    left_out: set[str] = set()
    text = task.model_dump_json(by_alias=True) + orjson.dumps(flow.variables, default=str).decode()
    is_gathered = "read(" in text
    if is_gathered:
        records = await namespace_files.files(namespace)
        # the files the task names come first, then the smallest
        records.sort(key=lambda r: (r.path.lstrip("/") not in text, r.size, r.path))
        total, chosen = 0, []
        for record in records:
            if total + record.size > limit:
                left_out.add(record.path)
                continue
            total += record.size
            chosen.append(record)
        files = await namespace_files.contents(namespace, chosen)
    return RunFileReader(
        storage,
        folder,
        namespace=namespace,
        files=files,
        left_out=left_out,
        max_bytes=limit,
        is_gathered=is_gathered,
    )
