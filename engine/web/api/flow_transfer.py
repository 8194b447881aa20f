"""Flow import and export on Kestra's paths.

POST /flows/import            multipart field `fileUpload`: one YAML, a multi-document YAML
                              or a zip of YAML files. Every flow is validated first; one
                              invalid flow and nothing is imported (422, each problem with
                              its file, line and column). Success is Kestra's answer: the
                              list of files not imported, so `[]`.
GET  /flows/export/by-query   a zip of the current flows matching `q`/`namespace` (or
                              Kestra 1.x's `filters[q][…]`, `filters[namespace][…]`)
POST /flows/export/by-ids     a zip of the flows named in `[{"namespace", "id"}, …]`

Kestra imports the valid flows of an upload and lists the others; Podium refuses the
whole upload instead (docs/api.md says so): a half-imported folder of flows that call
each other as subflows is worse than none. Reading the upload is bounded in
engine/flow_archive.py; parsing runs in a thread so a large upload does not stall the
event loop.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from engine.errors import FlowDefinitionError, Problem
from engine.flow_archive import (
    MAX_UPLOAD_BYTES,
    ArchiveError,
    FlowText,
    read_upload,
    write_zip,
)
from engine.flows import FlowRepository
from engine.store.base import FlowRecord
from engine.web.api import Services
from engine.web.http import ApiError, ApiRoutes, json_response, read_json

__all__ = ["export_by_ids", "export_by_query", "flow_transfer_routes", "import_flows"]

UPLOAD_FIELD = "fileUpload"
MAX_EXPORT_FLOWS = 10_000
MAX_IDS_BYTES = 1 << 20
# Kestra 1.x's QueryFilter form: filters[field][operation]=value
_FILTER = re.compile(r"^filters\[(\w+)\]\[(\w+)\]$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _read_upload_field(request: web.Request) -> tuple[str, bytes]:
    """The `fileUpload` part's file name and bytes, read with a cap."""
    if request.content_type != "multipart/form-data":
        raise ApiError(
            415, f"send the flows as multipart/form-data, the file in the field {UPLOAD_FIELD!r}"
        )
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES + 65536:
        raise ApiError(413, f"the upload is over {MAX_UPLOAD_BYTES} bytes")
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            raise ApiError(400, f"no file in the multipart field {UPLOAD_FIELD!r}")
        if not isinstance(part, BodyPartReader) or part.name != UPLOAD_FIELD:
            await part.release()
            continue
        chunks, size = [], 0
        while chunk := await part.read_chunk(65536):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise ApiError(413, f"the upload is over {MAX_UPLOAD_BYTES} bytes")
            chunks.append(chunk)
        return part.filename or "", b"".join(chunks)


def _problem_json(flow: FlowText, problem: Problem) -> dict[str, Any]:
    return {
        "file": flow.file,
        "document": flow.document,
        "line": problem.line + flow.first_line if problem.line is not None else None,
        "column": problem.column,
        "path": problem.path,
        "message": problem.message,
    }


def _validate(flows: FlowRepository, texts: list[FlowText]) -> list[dict[str, Any]]:
    """Every problem of every flow (none: all valid), duplicates across files included."""
    problems: list[dict[str, Any]] = []
    defined: dict[tuple[str, str], FlowText] = {}
    for text in texts:
        try:
            flow = flows.parse(text.source, name=text.label)
        except FlowDefinitionError as exc:
            problems.extend(_problem_json(text, p) for p in exc.problems)
            continue
        key = (flow.namespace, flow.id)
        first = defined.setdefault(key, text)
        if first is not text:
            message = f"flow {flow.namespace}/{flow.id} is defined twice: also in {first.label}"
            problems.append(_problem_json(text, Problem(message, path="id", line=1, column=1)))
    return problems


def _summary(problems: list[dict[str, Any]]) -> str:
    files: dict[str, dict[str, Any]] = {}
    for problem in problems:
        label = (
            problem["file"]
            if problem["document"] is None
            else (f"{problem['file']} (document {problem['document']})")
        )
        files.setdefault(label, problem)
    parts = [
        f"{label} (line {p['line'] if p['line'] is not None else '?'}, column "
        f"{p['column'] if p['column'] is not None else '?'}: {p['message']})"
        for label, p in files.items()
    ]
    return "Following invalid flows were not imported, nor any other: " + "; ".join(parts)


