"""Namespace files: the one module that reads and writes them, for every caller.

The REST API, the UI, `podium nsfiles sync` (local or through the API), the namespace
tasks and script tasks' `namespaceFiles` (through `RunContext.namespace_files`, which
this class implements) and the `read()` template function all come here, so a path is
checked in one place and the limits hold for everyone:

- a path is `/`-separated, at most 1024 characters, each part at most 255; no `..`, `.`,
  empty parts, NUL or other control characters, backslashes; the top folder `_flows` is
  Kestra's and refused. Paths are names in the store, never host paths: nothing here
  touches a file system, so there is no symlink to follow either.
- a file holds at most `max_file_bytes`; a namespace's current files at most
  `max_namespace_bytes` in all (checked by the store inside the write's transaction).

The bytes live in the store, a row per revision (docs/architecture.md says why).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.errors import PodiumError
from engine.store.base import Store
from engine.store.nsfiles import (
    FileChange,
    NamespaceFileConflict,
    NamespaceFileRecord,
    NamespaceFull,
)

__all__ = [
    "DirectoryEntry",
    "NamespaceFileError",
    "NamespaceFileLimits",
    "NamespaceFiles",
    "clean_path",
    "clean_namespace",
]

MAX_PATH_CHARS = 1024
MAX_PART_CHARS = 255
_NAMESPACE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,149}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class NamespaceFileError(PodiumError):
    """A refused namespace-file operation; `status` is the HTTP status it maps to."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class NamespaceFileLimits:
    max_file_bytes: int = 10 << 20
    max_namespace_bytes: int = 100 << 20
    # How much of a namespace `read()` may hold in memory for one task run.
    max_read_bytes: int = 8 << 20


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """A child of a folder, as Kestra's FileAttributes describe it."""

    name: str
    is_directory: bool
    size: int
    created_at: datetime | None
    updated_at: datetime | None

    def kestra_json(self) -> dict[str, object]:
        return {
            "fileName": self.name,
            "lastModifiedTime": _millis(self.updated_at),
            "creationTime": _millis(self.created_at),
            "type": "Directory" if self.is_directory else "File",
            "size": self.size,
            "metadata": {},
        }


def _millis(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


def clean_namespace(namespace: str) -> str:
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise NamespaceFileError(400, f"invalid namespace {namespace!r}")
    return namespace


def clean_path(raw: str, *, folder: bool = False) -> str:
    """`raw` as a stored path: `/a/b.txt`, or `/a/b/` with `folder` (and `/` for the root
    folder). Raises NamespaceFileError (400) for anything that is not a plain path."""
    if not isinstance(raw, str) or not raw.strip():
        raise NamespaceFileError(400, "a namespace file path is required")
    if len(raw) > MAX_PATH_CHARS:
        raise NamespaceFileError(400, f"the path is over {MAX_PATH_CHARS} characters")
    if _CONTROL.search(raw) or "\\" in raw:
        raise NamespaceFileError(400, f"invalid path {raw!r}: control characters or backslashes")
    text = raw.strip("/") if folder else raw.lstrip("/")
    if folder and not text:
        return "/"
    parts = text.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise NamespaceFileError(400, f"invalid path {raw!r}: empty, '.' or '..' parts")
        if len(part) > MAX_PART_CHARS:
            raise NamespaceFileError(
                400, f"a file or folder name is over {MAX_PART_CHARS} characters"
            )
    if parts[0] == "_flows":
        raise NamespaceFileError(400, f"forbidden path {raw!r}: _flows is reserved")
    return "/" + "/".join(parts) + ("/" if folder else "")


class _ContentCache:
    """Bytes of file revisions, bounded in bytes, least recently used out first."""

    def __init__(self, max_bytes: int) -> None:
        self._items: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes

    def get(self, key: tuple[str, str, int]) -> bytes | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str, int], data: bytes) -> None:
        if len(data) > self._max or key in self._items:
            return
        self._items[key] = data
        self._bytes += len(data)
        while self._bytes > self._max:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)


