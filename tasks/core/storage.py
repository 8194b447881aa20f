"""Internal-storage tasks (Kestra's io.kestra.plugin.core.storage): Write, Size, Delete,
Concat, Reverse, PurgeCurrentExecutionFiles, and the deprecated LocalFiles (files in and
out of the task's working directory). Split is in storage_split.py, DeduplicateItems and
FilterItems in storage_items.py.

Files are `kestra:///` URIs; they are streamed, never read whole into memory, in a worker
thread that stops when the task is cancelled (tasks/core/lines.py). Outputs are Kestra's:
`uri` (or `uris`), `size`, `deleted`.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, ClassVar, TypeVar

import orjson
from pydantic import Field

from engine.errors import PodiumError, StorageError, TaskFailed
from engine.plugin import RunContext, Task, plugin
from tasks.core.lines import BLOCK_BYTES, Stopped, iter_reversed_lines
from tasks.properties import render_flag, render_mapping, render_strings, render_text
from tasks.scripts.files import upload_output_files, write_input_files

__all__ = [
    "TASKS",
    "Concat",
    "Delete",
    "LocalFiles",
    "PurgeCurrentExecutionFiles",
    "Reverse",
    "Size",
    "Write",
    "extension_of",
    "in_thread",
    "source_file",
]

T = TypeVar("T")
COPY_BYTES = 64 << 20  # per sendfile call, between looks at the stop event


async def in_thread(work: Callable[[threading.Event], T]) -> T:
    """Run blocking file work off the event loop; `work` gets an event that is set when
    the task is cancelled, and checks it between blocks."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(work, stop)
    except Stopped:
        raise asyncio.CancelledError from None
    finally:
        stop.set()


def source_file(ctx: RunContext, uri: Any, name: str) -> tuple[str, Path]:
    """A property naming a file of internal storage: its rendered URI and local path;
    a bad or missing file fails the task with the property's name."""
    text = render_text(ctx, uri, name)
    if not text or not text.strip():
        raise TaskFailed(f"property '{name}' is empty: give a kestra:/// URI")
    text = text.strip()
    try:
        path = ctx.storage.local_path(text)
    except PodiumError as exc:
        raise TaskFailed(f"property '{name}': {exc}") from None
    if not path.is_file():
        raise TaskFailed(f"property '{name}': no file in internal storage at {text!r}")
    return text, path


def extension_of(uri: str, default: str = ".tmp") -> str:
    """The extension Kestra gives files derived from `uri`: the source's, or `.tmp`."""
    suffix = PurePosixPath(uri.split("?", 1)[0]).suffix
    return suffix if 1 < len(suffix) <= 16 else default


def _extension(ctx: RunContext, value: str | None, default: str) -> str:
    text = render_text(ctx, value, "extension") if value is not None else default
    text = (text or "").strip()
    if text and not text.startswith("."):
        text = "." + text
    if len(text) > 16 or any(c in text for c in "/\\\x00"):
        raise TaskFailed(f"property 'extension': invalid extension {text!r}")
    return text


@plugin("io.kestra.plugin.core.storage.Write")
class Write(Task):
    """Write `content` (rendered) to a new file of internal storage (output `uri`), with
    the given `extension`. Kestra: WriteTest, plugin doc core.storage.Write."""

    uses_worker_slot: ClassVar[bool] = False

    content: str
    extension: str | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        data = ctx.render_text(self.content).encode("utf-8")
        extension = _extension(ctx, self.extension, "")
        return {"uri": ctx.storage.put_bytes(f"content{extension}", data)}


@plugin("io.kestra.plugin.core.storage.Size")
class Size(Task):
    """The size in bytes of a file of internal storage (output `size`). Kestra: SizeTest."""

    uses_worker_slot: ClassVar[bool] = False

    uri: str

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        _, path = source_file(ctx, self.uri, "uri")
        return {"size": path.stat().st_size}


@plugin("io.kestra.plugin.core.storage.Delete")
class Delete(Task):
    """Delete a file of this execution from internal storage (outputs `uri`, `deleted`);
    a missing file is `deleted: false`, or a failure with `errorOnMissing: true`.
    Kestra: DeleteTest. Unlike Kestra, only this execution's own files may be deleted."""

    uses_worker_slot: ClassVar[bool] = False

    uri: str
    errorOnMissing: bool | str = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri = (render_text(ctx, self.uri, "uri") or "").strip()
        try:
            path = ctx.storage.execution_file(uri)
        except StorageError as exc:
            raise TaskFailed(f"property 'uri': {exc}") from None
        try:
            path.unlink()
            deleted = True
        except FileNotFoundError:
            deleted = False
        except IsADirectoryError:
            raise TaskFailed(f"property 'uri': {uri!r} is a folder, not a file") from None
        if not deleted and render_flag(ctx, self.errorOnMissing, "errorOnMissing"):
            raise TaskFailed(f"Unable to find file '{uri}'")
        return {"uri": uri, "deleted": deleted}


