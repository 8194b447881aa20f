"""Files in and out of a script's working directory.

In: `inputFiles` maps a relative name to inline text or a `kestra:///` storage URI; the
names may hold sub-folders but can never leave the working directory (absolute names,
`..`, backslashes and NUL are refused, and so is a path through a symlink that points
out). `kestra:///` URIs inside a rendered script or command are replaced by a local copy
of the file, as Kestra's `ScriptService.replaceInternalStorage` does.

Out: `outputFiles` are globs matched against every regular file under the working
directory, with Java's glob rules as in Kestra (`*` and `?` stay inside one folder, `**`
crosses folders, `{a,b}` alternatives, `[…]` classes). Each match is uploaded to internal
storage and exposed as `outputs.<task>.outputFiles['<relative name>']`. Podium's own
files (the `.podium/` folder) are never matched, nor are symlinks.

The file work is blocking I/O, so it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath

from engine.errors import StorageError, TaskFailed
from engine.plugin import RunContext
from engine.storage import safe_name

__all__ = [
    "INTERNAL_DIR",
    "check_relative_name",
    "glob_regex",
    "glob_to_regex",
    "localize_storage_uris",
    "storage_name",
    "target_inside",
    "match_output_files",
    "upload_output_files",
    "write_input_files",
]

INTERNAL_DIR = ".podium"  # scripts, requirements and storage copies Podium writes
_STORAGE_URI = re.compile(r"kestra://[-\w.+~#=/%]*")


def check_relative_name(name: str, what: str = "input file") -> PurePosixPath:
    """`name` as a relative path that stays inside its folder; raises TaskFailed if not."""
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        raise TaskFailed(f"invalid {what} name {name!r}")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part == ".." for part in path.parts):
        raise TaskFailed(f"{what} {name!r} would leave the working directory")
    parts = [part for part in path.parts if part != "."]
    if not parts:
        raise TaskFailed(f"invalid {what} name {name!r}")
    return PurePosixPath(*parts)


def target_inside(folder: Path, relative: PurePosixPath) -> Path:
    """Where `relative` lands under `folder`, its parents created, never outside it."""
    root = folder.resolve()
    target = root.joinpath(*relative.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A folder created earlier (WorkingDirectory shares one) may be a symlink pointing out.
    if not target.parent.resolve().is_relative_to(root):
        raise TaskFailed(f"input file {str(relative)!r} would leave the working directory")
    if target.is_symlink():
        target.unlink()  # write the file itself, never through a link
    return target


async def write_input_files(ctx: RunContext, folder: Path, files: Mapping[str, str]) -> None:
    """Write rendered `inputFiles` into `folder`."""
    if not files:
        return
    checked = [(check_relative_name(name), content) for name, content in files.items()]
    sources: dict[str, Path] = {}
    for name, content in checked:
        if content.startswith("kestra://"):
            try:
                sources[str(name)] = ctx.storage.local_path(content)
            except StorageError as exc:
                raise TaskFailed(f"input file {str(name)!r}: {exc}") from None

    def write() -> None:
        for name, content in checked:
            target = target_inside(folder, name)
            source = sources.get(str(name))
            try:
                if source is not None:
                    shutil.copyfile(source, target)
                else:
                    target.write_text(content, encoding="utf-8")
            except FileNotFoundError:
                raise TaskFailed(f"input file {str(name)!r}: no file at {content!r}") from None
            except OSError as exc:
                raise TaskFailed(f"input file {str(name)!r}: {exc.strerror}") from None

    await asyncio.to_thread(write)


async def localize_storage_uris(ctx: RunContext, folder: Path, texts: list[str]) -> list[str]:
    """Each `kestra://…` URI in `texts` replaced by the path of a local copy of the file."""
    uris = sorted({uri for text in texts for uri in _STORAGE_URI.findall(text)})
    if not uris:
        return texts
    copies: dict[str, tuple[Path, Path]] = {}
    local = folder / INTERNAL_DIR / "storage"
    for index, uri in enumerate(uris):
        try:
            copies[uri] = (ctx.storage.local_path(uri), local / f"{index}-{safe_name(uri)}")
        except StorageError as exc:
            raise TaskFailed(str(exc)) from None

    def copy() -> None:
        local.mkdir(parents=True, exist_ok=True)
        for uri, (source, target) in copies.items():
            try:
                shutil.copyfile(source, target)
            except FileNotFoundError:
                raise TaskFailed(f"no file in internal storage at {uri!r}") from None

    await asyncio.to_thread(copy)
    return [_STORAGE_URI.sub(lambda m: str(copies[m.group(0)][1]), text) for text in texts]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A Java-style glob (as Kestra's `outputFiles`) as a regex over relative POSIX paths."""
    check_relative_name(pattern.replace("*", "x").replace("?", "x"), "output file pattern")
    return glob_to_regex(pattern, "output file pattern")


def glob_to_regex(pattern: str, what: str) -> re.Pattern[str]:
    """Java's glob syntax (`*`, `?`, `**`, `{a,b}`, `[…]`) as a regex over a whole path."""
    out: list[str] = []
    i, depth = 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif char == "{":
            out.append("(?:")
            depth += 1
        elif char == "}" and depth:
            out.append(")")
            depth -= 1
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        i += 1
    if depth:
        raise TaskFailed(f"{what} {pattern!r} has an unclosed '{{'")
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error as exc:
        raise TaskFailed(f"invalid {what} {pattern!r}: {exc}") from None


def _regular_files(folder: Path) -> Iterator[str]:
    """Relative POSIX names of the regular files under `folder`, symlinks not followed."""
    for top, dirs, files in os.walk(folder):
        relative_top = Path(top).relative_to(folder)
        if relative_top == Path("."):
            dirs[:] = [d for d in dirs if d != INTERNAL_DIR]
        for name in files:
            path = Path(top, name)
            if not path.is_symlink() and path.is_file():
                yield (relative_top / name).as_posix()


def match_output_files(folder: Path, patterns: Sequence[str]) -> dict[str, Path]:
    """Files under `folder` that match any of `patterns`, by relative name, sorted."""
    if not patterns:
        return {}
    regexes = [glob_regex(p) for p in patterns]
    found = {
        name: folder / name
        for name in _regular_files(folder)
        if any(r.match(name) for r in regexes)
    }
    return dict(sorted(found.items()))


def storage_name(relative: str, taken: set[str]) -> str:
    # Internal storage keeps one folder per task run; sub-folders are flattened into the
    # name and clashes get a numbered prefix, so every output keeps its own file.
    base = safe_name(relative.replace("/", "__"))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{n}-{base}"
    taken.add(name)
    return name


async def upload_output_files(
    ctx: RunContext, folder: Path, patterns: Sequence[str]
) -> dict[str, str]:
    """Upload the files matching `patterns`; returns relative name -> storage URI."""
    if not patterns:
        return {}

    def upload() -> dict[str, str]:
        taken: set[str] = set()
        uris: dict[str, str] = {}
        for relative, path in match_output_files(folder, patterns).items():
            try:
                uris[relative] = ctx.storage.put_file(storage_name(relative, taken), path)
            except OSError as exc:
                raise TaskFailed(f"output file {relative!r}: {exc.strerror}") from None
        return uris

    return await asyncio.to_thread(upload)