async def import_flows(services: Services, request: web.Request) -> web.StreamResponse:
    filename, data = await _read_upload_field(request)
    try:
        texts = await asyncio.to_thread(read_upload, filename, data)
    except ArchiveError as exc:
        raise ApiError(exc.status, exc.message) from None
    problems = await asyncio.to_thread(_validate, services.flows, texts)
    if problems:
        raise ApiError(422, _summary(problems), problems=problems)
    for text in texts:
        # Validated above; save validates again, a cached parse would only save microseconds.
        await services.flows.save(text.source, name=text.label)
    return json_response([])


def _zip_response(files: list[tuple[str, str]]) -> web.Response:
    return web.Response(
        body=write_zip(files),
        content_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="flows.zip"'},
    )


def _query_filters(request: web.Request) -> tuple[str | None, str | None]:
    """(q, namespace) from the legacy parameters or Kestra 1.x's filters; any other filter
    is refused rather than ignored (an export of more than was asked for is a leak)."""
    q = request.query.get("q") or None
    namespace = request.query.get("namespace") or None
    for key, value in request.query.items():
        match = _FILTER.match(key)
        if match is None:
            if key.startswith("filters"):
                raise ApiError(400, f"cannot read the filter {key!r}")
            continue
        field, operation = match.groups()
        if field == "q" and operation == "EQUALS":
            q = value or None
        elif field == "namespace" and operation in ("EQUALS", "PREFIX", "STARTS_WITH"):
            namespace = value or None
        else:
            raise ApiError(
                400,
                f"export filters on q (EQUALS) and namespace (PREFIX) only, not {field} "
                f"{operation}",
            )
    return q, namespace


async def export_by_query(services: Services, request: web.Request) -> web.StreamResponse:
    q, namespace = _query_filters(request)
    found, total = await services.store.search_flows(
        q=q, namespace=namespace, limit=MAX_EXPORT_FLOWS
    )
    if total > MAX_EXPORT_FLOWS:
        raise ApiError(413, f"more than {MAX_EXPORT_FLOWS} flows match: narrow the query")
    files = [(f"{r.namespace}-{r.id}.yml", r.source) for r in found]
    return await asyncio.to_thread(_zip_response, files)


async def export_by_ids(services: Services, request: web.Request) -> web.StreamResponse:
    body = await read_json(request, MAX_IDS_BYTES)
    if not isinstance(body, list) or not all(
        isinstance(i, dict) and isinstance(i.get("namespace"), str) and isinstance(i.get("id"), str)
        for i in body
    ):
        raise ApiError(400, 'send a JSON list of {"namespace": …, "id": …}')
    if len(body) > MAX_EXPORT_FLOWS:
        raise ApiError(413, f"more than {MAX_EXPORT_FLOWS} flows asked for")
    records: list[FlowRecord] = []
    for item in body:
        record = await services.store.get_flow(item["namespace"], item["id"])
        if record is None or record.is_deleted:
            raise ApiError(404, f"flow {item['namespace']}/{item['id']} not found")
        records.append(record)
    # Kestra names the entries differently here than in by-query; kept for its clients.
    files = [(f"{r.namespace}.{r.id}.yaml", r.source) for r in records]
    return await asyncio.to_thread(_zip_response, files)


def _bound(
    handler: Callable[[Services, web.Request], Awaitable[web.StreamResponse]], services: Services
) -> Handler:
    return functools.update_wrapper(functools.partial(handler, services), handler)


def flow_transfer_routes(services: Services, api: ApiRoutes) -> None:
    """Register before the flow routes: `/flows/export/by-query` would otherwise be read
    as `/flows/{namespace}/{id}`."""
    api.post("/flows/import", _bound(import_flows, services))
    api.get("/flows/export/by-query", _bound(export_by_query, services))
    api.post("/flows/export/by-ids", _bound(export_by_ids, services))