@plugin("io.kestra.plugin.core.storage.Concat")
class Concat(Task):
    """Concatenate files of internal storage, in order, into a new one (output `uri`).
    `files` is a list of URIs or a template rendering to a JSON list; `separator` is
    written after each file (the last too, as Kestra does); `extension` defaults to
    `.tmp`. Kestra: ConcatTest (list and JSON forms)."""

    files: list[str] | str
    separator: str | None = None
    extension: str = ".tmp"

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uris = _file_list(ctx, self.files)
        sources = [source_file(ctx, uri, "files")[1] for uri in uris]
        separator = (
            render_text(ctx, self.separator, "separator") if self.separator is not None else None
        )
        tail = separator.encode("utf-8") if separator else b""
        target, uri = ctx.storage.new_file(f"concat{_extension(ctx, self.extension, '.tmp')}")

        def concat(stop: threading.Event) -> None:
            with target.open("wb", buffering=0) as out:
                for source in sources:
                    append_file(source, out, stop)
                    out.write(tail)

        await in_thread(concat)
        return {"uri": uri}


def append_file(source: Path, out: BinaryIO, stop: threading.Event) -> None:
    """Copy a file to the end of `out` in the kernel (sendfile), a slice at a time."""
    with source.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = 0
        while offset < size:
            if stop.is_set():
                raise Stopped
            try:
                sent = os.sendfile(out.fileno(), handle.fileno(), offset, COPY_BYTES)
            except OSError:  # a file system that cannot: copy through user space
                handle.seek(offset)
                while block := handle.read(BLOCK_BYTES):
                    out.write(block)
                return
            if sent == 0:
                return  # the file got shorter meanwhile
            offset += sent


def _file_list(ctx: RunContext, files: list[str] | str) -> list[str]:
    if isinstance(files, list):
        return [str(render_text(ctx, item, "files")).strip() for item in files]
    text = str(render_text(ctx, files, "files")).strip()
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise TaskFailed(f"property 'files' is not a JSON list of URIs: {text[:200]!r}") from None
    if not isinstance(parsed, list) or not all(isinstance(i, str) for i in parsed):
        raise TaskFailed("property 'files' must render to a JSON list of URIs")
    return [ctx.render_text(item).strip() for item in parsed]


@plugin("io.kestra.plugin.core.storage.Reverse")
class Reverse(Task):
    """A file of internal storage with its lines in reverse order, last line first
    (output `uri`, same extension); each line is written with `separator` after it.
    Read from the end, a block at a time. Kestra: ReverseTest ("1\\n2\\n3\\n" gives
    "3\\n2\\n1\\n")."""

    from_: str = Field(alias="from")
    separator: str = "\n"
    charset: str = "UTF-8"

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri, source = source_file(ctx, self.from_, "from")
        separator = str(render_text(ctx, self.separator, "separator"))
        charset = _charset(str(render_text(ctx, self.charset, "charset")))
        target, out_uri = ctx.storage.new_file(f"reverse{extension_of(uri)}")

        def reverse(stop: threading.Event) -> None:
            sep = separator.encode(charset)
            with target.open("wb") as out:
                for lines in iter_reversed_lines(source, stop=stop):
                    out.write(sep.join(lines))
                    out.write(sep)

        await in_thread(reverse)
        return {"uri": out_uri}


def _charset(name: str) -> str:
    """A charset whose line ends are the ASCII bytes (lines pass through as bytes)."""
    try:
        found = codecs.lookup(name.strip()).name
    except LookupError:
        raise TaskFailed(f"property 'charset': unknown charset {name!r}") from None
    if found in ("utf-16", "utf-32", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        raise TaskFailed(f"property 'charset': {name!r} is not line-oriented here; use UTF-8")
    return found


@plugin("io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles")
class PurgeCurrentExecutionFiles(Task):
    """Delete every file this execution put in internal storage."""

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uris = ctx.storage.purge_execution()
        ctx.logger.info(f"purged {len(uris)} file(s) of execution {ctx.execution_id}")
        return {"uris": uris}


@plugin("io.kestra.plugin.core.storage.LocalFiles")
class LocalFiles(Task):
    """Kestra's deprecated form of a WorkingDirectory's `inputFiles`/`outputFiles`: write
    `inputs` (name -> inline text or `kestra:///` URI) into the working directory, then
    upload the files matching the `outputs` globs (output `uris`: name -> storage URI).
    Inside a WorkingDirectory the folder is the one its tasks share."""

    inputs: dict[str, Any] | str | None = None
    outputs: list[str] | str | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        files = render_mapping(ctx, self.inputs, "inputs")
        for name, content in files.items():
            if isinstance(content, dict | list) or content is None:
                raise TaskFailed(f"input file {name!r}: content must be text")
            files[name] = str(content)
        folder = ctx.working_dir()
        await write_input_files(ctx, folder, files)
        uris = await upload_output_files(ctx, folder, render_strings(ctx, self.outputs, "outputs"))
        return {"uris": uris}


TASKS: tuple[type, ...] = (
    Concat,
    Delete,
    LocalFiles,
    PurgeCurrentExecutionFiles,
    Reverse,
    Size,
    Write,
)
