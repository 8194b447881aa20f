"""Namespace files from a flow: namespace.UploadFiles, DownloadFiles, DeleteFiles.

They go through `RunContext.namespace_files` (the engine checks every path and size).
Patterns are Kestra's: DownloadFiles matches Java globs against `/path` (a pattern without
a leading `/` gets one); DeleteFiles and UploadFiles use the include rule of script tasks'
`namespaceFiles` (tasks/scripts/nsfiles.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from engine.errors import StorageError, TaskFailed
from engine.plugin import RunContext, Task, plugin
from tasks.scripts.files import glob_to_regex, match_output_files, storage_name
from tasks.scripts.nsfiles import path_predicate

__all__ = ["TASKS", "DeleteFiles", "DownloadFiles", "UploadFiles"]


def _patterns(ctx: RunContext, files: Any) -> list[str]:
    rendered = ctx.render(files)
    if isinstance(rendered, str):
        return [rendered]
    if isinstance(rendered, list) and all(isinstance(f, str) for f in rendered):
        return rendered
    raise TaskFailed("'files' must be a string or a list of strings")


def _namespace(ctx: RunContext, namespace: str | None) -> str:
    return str(ctx.render(namespace)) if namespace else ctx.namespace


def _join(folder: str, name: str) -> str:
    return "/" + "/".join(p for p in f"{folder}/{name}".split("/") if p)


@plugin("io.kestra.plugin.core.namespace.UploadFiles")
class UploadFiles(Task):
    """Upload files to a namespace: `files` is a list (internal-storage URIs, or globs
    matched in the working directory, uploaded under `destination`) or a map
    (target path -> URI)."""

    namespace: str
    files: list[str] | dict[str, str] | str
    destination: str = "/"
    conflict: Literal["OVERWRITE", "ERROR", "SKIP"] = "OVERWRITE"

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace = _namespace(ctx, self.namespace)
        destination = str(ctx.render(self.destination)) or "/"
        rendered = ctx.render(self.files)
        uploads: dict[str, Path] = {}
        if isinstance(rendered, dict):
            for target, uri in rendered.items():
                uploads[_join("/", str(target))] = self._local(ctx, str(uri))
        else:
            patterns: list[str] = []
            for item in [rendered] if isinstance(rendered, str) else list(rendered):
                if str(item).startswith("kestra://"):
                    source = self._local(ctx, str(item))
                    uploads[_join(destination, source.name)] = source
                else:
                    patterns.append(str(item))
            if patterns:
                folder = ctx.working_dir()
                matched = await asyncio.to_thread(match_output_files, folder, patterns)
                for relative, path in matched.items():
                    uploads[_join(destination, relative)] = path

        def read() -> dict[str, bytes]:
            return {target: path.read_bytes() for target, path in uploads.items()}

        try:
            contents = await asyncio.to_thread(read)
        except OSError as exc:
            raise TaskFailed(f"cannot read a file to upload: {exc.strerror}") from None
        written = await ctx.namespace_files.put(namespace, contents, conflict=self.conflict)
        ctx.logger.info(f"uploaded {len(written)} file(s) to namespace {namespace}")
        ctx.metric("uploaded", len(written))
        return {}

    @staticmethod
    def _local(ctx: RunContext, uri: str) -> Path:
        try:
            return ctx.storage.local_path(uri)
        except StorageError as exc:
            raise TaskFailed(str(exc)) from None


@plugin("io.kestra.plugin.core.namespace.DownloadFiles")
class DownloadFiles(Task):
    """Copy namespace files into this execution's internal storage; outputs
    `files`: {path: kestra:// URI}."""

    namespace: str
    files: list[str] | str

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace = _namespace(ctx, self.namespace)
        regexes = [
            glob_to_regex(p if p.startswith("/") else "/" + p, "namespace file pattern")
            for p in _patterns(ctx, self.files)
        ]
        downloaded: dict[str, str] = {}
        taken: set[str] = set()
        for path, _ in await ctx.namespace_files.list_files(namespace):
            if any(r.match(path) for r in regexes):
                data = await ctx.namespace_files.read(namespace, path)
                name = storage_name(path.strip("/"), taken)
                downloaded[path] = await asyncio.to_thread(ctx.storage.put_bytes, name, data)
                ctx.logger.debug(f"downloaded {path}")
        ctx.metric("downloaded", len(downloaded))
        return {"files": downloaded}


@plugin("io.kestra.plugin.core.namespace.DeleteFiles")
class DeleteFiles(Task):
    """Delete the namespace files matching `files`; with `deleteParentFolder`, folders
    left empty go too."""

    namespace: str
    files: list[str] | str
    deleteParentFolder: bool = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace = _namespace(ctx, self.namespace)
        predicate = path_predicate(_patterns(ctx, self.files))
        listing = await ctx.namespace_files.list_files(namespace)
        doomed = [path for path, _ in listing if predicate(path)]
        deleted = await ctx.namespace_files.delete(namespace, doomed) if doomed else []
        if self.deleteParentFolder and doomed:
            remaining = {p for p, _ in await ctx.namespace_files.list_files(namespace)}
            parents = {str(PurePosixPath(p).parent) for p in doomed} - {"/"}
            empty = [f for f in parents if not any(r.startswith(f + "/") for r in remaining)]
            if empty:
                await ctx.namespace_files.delete(namespace, sorted(empty))
        for path in deleted:
            ctx.logger.debug(f"deleted {path}")
        ctx.metric("deleted", len(doomed))
        return {}


TASKS: tuple[type, ...] = (DeleteFiles, DownloadFiles, UploadFiles)
