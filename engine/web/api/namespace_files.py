"""Namespace files on Kestra's paths (its NamespaceFileController):

    GET    /namespaces/{ns}/files?path=&revision=   the bytes of a file
    POST   /namespaces/{ns}/files?path=             upload (multipart `fileContent`); a
                                                    `.zip` upload is unpacked under /
    PUT    /namespaces/{ns}/files?from=&to=         move a file or a folder
    DELETE /namespaces/{ns}/files?path=             delete a file or a folder
    GET    /namespaces/{ns}/files/directory?path=   a folder's children (FileAttributes)
    POST   /namespaces/{ns}/files/directory?path=   create a folder
    GET    /namespaces/{ns}/files/stats?path=       one FileAttributes
    GET    /namespaces/{ns}/files/revisions?path=   [{revision}]
    GET    /namespaces/{ns}/files/search?q=         paths containing q
    GET    /namespaces/{ns}/files/export            every file as a zip

Bounds: an upload body is refused past the file limit (a zip past the namespace limit)
before it is read whole; a zip's entries are counted and read with a cap, whatever their
headers claim (zip bombs); an export holds at most the namespace limit. Paths are checked
by engine/nsfiles.py (`..`, absolute tricks, NUL, backslashes, `_flows`): a refusal is a
400 that says why.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from engine.nsfiles import NamespaceFileError, NamespaceFiles
from engine.store.nsfiles import NamespaceFileRecord
from engine.web.http import ApiError, ApiRoutes, json_response, query_int

__all__ = ["NAMESPACE_FILES", "namespace_file_routes"]

NAMESPACE_FILES = web.AppKey("podium.namespace_files", NamespaceFiles)
MAX_ZIP_ENTRIES = 10_000
EXPORT_BATCH_BYTES = 16 << 20
_CHUNK = 1 << 16


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except NamespaceFileError as exc:
        raise ApiError(exc.status, exc.message) from None


def _files(request: web.Request) -> NamespaceFiles:
    return request.app[NAMESPACE_FILES]


def _required(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise ApiError(400, f"the query parameter {name!r} is required")
    return value


async def get_file_content(request: web.Request) -> web.StreamResponse:
    revision = query_int(request, "revision", None, minimum=1)
    with _refusals():
        record, data = await _files(request).get(
            request.match_info["namespace"], _required(request, "path"), revision
        )
    name = quote(record.path.rsplit("/", 1)[-1])
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={
            "Cache-Control": "no-cache",
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the uploaded file is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _unzip(data: bytes, max_file: int, max_total: int) -> dict[str, bytes]:
    """The files of a zip, each read with a cap: sizes in headers are not trusted."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ApiError(400, "the uploaded .zip is not a zip archive") from None
    with archive:
        entries = [e for e in archive.infolist() if not e.is_dir()]
        if len(entries) > MAX_ZIP_ENTRIES:
            raise ApiError(413, f"the zip holds over {MAX_ZIP_ENTRIES} files")
        found: dict[str, bytes] = {}
        total = 0
        for entry in entries:
            if entry.filename.startswith("/"):
                raise ApiError(400, f"{entry.filename}: an absolute name in a zip is refused")
            if entry.filename.startswith("_flows/"):
                raise ApiError(
                    400,
                    f"{entry.filename}: flows are not imported through namespace files; "
                    "use POST /api/v1/flows/import",
                )
            try:
                with archive.open(entry) as handle:
                    content = handle.read(max_file + 1)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                raise ApiError(400, f"{entry.filename}: cannot unpack: {exc}") from None
            if len(content) > max_file:
                raise ApiError(413, f"{entry.filename} is over {max_file} bytes")
            total += len(content)
            if total > max_total:
                raise ApiError(413, f"the zip unpacks to over {max_total} bytes")
            found["/" + entry.filename] = content
        return found


