"""What the file triggers know about a folder: which files count, their versions, a copy.

Everything here is synchronous; what touches the disk (scan, stat_paths, copy_version,
move_or_delete) is called through `asyncio.to_thread`. Nothing here knows about claims,
the store or the event loop.

    Folder          a watched folder: resolved root, recursive or not, filters,
                    excluded subtrees (a MOVE target, Podium's own data folder)
    FileVersion     one version of one file; `key` (size, mtime_ns, path) is what gets
                    claimed, so the same version never fires twice
    Settler         files seen changing, until two looks SETTLE_SECONDS apart agree
    scan, stat_paths   list the folder / look at some paths again
    copy_version    copy exactly that version into internal storage, or refuse
    describe        the Kestra-shaped map tasks see as `trigger.file`
    folder_problem  why a folder may not be watched (outside the allowed paths …)

Safety: a file counts only if it is a regular file (not a symlink, FIFO, device …) and
its real path is the path we were given, under the resolved root — so neither a symlink
nor a symlinked directory on the way can make the trigger read outside the folder. The
copy opens the file with O_NOFOLLOW and checks, on the open descriptor, that it is still
the version that settled, before and after copying.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

__all__ = [
    "SETTLE_SECONDS",
    "FileVersion",
    "Folder",
    "Settler",
    "copy_version",
    "describe",
    "folder_problem",
    "has_copy",
    "move_or_delete",
    "scan",
    "stat_paths",
]

_COPY_CHUNK = 1 << 20

SETTLE_SECONDS = 0.15
"""A file is stable when two looks this far apart find the same size and mtime."""


@dataclass(frozen=True, slots=True)
class FileVersion:
    """One version of one file. Equal stats mean the file did not change in between."""

    path: str  # absolute, under the folder's resolved root, no symlink on the way
    size: int
    mtime_ns: int
    atime_ns: int = 0
    created_ns: int = 0
    ino: int = 0
    dev: int = 0

    def __repr__(self) -> str:
        return f"<FileVersion {self.path} size={self.size} mtime_ns={self.mtime_ns}>"

    @property
    def key(self) -> str:
        """The claim key: the path last, so it needs no escaping."""
        return f"{self.size}:{self.mtime_ns}:{self.path}"

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @classmethod
    def from_key(cls, key: str, *, atime_ns: int = 0, created_ns: int = 0) -> FileVersion:
        size, mtime_ns, path = key.split(":", 2)
        return cls(path, int(size), int(mtime_ns), atime_ns, created_ns)

    def is_same(self, other: FileVersion | None) -> bool:
        """Same file, same content as far as the filesystem tells (atime aside)."""
        return other is not None and (
            self.path,
            self.size,
            self.mtime_ns,
            self.ino,
            self.dev,
        ) == (other.path, other.size, other.mtime_ns, other.ino, other.dev)


@dataclass(frozen=True)
class Folder:
    """A watched folder and the rules saying which of its files count."""

    root: Path  # resolved
    recursive: bool = False
    pattern: re.Pattern[str] | None = None  # Kestra's regExp: matches the whole absolute path
    glob: str | None = None
    exclude: tuple[Path, ...] = ()  # resolved; subtrees never looked at

    def __repr__(self) -> str:
        return f"<Folder {self.root} recursive={self.recursive}>"

    @property
    def _prefix(self) -> str:
        return str(self.root).rstrip(os.sep) + os.sep

    def is_excluded(self, path: str) -> bool:
        return any(
            path == str(e) or path.startswith(str(e).rstrip(os.sep) + os.sep) for e in self.exclude
        )

    def wants(self, path: str) -> bool:
        """Whether `path` may be one of our files, by its name alone (no I/O)."""
        prefix = self._prefix
        if not path.startswith(prefix) or os.path.normpath(path) != path:
            return False  # outside the root, or `..`, `//`, `/./` in the name
        relative = path[len(prefix) :]
        if not relative or (not self.recursive and os.sep in relative):
            return False
        if self.is_excluded(path):
            return False
        if self.pattern is not None and self.pattern.fullmatch(path) is None:
            return False
        if self.glob is not None:
            target = relative if "/" in self.glob else os.path.basename(path)
            return fnmatchcase(target, self.glob)
        return True


class Settler:
    """Files seen changing, until they stop: path → (version last seen, when).

    A path is due for a look when it has no version yet, or its version was seen
    `settle` seconds ago; a look that finds the same version makes it stable. It holds
    only files that are changing, so never more than the folder holds. Time is passed
    in (monotonic seconds): settling measures the writer, not the schedule.
    """

    def __init__(self, settle: float = SETTLE_SECONDS) -> None:
        self.settle = settle
        self._seen: dict[str, tuple[FileVersion | None, float]] = {}

    def __repr__(self) -> str:
        return f"<Settler {len(self._seen)} settling>"

    def __len__(self) -> int:
        return len(self._seen)

    def saw(self, path: str) -> None:
        """An event named `path`: look at it soon (a change since the last look will
        show as a different version then)."""
        self._seen.setdefault(path, (None, 0.0))

    def seed(self, version: FileVersion, now: float) -> None:
        """A scan already looked at `version` (first look)."""
        previous = self._seen.get(version.path)
        if previous is None or not version.is_same(previous[0]):
            self._seen[version.path] = (version, now)

    def forget(self, path: str) -> None:
        self._seen.pop(path, None)

    def due(self, now: float) -> list[str]:
        return [
            path
            for path, (version, at) in self._seen.items()
            if version is None or now - at >= self.settle
        ]

    def wait_time(self, now: float) -> float | None:
        """Seconds until the next look is due; None when nothing is settling."""
        if not self._seen:
            return None
        earliest = min(
            (0.0 if version is None else at + self.settle - now)
            for version, at in self._seen.values()
        )
        return max(0.0, earliest)

    def update(self, looks: dict[str, FileVersion | None], now: float) -> list[FileVersion]:
        """Record looks; return the versions found unchanged since the previous look."""
        stable = []
        for path, version in looks.items():
            if path not in self._seen:
                continue  # forgotten (deleted) while we looked
            if version is None:
                del self._seen[path]
            elif version.is_same(self._seen[path][0]):
                del self._seen[path]
                stable.append(version)
            else:
                self._seen[path] = (version, now)
        return stable


def _version(path: str, st: os.stat_result) -> FileVersion:
    # Linux has no birth time in stat(); Java's creationTime() falls back to mtime too.
    birth = getattr(st, "st_birthtime", None)
    return FileVersion(
        path,
        st.st_size,
        st.st_mtime_ns,
        st.st_atime_ns,
        int(birth * 1e9) if birth else st.st_mtime_ns,
        st.st_ino,
        st.st_dev,
    )


def stat_version(
    path: str, folder: Folder, real_dirs: dict[str, bool] | None = None
) -> FileVersion | None:
    """The current version of `path`, or None if it is not (or no longer) one of ours.
    `real_dirs` remembers which directories have no symlink on their way."""
    if not folder.wants(path):
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None  # symlinks, directories, FIFOs, devices
    # lstat saw the file itself is no link; a directory on the way may be one (then
    # the file may lie anywhere). The root is resolved, so its files need no check.
    parent = os.path.dirname(path)
    if parent != str(folder.root):
        cache = {} if real_dirs is None else real_dirs
        if parent not in cache:
            cache[parent] = os.path.realpath(parent) == parent
        if not cache[parent]:
            return None
    return _version(path, st)


def stat_paths(paths: Iterable[str], folder: Folder) -> dict[str, FileVersion | None]:
    real_dirs: dict[str, bool] = {}
    return {path: stat_version(path, folder, real_dirs) for path in paths}


def scan(folder: Folder) -> list[FileVersion]:
    """Every file of the folder that counts. Raises OSError if the root is unreadable."""
    found: list[FileVersion] = []
    pending = [str(folder.root)]
    is_root = True
    while pending:
        directory = pending.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            if is_root:
                raise
            continue  # a subfolder vanished or is unreadable: the rest still counts
        is_root = False
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if folder.recursive and not folder.is_excluded(entry.path):
                            pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False) and folder.wants(entry.path):
                        # Directories were walked without following links, so the path
                        # is real: no realpath() per file needed here.
                        found.append(_version(entry.path, entry.stat(follow_symlinks=False)))
                except OSError:
                    continue  # gone between listing and stat
    return found


def copy_version(version: FileVersion, target: Path) -> bool:
    """Copy exactly `version` to `target`. False if the file is gone, is no longer a
    regular file, or changed before or during the copy (then nothing is left at
    `target`). Few system calls on purpose: under load each one may wait for the GIL."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(version.path, flags)
    except OSError:
        return False
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or not version.is_same(_version(version.path, opened)):
            return False
        os.makedirs(target.parent, exist_ok=True)
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            _pour(fd, out, version.size)
        finally:
            os.close(out)
        if not version.is_same(_version(version.path, os.fstat(fd))):
            os.unlink(target)  # a writer came back while we copied: a newer version comes
            return False
        return True
    finally:
        os.close(fd)


