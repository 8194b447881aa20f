"""An execution's files (`kestra:///…` URIs in its inputs and outputs): download, preview,
size (`file/metas`).

A URI reaches a file only when it is a clean path (LocalStorage refuses `..`, absolute
parts, backslashes, NUL and percent-encoded separators) AND lies in that execution's own
folder (`<namespace as dirs>/<flow>/executions/<id>/`), checked again after symlinks are
resolved. Any refusal is a 400 that does not say whether such a file exists elsewhere.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from aiohttp import web

from engine import ion
from engine.errors import StorageError
from engine.values import jsonable
from engine.web.api import Services
from engine.web.http import ApiError, ApiRoutes, json_response

__all__ = ["file_routes", "preview_of"]

PREVIEW_BYTES = 1 << 20
PREVIEW_ROWS = 100
TEXT_CHARS = 64 << 10


def preview_of(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        head = handle.read(PREVIEW_BYTES + 1)
    is_cut = len(head) > PREVIEW_BYTES
    head = head[:PREVIEW_BYTES]
    text = head.decode("utf-8", errors="replace")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        lines = text.splitlines()
        if is_cut and lines:
            lines = lines[:-1]  # the last line may be cut in the middle
        reader = csv.reader(lines, delimiter="\t" if suffix == ".tsv" else ",")
        table = [row for _, row in zip(range(PREVIEW_ROWS), reader, strict=False)]
        return {"type": "csv", "rows": table, "truncated": is_cut or len(lines) > len(table)}
    if suffix in (".jsonl", ".ndjson", ".ion"):
        # only \n ends a row: splitlines() would also cut at U+2028 inside a string
        lines = [line for line in text.split("\n") if line.strip()]
        if is_cut and lines:
            lines = lines[:-1]  # the last line may be cut in the middle
        rows: list[Any] = []
        for line in lines[:PREVIEW_ROWS]:
            try:
                # Ion (a query's STORE result) shown as JSON; JSON lines are Ion too
                rows.extend(jsonable(ion.loads(line)) if suffix == ".ion" else [json.loads(line)])
            except (ValueError, ion.IonError):
                rows.append(line)
        return {"type": "json", "rows": rows, "truncated": is_cut or len(lines) > len(rows)}
    if suffix == ".json" and not is_cut:
        try:
            return {"type": "json", "content": json.loads(text), "truncated": False}
        except ValueError:
            pass
    return {
        "type": "text",
        "content": text[:TEXT_CHARS],
        "truncated": is_cut or len(text) > TEXT_CHARS,
    }


async def _locate(services: Services, request: web.Request) -> Path:
    execution_id = request.match_info["execution_id"]
    execution = await services.store.get_execution(execution_id)
    if execution is None:
        raise ApiError(404, f"execution {execution_id} not found")
    uri = request.query.get("path")
    if not uri:
        raise ApiError(400, "the path query parameter (a kestra:/// URI) is required")
    storage = services.storage
    if storage is None:
        raise ApiError(404, "this server keeps no files")
    try:
        path = storage.path_of(uri)
    except StorageError:
        raise ApiError(400, "invalid storage URI") from None
    folder = (
        storage.root
        / PurePosixPath(execution.namespace.replace(".", "/"))
        / execution.flow_id
        / "executions"
        / execution.execution_id
    ).resolve()
    if not path.is_relative_to(folder):
        raise ApiError(400, "the file does not belong to this execution")
    try:
        is_file = await asyncio.to_thread(path.is_file)
    except OSError:  # a name the file system refuses (too long, say): not a file
        raise ApiError(400, "invalid storage URI") from None
    if not is_file:
        raise ApiError(404, "no such file")
    return path


async def download_file(services: Services, request: web.Request) -> web.StreamResponse:
    path = await _locate(services, request)
    name = quote(path.name)
    return web.FileResponse(
        path,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "Content-Type": "application/octet-stream",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def preview_file(services: Services, request: web.Request) -> web.StreamResponse:
    path = await _locate(services, request)
    return json_response(await asyncio.to_thread(preview_of, path))


async def file_metas(services: Services, request: web.Request) -> web.StreamResponse:
    """Kestra's FileMetas: the file's size in bytes."""
    path = await _locate(services, request)
    size = (await asyncio.to_thread(path.stat)).st_size
    return json_response({"size": size})


def file_routes(services: Services, api: ApiRoutes) -> None:
    api.get("/executions/{execution_id}/file", services.bind(download_file))
    api.get("/executions/{execution_id}/file/metas", services.bind(file_metas))
    api.get("/executions/{execution_id}/file/preview", services.bind(preview_file))