async def create_namespace_file(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    limits = files.limits
    if request.content_length is not None and request.content_length > limits.max_namespace_bytes:
        raise ApiError(413, f"the body is over {limits.max_namespace_bytes} bytes")
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "upload the file as multipart/form-data, in the part 'fileContent'")
    reader = await request.multipart()
    uploaded: tuple[str, bytes] | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name != "fileContent":
            await part.release()
            continue
        filename = part.filename or ""
        is_zip = filename.lower().endswith(".zip")
        limit = limits.max_namespace_bytes if is_zip else limits.max_file_bytes
        uploaded = (filename, await _read_part(part, limit))
    if uploaded is None:
        raise ApiError(400, "the multipart part 'fileContent' is missing")
    filename, data = uploaded
    with _refusals():
        if filename.lower().endswith(".zip"):
            contents = await asyncio.to_thread(
                _unzip, data, limits.max_file_bytes, limits.max_namespace_bytes
            )
            await files.write(request.match_info["namespace"], contents)
        else:
            await files.write(request.match_info["namespace"], {_required(request, "path"): data})
    return web.Response(status=200)


async def move_file_directory(request: web.Request) -> web.StreamResponse:
    with _refusals():
        await _files(request).move(
            request.match_info["namespace"], _required(request, "from"), _required(request, "to")
        )
    return web.Response(status=200)


async def delete_file_directory(request: web.Request) -> web.StreamResponse:
    with _refusals():
        deleted = await _files(request).delete(
            request.match_info["namespace"], [_required(request, "path")]
        )
    if not deleted:
        raise ApiError(404, f"no file or folder {request.query['path']}")
    return web.Response(status=200)


async def list_namespace_directory_files(request: web.Request) -> web.StreamResponse:
    with _refusals():
        entries = await _files(request).children(
            request.match_info["namespace"], request.query.get("path") or "/"
        )
    return json_response([e.kestra_json() for e in entries])


async def create_namespace_directory(request: web.Request) -> web.StreamResponse:
    with _refusals():
        await _files(request).write(
            request.match_info["namespace"], {}, folders=[_required(request, "path")]
        )
    return web.Response(status=200)


async def get_file_metadatas(request: web.Request) -> web.StreamResponse:
    with _refusals():
        entry = await _files(request).stat(
            request.match_info["namespace"], request.query.get("path")
        )
    return json_response(entry.kestra_json())


async def get_file_revisions(request: web.Request) -> web.StreamResponse:
    with _refusals():
        found = await _files(request).revisions(
            request.match_info["namespace"], _required(request, "path")
        )
    return json_response([{"revision": r.revision} for r in found])


async def search_namespace_files(request: web.Request) -> web.StreamResponse:
    query = request.query.get("q", "").lower()
    with _refusals():
        found = await _files(request).files(request.match_info["namespace"])
    return json_response([r.path for r in found if query in r.path.lower()])


def _batches(
    records: list[NamespaceFileRecord], max_bytes: int
) -> Iterator[list[NamespaceFileRecord]]:
    batch: list[NamespaceFileRecord] = []
    size = 0
    for record in records:
        if batch and size + record.size > max_bytes:
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record.size
    if batch:
        yield batch


async def export_namespace_files(request: web.Request) -> web.StreamResponse:
    """A zip of every current file, built in a temporary file (never the whole archive
    in memory) and streamed."""
    namespace = request.match_info["namespace"]
    files = _files(request)
    with _refusals():
        records = await files.files(namespace)
    spool: IO[bytes] = await asyncio.to_thread(tempfile.TemporaryFile)
    try:
        archive = zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED)
        for batch in _batches(records, EXPORT_BATCH_BYTES):  # bounded bytes in memory
            contents = await files.contents(namespace, batch)
            for path, data in contents.items():
                await asyncio.to_thread(archive.writestr, path[1:], data)
        await asyncio.to_thread(archive.close)
        size = spool.tell()
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(namespace)}_files.zip",
                "Cache-Control": "no-cache",
            }
        )
        response.content_length = size
        await response.prepare(request)
        spool.seek(0)
        while chunk := await asyncio.to_thread(spool.read, _CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        spool.close()


def namespace_file_routes(api: ApiRoutes) -> None:
    base = "/namespaces/{namespace}/files"
    api.get(base, get_file_content)
    api.post(base, create_namespace_file)
    api.put(base, move_file_directory)
    api.delete(base, delete_file_directory)
    api.get(base + "/directory", list_namespace_directory_files)
    api.post(base + "/directory", create_namespace_directory)
    api.get(base + "/stats", get_file_metadatas)
    api.get(base + "/revisions", get_file_revisions)
    api.get(base + "/search", search_namespace_files)
    api.get(base + "/export", export_namespace_files)