def _pour(source: int, target: int, size: int) -> None:
    """Copy `size` bytes (no more: the file may grow; the caller checks it did not)."""
    done = 0
    try:
        while done < size:
            sent = os.sendfile(target, source, done, size - done)
            if not sent:
                return
            done += sent
    except OSError:  # no sendfile between these two files: copy through memory
        os.lseek(source, done, os.SEEK_SET)
        while done < size:
            chunk = os.read(source, min(_COPY_CHUNK, size - done))
            if not chunk:
                return
            os.write(target, chunk)
            done += len(chunk)


def has_copy(version: FileVersion, target: Path) -> bool:
    try:
        return target.stat().st_size == version.size
    except OSError:
        return False


def move_or_delete(version: FileVersion, action: str, move_to: Path | None) -> bool:
    """Kestra's MOVE (into `move_to`, replacing a file of the same name) or DELETE, only
    while the file is still `version`: a newer version is left for the next poll."""
    try:
        current = _version(version.path, os.lstat(version.path))
    except OSError:
        return False
    if not version.is_same(current):
        return False
    try:
        if action == "DELETE":
            os.unlink(version.path)
        elif action == "MOVE" and move_to is not None:
            move_to.mkdir(parents=True, exist_ok=True)
            shutil.move(version.path, move_to / version.name)
    except OSError:
        return False
    return True


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def describe(version: FileVersion, uri: str | None) -> dict[str, Any]:
    """Kestra's local File model (plus `path`, which older Kestra flows use)."""
    return {
        "uri": uri,
        "localPath": version.path,
        "path": version.path,
        "name": version.name,
        "parent": os.path.dirname(version.path),
        "size": version.size,
        "createdDate": _iso(version.created_ns or version.mtime_ns),
        "modifiedDate": _iso(version.mtime_ns),
        "accessedDate": _iso(version.atime_ns or version.mtime_ns),
        "isDirectory": False,
    }


def folder_problem(folder: Path, allowed: Iterable[Path], *, what: str = "folder") -> str | None:
    """Why `folder` (resolved) may not be used, or None. Like Kestra, nothing is allowed
    until allowed paths are configured."""
    allowed = list(allowed)
    if not allowed:
        return (
            f"the {what} {folder} cannot be watched: no allowed paths are configured "
            "(set triggers.allowed_paths in the settings, or PODIUM_ALLOWED_PATHS)"
        )
    if not any(folder.is_relative_to(a) for a in allowed):
        listed = ", ".join(str(a) for a in allowed)
        return (
            f"the {what} {folder} is not under an allowed path ({listed}); "
            "add it to triggers.allowed_paths (PODIUM_ALLOWED_PATHS)"
        )
    return None