class NamespaceFiles:
    def __init__(
        self,
        store: Store,
        limits: NamespaceFileLimits | None = None,
        *,
        cache_bytes: int = 64 << 20,
    ) -> None:
        self.store = store
        self.limits = limits or NamespaceFileLimits()
        self._cache = _ContentCache(cache_bytes)

    def __repr__(self) -> str:
        return f"<NamespaceFiles {self.store!r}>"

    # -- writes -----------------------------------------------------------------------

    async def write(
        self,
        namespace: str,
        files: Mapping[str, bytes],
        *,
        delete: Sequence[str] = (),
        folders: Sequence[str] = (),
    ) -> list[NamespaceFileRecord]:
        """Put `files` (path -> bytes), create `folders`, delete `delete` (files or
        folders), all in one transaction."""
        namespace = clean_namespace(namespace)
        changes: list[FileChange] = []  # deletions first: a file may replace a folder
        for raw in delete:
            changes.append(FileChange(clean_path(raw), delete=True))
            changes.append(FileChange(clean_path(raw, folder=True), delete=True))
        changes.extend(FileChange(clean_path(raw, folder=True)) for raw in folders)
        for raw, data in files.items():
            path = clean_path(raw)
            if len(data) > self.limits.max_file_bytes:
                raise NamespaceFileError(
                    413, f"{path} is {len(data)} bytes, over the limit of "
                    f"{self.limits.max_file_bytes} bytes per namespace file",
                )  # fmt: skip
            changes.append(FileChange(path, bytes(data)))
        return await self._write(namespace, changes)

    async def _write(
        self, namespace: str, changes: Sequence[FileChange]
    ) -> list[NamespaceFileRecord]:
        try:
            return await self.store.write_namespace_files(
                namespace, changes, max_namespace_bytes=self.limits.max_namespace_bytes
            )
        except NamespaceFull as exc:
            raise NamespaceFileError(413, str(exc)) from None
        except NamespaceFileConflict as exc:
            raise NamespaceFileError(409, str(exc)) from None

    async def delete(self, namespace: str, paths: Sequence[str]) -> list[str]:
        """Delete files or whole folders; returns the paths deleted (files and folders)."""
        written = await self.write(namespace, {}, delete=paths)
        return [r.path for r in written]

    async def move(self, namespace: str, source: str, target: str) -> list[NamespaceFileRecord]:
        """Move a file, or a folder with everything in it, in one transaction. The target
        must not exist."""
        namespace = clean_namespace(namespace)
        src, dst = clean_path(source), clean_path(target)
        if dst == src or dst.startswith(src + "/"):
            raise NamespaceFileError(400, f"cannot move {src} into itself")
        if await self._exists(namespace, dst):
            raise NamespaceFileError(409, f"{dst} already exists")
        found = await self.store.namespace_file(namespace, src)
        if found is not None:
            record, data = found
            pairs: list[tuple[str, str, bytes | None]] = [(src, dst, data)]
        else:
            under = await self.store.namespace_files(namespace, src + "/")
            if not under:
                raise NamespaceFileError(404, f"no file or folder {src}")
            pairs = []
            for record in under:
                moved = dst + record.path[len(src) :]
                if record.is_directory:
                    pairs.append((record.path, moved, None))
                else:
                    got = await self.store.namespace_file(namespace, record.path)
                    if got is not None:
                        pairs.append((record.path, moved, got[1]))
        changes = [FileChange(old, delete=True) for old, _, _ in pairs]
        changes += [FileChange(new, data) for _, new, data in pairs]
        return await self._write(namespace, changes)

    # -- reads ------------------------------------------------------------------------

    async def _exists(self, namespace: str, path: str) -> bool:
        if await self.store.namespace_file(namespace, path) is not None:
            return True
        return bool(await self.store.namespace_files(namespace, path + "/", limit=1))

    async def get(
        self, namespace: str, path: str, revision: int | None = None
    ) -> tuple[NamespaceFileRecord, bytes]:
        namespace, path = clean_namespace(namespace), clean_path(path)
        found = await self.store.namespace_file(namespace, path, revision)
        if found is None:
            which = f" at revision {revision}" if revision is not None else ""
            raise NamespaceFileError(404, f"no file {path}{which} in namespace {namespace}")
        return found

    async def files(self, namespace: str, folder: str = "/") -> list[NamespaceFileRecord]:
        """Every current file (not folder) under `folder`, by path."""
        namespace, prefix = clean_namespace(namespace), clean_path(folder, folder=True)
        records = await self.store.namespace_files(namespace, prefix)
        return [r for r in records if not r.is_directory]

    async def revisions(self, namespace: str, path: str) -> list[NamespaceFileRecord]:
        namespace, path = clean_namespace(namespace), clean_path(path)
        found = await self.store.namespace_file_revisions(namespace, path)
        if not found or found[-1].is_deleted:
            raise NamespaceFileError(404, f"no file {path} in namespace {namespace}")
        return found

    async def children(self, namespace: str, folder: str = "/") -> list[DirectoryEntry]:
        """The files and folders directly in `folder` (404 for a folder that does not
        exist, except the root, which always does)."""
        namespace, prefix = clean_namespace(namespace), clean_path(folder, folder=True)
        records = await self.store.namespace_files(namespace, prefix)
        if prefix != "/" and not records:
            raise NamespaceFileError(404, f"no folder {prefix} in namespace {namespace}")
        entries: dict[str, DirectoryEntry] = {}
        for record in records:
            rest = record.path[len(prefix) :]
            if not rest:
                continue  # the folder's own row
            name, separator, _ = rest.partition("/")
            if not separator and not record.is_directory:
                entries[name] = DirectoryEntry(
                    name, False, record.size, record.created_at, record.updated_at
                )
                continue
            seen = entries.get(name)
            created = min(_dates(seen.created_at if seen else None, record.created_at))
            updated = max(_dates(seen.updated_at if seen else None, record.updated_at))
            entries[name] = DirectoryEntry(name, True, 0, created, updated)
        return sorted(entries.values(), key=lambda e: (not e.is_directory, e.name))

    async def stat(self, namespace: str, path: str | None) -> DirectoryEntry:
        namespace = clean_namespace(namespace)
        if path is None or path.strip("/") == "":
            return DirectoryEntry("_files", True, 0, None, None)
        cleaned = clean_path(path)
        found = await self.store.namespace_file(namespace, cleaned)
        name = cleaned.rsplit("/", 1)[-1]
        if found is not None:
            record = found[0]
            return DirectoryEntry(name, False, record.size, record.created_at, record.updated_at)
        under = await self.store.namespace_files(namespace, cleaned + "/")
        if not under:
            raise NamespaceFileError(404, f"no file or folder {cleaned} in namespace {namespace}")
        return DirectoryEntry(
            name,
            True,
            0,
            min(r.created_at for r in under),
            max(r.updated_at for r in under),
        )

    async def namespaces(self) -> list[str]:
        return await self.store.namespaces_with_files()

    async def contents(
        self, namespace: str, records: Sequence[NamespaceFileRecord]
    ) -> dict[str, bytes]:
        """The bytes of these revisions, from the cache when it has them."""
        found: dict[str, bytes] = {}
        missing: list[NamespaceFileRecord] = []
        for record in records:
            data = self._cache.get((namespace, record.path, record.revision))
            if data is None:
                missing.append(record)
            else:
                found[record.path] = data
        for start in range(0, len(missing), 500):  # bounded round trips and batch sizes
            batch = missing[start : start + 500]
            fetched = await self.store.namespace_file_contents(
                namespace, [(r.path, r.revision) for r in batch]
            )
            for record in batch:
                if record.path in fetched:  # else deleted meanwhile
                    self._cache.put((namespace, record.path, record.revision), fetched[record.path])
                    found[record.path] = fetched[record.path]
        return found

    # -- what a task sees (engine.plugin.NamespaceFilesAccess) ---------------------------

    async def list_files(self, namespace: str) -> list[tuple[str, int]]:
        return [(r.path, r.size) for r in await self.files(namespace)]

    async def read(self, namespace: str, path: str) -> bytes:
        record, data = await self.get(namespace, path)
        return data

    async def put(
        self, namespace: str, files: Mapping[str, bytes], *, conflict: str = "OVERWRITE"
    ) -> list[str]:
        """Kestra's conflict rules: OVERWRITE, ERROR (fail if any exists), SKIP (keep
        what exists). Returns the paths written."""
        if conflict not in ("OVERWRITE", "ERROR", "SKIP"):
            raise NamespaceFileError(400, f"unknown conflict behaviour {conflict!r}")
        wanted = {clean_path(p): data for p, data in files.items()}
        if conflict != "OVERWRITE":
            existing = {r.path for r in await self.files(namespace)}
            clashes = sorted(existing & wanted.keys())
            if clashes and conflict == "ERROR":
                raise NamespaceFileError(409, f"namespace files already exist: {clashes}")
            wanted = {p: d for p, d in wanted.items() if p not in existing}
        await self.write(namespace, wanted)
        return sorted(wanted)


def _dates(*values: datetime | None) -> list[datetime]:
    return [v for v in values if v is not None]
