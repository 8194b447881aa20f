"""Namespace files in the store: what both stores implement (sqlite_nsfiles.py,
postgres_nsfiles.py) and the records they return.

A namespace file is a row per revision, `(namespace, path, revision)`, with the bytes in
the row: a write never overwrites, it adds the next revision and moves the `is_last` mark.
A deletion is a revision too (`is_deleted`), so history survives it. A path ending in `/`
is an explicit (empty) folder; other folders exist because files lie in them.

One `write_namespace_files` call is one transaction: a sync of fifty files, a move, or a
delete of a folder lands whole or not at all, and the namespace's size limit is checked
inside it, against what is stored, so two writers cannot pass it together.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = [
    "FileChange",
    "NewRevision",
    "NamespaceFileConflict",
    "NamespaceFileRecord",
    "NamespaceFileStore",
    "NamespaceFull",
    "plan_write",
]


class NamespaceFull(Exception):
    """The write would take the namespace's files over their size limit."""

    def __init__(self, namespace: str, size: int, limit: int) -> None:
        super().__init__(
            f"namespace {namespace!r} would hold {size} bytes of files, over its limit "
            f"of {limit} bytes"
        )
        self.size = size
        self.limit = limit


class NamespaceFileConflict(Exception):
    """A file where a folder of the same name is (or the other way round)."""


@dataclass(frozen=True, slots=True)
class NamespaceFileRecord:
    namespace: str
    path: str  # "/a/b.txt"; a folder ends with "/"
    revision: int
    size: int
    sha256: str
    created_at: datetime
    updated_at: datetime
    is_deleted: bool = False

    @property
    def is_directory(self) -> bool:
        return self.path.endswith("/")

    def __repr__(self) -> str:
        return f"<NamespaceFileRecord {self.namespace}:{self.path} rev={self.revision}>"


@dataclass(frozen=True, slots=True)
class FileChange:
    """One path of a write: new bytes (a file), None with a path ending in `/` (a
    folder), or `delete`."""

    path: str
    content: bytes | None = None
    delete: bool = False

    def __repr__(self) -> str:
        what = "delete" if self.delete else f"{len(self.content or b'')} bytes"
        return f"<FileChange {self.path} {what}>"


class NamespaceFileStore(Protocol):
    async def write_namespace_files(
        self, namespace: str, changes: Sequence[FileChange], *, max_namespace_bytes: int
    ) -> list[NamespaceFileRecord]:
        """Apply every change in one transaction; returns the revisions written (a file
        whose bytes did not change and a delete of a missing path write nothing).
        Raises NamespaceFull (and writes nothing) past `max_namespace_bytes`."""

    async def namespace_files(
        self, namespace: str, prefix: str = "/", *, limit: int = 100_000
    ) -> list[NamespaceFileRecord]:
        """The current, undeleted files and folders whose path starts with `prefix`,
        by path."""

    async def namespace_file(
        self, namespace: str, path: str, revision: int | None = None
    ) -> tuple[NamespaceFileRecord, bytes] | None:
        """One file's record and bytes: the current one, or an earlier revision (even
        of a file deleted since). None when there is no such file or revision."""

    async def namespace_file_revisions(
        self, namespace: str, path: str
    ) -> list[NamespaceFileRecord]:
        """Every revision of one path, oldest first, deletions included."""

    async def namespace_file_contents(
        self, namespace: str, revisions: Sequence[tuple[str, int]]
    ) -> dict[str, bytes]:
        """The bytes of these (path, revision) pairs, in one round trip, by path."""

    async def namespaces_with_files(self) -> list[str]:
        """The namespaces holding at least one current file or folder."""


@dataclass(frozen=True, slots=True)
class NewRevision:
    """A row to insert: its record, and its bytes (None for a folder or a deletion)."""

    record: NamespaceFileRecord
    content: bytes | None

    def __repr__(self) -> str:
        return f"<NewRevision {self.record!r}>"


def _parent_folders(path: str) -> list[str]:
    """`/a/b/c.txt` and `/a/b/c/` -> [`/a`, `/a/b`]."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def plan_write(
    namespace: str,
    current: Mapping[str, NamespaceFileRecord],
    changes: Sequence[FileChange],
    *,
    now: datetime,
    max_namespace_bytes: int,
) -> list[NewRevision]:
    """The rows a write adds, decided from `current` (the last revision of every path of
    the namespace, deleted ones included) — the same rules for both stores:

    - a file whose bytes did not change and a delete of a missing path add nothing;
    - deleting a folder (`/a/`) deletes every current path under it;
    - a path may not be both a file and a folder (NamespaceFileConflict);
    - a path changed twice in one write gets one revision, its last state;
    - past `max_namespace_bytes` (and growing), NamespaceFull; nothing is written then.
    """
    for change in changes:
        if not change.path.startswith("/") or "\x00" in change.path:
            raise ValueError(f"not a checked namespace file path: {change.path!r}")
        if change.content is None and not change.delete and not change.path.endswith("/"):
            raise ValueError(f"a file change needs content: {change.path!r}")
    state = dict(current)
    planned: dict[str, NewRevision] = {}
    # how many live paths each folder holds (`/a` for `/a/x.txt` and for the folder `/a/`)
    holds: Counter[str] = Counter()

    def folders_of(path: str) -> list[str]:
        return _parent_folders(path) + ([path.rstrip("/")] if path.endswith("/") else [])

    def is_live(path: str) -> bool:
        found = state.get(path)
        return found is not None and not found.is_deleted

    for path in state:
        if is_live(path):
            holds.update(folders_of(path))

    def add(path: str, content: bytes | None, *, deleted: bool) -> None:
        before = current.get(path)
        was_live = before is not None and not before.is_deleted
        is_live_now = is_live(path)
        data = b"" if deleted or content is None else content
        digest = (
            hashlib.sha256(data).hexdigest() if not deleted else (before.sha256 if before else "")
        )
        if was_live and before is not None and not deleted and before.sha256 == digest:
            planned.pop(path, None)  # back to what is stored: nothing to write
            record = before
        else:
            record = NamespaceFileRecord(
                namespace=namespace,
                path=path,
                revision=before.revision + 1 if before else 1,
                size=0 if deleted else len(data),
                sha256=digest,
                created_at=before.created_at if was_live and before else now,
                updated_at=now,
                is_deleted=deleted,
            )
            planned[path] = NewRevision(record, None if deleted or path.endswith("/") else data)
        state[path] = record
        if is_live_now and deleted:
            holds.subtract(folders_of(path))
        elif not is_live_now and not deleted:
            holds.update(folders_of(path))

    for change in changes:
        path = change.path
        if change.delete:
            targets = []
            if path.endswith("/") and holds[path.rstrip("/")] > 0:
                targets = [p for p in state if p.startswith(path) and is_live(p)]
            if is_live(path) and path not in targets:
                targets.append(path)
            for target in targets:
                add(target, None, deleted=True)
            continue
        for folder in _parent_folders(path):
            if is_live(folder):
                raise NamespaceFileConflict(f"{folder} is a file, not a folder")
        if not path.endswith("/") and holds[path] > 0:
            raise NamespaceFileConflict(f"{path} is a folder")
        add(path, change.content, deleted=False)

    total_before = sum(r.size for r in current.values() if not r.is_deleted)
    total_after = sum(r.size for r in state.values() if not r.is_deleted)
    if total_after > max_namespace_bytes and total_after > total_before:
        raise NamespaceFull(namespace, total_after, max_namespace_bytes)
    return list(planned.values())
