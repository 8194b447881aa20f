"""Internal file storage on local disk, addressed by `kestra:///…` URIs.

Tasks pass files to each other as URIs (`outputs.extract.uri`), never as host paths.
A URI maps to a path under the storage root and can never leave it: `..`, absolute
parts, backslashes, NUL bytes, percent-encoded separators and symlinks pointing out
are all refused with a StorageError.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote

from engine.errors import StorageError

__all__ = ["LocalStorage", "ScopedStorage", "execution_folder"]

SCHEME = "kestra://"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file name that cannot carry a path: separators and oddities become `_`."""
    cleaned = _SAFE_NAME.sub("_", PurePosixPath(name.replace("\\", "/")).name).strip(".")
    return cleaned or "file"


_NAME_MAX = 255  # bytes in one file name (ext4, xfs)
_PATH_MAX = 4000  # bytes in a path below the root, leaving room for the root itself


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"<LocalStorage {self.root}>"

    def uri_for(self, relative: str) -> str:
        return SCHEME + "/" + quote(relative)

    def path_of(self, uri: str) -> Path:
        """The local path behind a URI, checked to stay under the root."""
        if not isinstance(uri, str) or not uri.startswith(SCHEME):
            raise StorageError(f"not an internal storage URI: {uri!r}")
        raw = uri[len(SCHEME) :]
        if (
            "\x00" in raw
            or "\\" in raw
            or "%2f" in raw.lower()
            or "%5c" in raw.lower()
            or "%00" in raw
        ):
            raise StorageError(f"invalid storage URI: {uri!r}")
        relative = unquote(raw).lstrip("/")
        parts = PurePosixPath(relative).parts
        if not parts or any(p in ("..", ".", "") for p in parts):
            raise StorageError(f"storage URI escapes the storage root: {uri!r}")
        if any(len(p.encode()) > _NAME_MAX for p in parts) or len(relative.encode()) > _PATH_MAX:
            # what the file system would refuse with "File name too long", said first
            raise StorageError(f"storage URI too long: {uri[:100]!r}…")
        path = (self.root / Path(*parts)).resolve()
        if not path.is_relative_to(self.root):
            raise StorageError(f"storage URI escapes the storage root: {uri!r}")
        return path

    def write(self, relative: str, data: bytes) -> str:
        uri = self.uri_for(relative)
        path = self.path_of(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return uri

    def copy_in(self, relative: str, source: Path) -> str:
        uri = self.uri_for(relative)
        path = self.path_of(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        return uri

    def read(self, uri: str) -> bytes:
        path = self.path_of(uri)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"no file in internal storage at {uri!r}") from exc

    def delete(self, uri: str) -> None:
        self.path_of(uri).unlink(missing_ok=True)

    def delete_tree(self, relative: str) -> list[str]:
        """Delete every file under a prefix; returns their URIs."""
        base = self.path_of(self.uri_for(relative))
        if not base.exists():
            return []
        removed = [
            self.uri_for(str(p.relative_to(self.root)))
            for p in sorted(base.rglob("*"))
            if p.is_file()
        ]
        shutil.rmtree(base)
        return removed


def execution_folder(namespace: str, flow_id: str, execution_id: str) -> str:
    """Where an execution's files live, relative to the storage root."""
    return f"{namespace.replace('.', '/')}/{flow_id}/executions/{execution_id}"


class ScopedStorage:
    """What one task run sees: writes go under its execution's folder."""

    def __init__(
        self, storage: LocalStorage, namespace: str, flow_id: str, execution_id: str, task_path: str
    ) -> None:
        self._storage = storage
        self._execution_prefix = execution_folder(namespace, flow_id, execution_id)
        self._prefix = f"{self._execution_prefix}/tasks/{task_path}"

    def __repr__(self) -> str:
        return f"<ScopedStorage {self._prefix}>"

    def put_bytes(self, name: str, data: bytes) -> str:
        return self._storage.write(f"{self._prefix}/{safe_name(name)}", data)

    def put_file(self, name: str, path: Path) -> str:
        return self._storage.copy_in(f"{self._prefix}/{safe_name(name)}", path)

    def new_file(self, name: str) -> tuple[Path, str]:
        uri = self._storage.uri_for(f"{self._prefix}/{safe_name(name)}")
        path = self._storage.path_of(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # a symlink left there is never written through
        return path, uri

    def local_path(self, uri: str) -> Path:
        return self._storage.path_of(uri)

    def execution_file(self, uri: str) -> Path:
        path = self._storage.path_of(uri)
        own = self._storage.path_of(self._storage.uri_for(self._execution_prefix))
        if not path.is_relative_to(own):
            raise StorageError(f"not a file of this execution: {uri!r}")
        return path

    def read_bytes(self, uri: str) -> bytes:
        return self._storage.read(uri)

    def purge_execution(self) -> list[str]:
        return self._storage.delete_tree(self._execution_prefix)
