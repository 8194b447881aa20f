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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = [
    "FileChange",
    "NamespaceFileConflict",
    "NamespaceFileRecord",
    "NamespaceFileStore",
    "NamespaceFull",
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

    async def namespaces_with_files(self) -> list[str]:
        """The namespaces holding at least one current file or folder."""


def parent_folders(path: str) -> list[str]:
    """`/a/b/c.txt` -> [`/a/`, `/a/b/`]."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def check_changes(changes: Sequence[FileChange]) -> None:
    """A programming error, not user input: paths reach the store already checked."""
    for change in changes:
        if not change.path.startswith("/") or "\x00" in change.path:
            raise ValueError(f"not a checked namespace file path: {change.path!r}")
        if change.content is None and not change.delete and not change.path.endswith("/"):
            raise ValueError(f"a file change needs content: {change.path!r}")
