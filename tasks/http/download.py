"""io.kestra.plugin.core.http.Download: stream an HTTP response into internal storage.

The body is written to the attempt's working directory in 1 MiB slices, each written
off the event loop, then put in internal storage; nothing but the current slice is held
in memory, whatever the size. Outputs are Kestra's: `uri`, `code`, `length`, `headers`.
`saveAs` names the stored file (a name, not a path); else the server's name is used.
An empty body fails the task unless `failOnEmptyResponse` is false; a body shorter or
longer than the Content-Length the server announced fails it too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote, urlsplit

from engine.errors import TaskFailed
from engine.plugin import RunContext, lazy_import, plugin
from tasks.http.client import (
    describe_client_error,
    describe_failure,
    open_session,
    response_headers,
)
from tasks.http.request import HttpTask
from tasks.properties import masks_failures, render_flag

if TYPE_CHECKING:
    import aiohttp
else:  # imported when a task first uses it: the catalog stays fast
    aiohttp = lazy_import("aiohttp")

__all__ = ["Download", "filename_from"]

_SLICE = 1024 * 1024
_ERROR_BODY = 4096  # how much of a failed response is read to explain the failure


@plugin("io.kestra.plugin.core.http.Download", "io.kestra.plugin.fs.http.Download")
class Download(HttpTask):
    """Download a file from an HTTP server into internal storage."""

    failOnEmptyResponse: bool | str = True
    saveAs: str | None = None  # the stored file's name (Kestra 1.x); else the server's

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        settings = self.settings(ctx)
        request = self.prepare(ctx, settings)
        # Named by run: tasks in one WorkingDirectory share the folder.
        part = ctx.working_dir() / f"{ctx.task_run_id}.part"
        try:
            async with (
                open_session(settings) as session,
                request.send(session, settings) as response,
            ):
                code, headers = response.status, response_headers(response.headers)
                if code >= 400 and not settings.allow_failed:
                    detail = await response.content.read(_ERROR_BODY)
                    raise TaskFailed(
                        describe_failure(
                            request.method,
                            request.url,
                            code,
                            response.reason,
                            detail.decode("utf-8", "replace"),
                        )
                    )
                size = await _stream(response, part)
                _check_length(response, size)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TaskFailed(
                f"{request.method} {request.url}: {describe_client_error(exc, settings)}"
            ) from None
        finally:
            request.close()

        if size == 0:
            if render_flag(ctx, self.failOnEmptyResponse, "failOnEmptyResponse") and not (
                settings.allow_failed
            ):
                raise TaskFailed(f"{request.method} {request.url}: no response from server")
            ctx.logger.warning(f"file {request.url} is empty")
        name = _save_as(ctx, self.saveAs) if self.saveAs else filename_from(headers, request.url)
        uri = await asyncio.to_thread(ctx.storage.put_file, name, part)
        await asyncio.to_thread(part.unlink, True)
        ctx.metric("response.length", size)
        ctx.logger.info(f"downloaded {request.url} ({size} bytes, HTTP {code})")
        return {"uri": uri, "code": code, "length": size, "headers": headers}


def _save_as(ctx: RunContext, template: str) -> str:
    """`saveAs` rendered: a file name only, never a path out of the execution's folder."""
    name = ctx.render_text(template).strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise TaskFailed(f"saveAs must be a file name, not {name!r}")
    return name


async def _stream(response: aiohttp.ClientResponse, path: Path) -> int:
    """Write the body to `path`; returns its length."""
    size = 0
    pending = bytearray()
    handle: BinaryIO = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in response.content.iter_chunked(64 * 1024):
            pending += chunk
            size += len(chunk)
            if len(pending) >= _SLICE:
                await asyncio.to_thread(handle.write, bytes(pending))
                pending.clear()
        if pending:
            await asyncio.to_thread(handle.write, bytes(pending))
    finally:
        await asyncio.to_thread(handle.close)
    return size


def _check_length(response: aiohttp.ClientResponse, size: int) -> None:
    # A compressed body is inflated on the way in; its Content-Length counts the wire.
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    declared = response.content_length
    if declared is not None and encoding == "identity" and declared != size:
        raise TaskFailed(f"invalid size: got {size} bytes, the server announced {declared}")


_DISPOSITION_STAR = re.compile(r"filename\*\s*=\s*([^;]+)", re.IGNORECASE)
_DISPOSITION = re.compile(r'filename\s*=\s*("([^"]*)"|[^;]+)', re.IGNORECASE)


def filename_from(headers: Mapping[str, list[str]], url: str) -> str:
    """The file's name: Content-Disposition's (RFC 6266, `filename*` first), else the
    URL's last path segment, else `download`. Only a base name is ever kept."""
    disposition = next(
        (v[0] for k, v in headers.items() if k.lower() == "content-disposition" and v), ""
    )
    name = ""
    star = _DISPOSITION_STAR.search(disposition)
    if star:
        value = star.group(1).strip().strip('"')
        name = unquote(value.split("''", 1)[1] if "''" in value else value)
    else:
        plain = _DISPOSITION.search(disposition)
        if plain:
            name = (plain.group(2) if plain.group(2) is not None else plain.group(1)).strip()
    if not name:
        name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name if name not in ("", ".", "..") else "download"
