"""Flows: create and update from YAML, read, delete, search, validate, revisions, graph.

A flow is saved only when it loads cleanly: every problem comes back with its line,
column and path (422). A PUT may not change the flow's id or namespace (422 too): that
would be another flow.
"""

from __future__ import annotations

from typing import Any

import yaml
from aiohttp import web

from engine.errors import FlowDefinitionError, Problem
from engine.flow import Flow
from engine.flow_archive import split_documents
from engine.store.base import FlowRecord
from engine.web.api import Services
from engine.web.graph import flow_graph
from engine.web.http import (
    ApiError,
    ApiRoutes,
    json_response,
    page_args,
    parse_json,
    query_bool,
    query_int,
    read_text,
)
from engine.web.kestra_json import flow_json
from engine.yaml_loader import load_yaml_value

__all__ = ["flow_routes"]

# What a flow may be sent as: never a type a cross-site HTML form can send (text/plain,
# urlencoded, multipart), so a forged form cannot create a flow (docs/reliability.md).
FLOW_TYPES = ("application/x-yaml", "application/yaml", "text/yaml", "application/json")


def _problem_json(problem: Problem, line_offset: int = 0) -> dict[str, Any]:
    return {
        "line": problem.line + line_offset if problem.line is not None else None,
        "column": problem.column,
        "path": problem.path,
        "message": problem.message,
    }


def _invalid(exc: FlowDefinitionError) -> ApiError:
    return ApiError(
        422,
        "invalid flow: " + "; ".join(p.message for p in exc.problems[:3]),
        problems=[_problem_json(p) for p in exc.problems],
    )


async def _source(request: web.Request) -> str:
    """The flow's YAML; a JSON body (as some clients send) is turned into YAML."""
    text = await read_text(request, "flow", types=FLOW_TYPES)
    if not text.strip():
        raise ApiError(400, "the body is empty: send the flow as YAML (application/x-yaml)")
    if request.content_type == "application/json":
        return yaml.safe_dump(parse_json(text), sort_keys=False, allow_unicode=True)
    return text


def _summary(flow: Flow | None, record: FlowRecord, last: Any) -> dict[str, Any]:
    return {
        "id": record.id,
        "namespace": record.namespace,
        "revision": record.revision,
        "description": flow.description if flow else None,
        "disabled": flow.disabled if flow else False,
        "labels": [{"key": k, "value": v} for k, v in (flow.labels if flow else {}).items()],
        "inputs": [
            i.model_dump(mode="json", by_alias=True, exclude_none=True)
            for i in (flow.inputs if flow else ())
        ],
        "triggers": [{"id": t.id, "type": t.type} for t in (flow.triggers if flow else ())],
        "updated": record.updated_at.isoformat(),
        "lastExecution": (
            {
                "id": last.execution_id,
                "state": last.state.value,
                "startDate": (last.started_at or last.created_at).isoformat(),
            }
            if last is not None
            else None
        ),
    }


async def _record_or_404(
    services: Services, namespace: str, flow_id: str, revision: int | None
) -> FlowRecord:
    record = await services.store.get_flow(namespace, flow_id, revision)
    if record is None or record.is_deleted:
        raise ApiError(404, f"flow {namespace}/{flow_id} not found")
    return record


async def list_flows(services: Services, request: web.Request) -> web.StreamResponse:
    return json_response(
        [
            {
                "namespace": r.namespace,
                "id": r.id,
                "revision": r.revision,
                "updated": r.updated_at.isoformat(),
            }
            for r in await services.flows.list()
        ]
    )


async def create_flow(services: Services, request: web.Request) -> web.StreamResponse:
    source = await _source(request)
    try:
        parsed = services.flows.parse(source, name="request body")
    except FlowDefinitionError as exc:
        raise _invalid(exc) from None
    if await services.store.get_flow(parsed.namespace, parsed.id) is not None:
        raise ApiError(
            409,
            f"a flow {parsed.namespace}.{parsed.id} exists already: open it to change it, "
            "or give this one another id",
        )
    saved = await services.flows.save(source, name="request body")
    record = await _record_or_404(services, saved.namespace, saved.id, saved.revision)
    return json_response(flow_json(record))


async def update_flow(services: Services, request: web.Request) -> web.StreamResponse:
    namespace, flow_id = request.match_info["namespace"], request.match_info["id"]
    source = await _source(request)
    try:
        parsed = services.flows.parse(source, name="request body")
    except FlowDefinitionError as exc:
        raise _invalid(exc) from None
    await _record_or_404(services, namespace, flow_id, None)
    problems = [
        {"line": None, "column": None, "path": key, "message": f"cannot change {key} from "
         f"{expected!r} to {given!r}: create a new flow instead"}
        for key, expected, given in (
            ("namespace", namespace, parsed.namespace), ("id", flow_id, parsed.id),
        )
        if expected != given
    ]  # fmt: skip
    if problems:
        raise ApiError(422, "a flow's id and namespace cannot change", problems=problems)
    saved = await services.flows.save(source, name="request body")
    record = await _record_or_404(services, namespace, flow_id, saved.revision)
    return json_response(flow_json(record))


async def get_flow(services: Services, request: web.Request) -> web.StreamResponse:
    revision = query_int(request, "revision", None, minimum=1)
    record = await _record_or_404(
        services, request.match_info["namespace"], request.match_info["id"], revision
    )
    return json_response(flow_json(record, with_source=query_bool(request, "source")))


async def delete_flow(services: Services, request: web.Request) -> web.StreamResponse:
    namespace, flow_id = request.match_info["namespace"], request.match_info["id"]
    if not await services.flows.delete(namespace, flow_id):
        raise ApiError(404, f"flow {namespace}/{flow_id} not found")
    return web.Response(status=204)


async def namespace_flows(services: Services, request: web.Request) -> web.StreamResponse:
    namespace = request.match_info["namespace"]
    found, _ = await services.store.search_flows(namespace=namespace, limit=10_000)
    return json_response([flow_json(r) for r in found if r.namespace == namespace])


async def search_flows(services: Services, request: web.Request) -> web.StreamResponse:
    limit, offset = page_args(request)
    store = services.store
    found, total = await store.search_flows(
        q=request.query.get("q") or None,
        namespace=request.query.get("namespace") or None,
        limit=limit,
        offset=offset,
    )
    last = await store.latest_executions([(r.namespace, r.id) for r in found])
    results = []
    for record in found:
        flow = await services.flows.get(record.namespace, record.id, record.revision)
        results.append(_summary(flow, record, last.get((record.namespace, record.id))))
    return json_response({"results": results, "total": total})


async def list_namespaces(services: Services, request: web.Request) -> web.StreamResponse:
    return json_response(sorted({r.namespace for r in await services.flows.list()}))


async def validate_flows(services: Services, request: web.Request) -> web.StreamResponse:
    text = await read_text(request, "flow", types=FLOW_TYPES)
    results = []
    for index, (offset, document) in enumerate(split_documents(text)):
        result: dict[str, Any] = {"index": index, "constraints": "", "problems": []}
        try:
            flow = services.flows.parse(document, name=f"document {index}")
            result.update(flow=flow.id, namespace=flow.namespace)
            if flow.deprecations:  # Kestra's validate answer names them the same way
                result["deprecationPaths"] = [p.path for p in flow.deprecations]
                result["warnings"] = [_problem_json(p, offset) for p in flow.deprecations]
        except FlowDefinitionError as exc:
            try:
                raw = load_yaml_value(document, source="request body")
            except FlowDefinitionError:  # bounded, unlike yaml.safe_load
                raw = None
            raw = raw if isinstance(raw, dict) else {}
            result.update(
                flow=raw.get("id") if isinstance(raw.get("id"), str) else None,
                namespace=raw.get("namespace") if isinstance(raw.get("namespace"), str) else None,
                constraints="\n".join(
                    f"line {p.line + offset if p.line is not None else '?'}, column "
                    f"{p.column if p.column is not None else '?'}: {p.path + ': ' if p.path else ''}"
                    f"{p.message}"
                    for p in exc.problems
                ),
                problems=[_problem_json(p, offset) for p in exc.problems],
            )  # fmt: skip
        results.append(result)
    return json_response(results)


async def flow_revisions(services: Services, request: web.Request) -> web.StreamResponse:
    namespace, flow_id = request.match_info["namespace"], request.match_info["id"]
    found = await services.store.flow_revisions(namespace, flow_id)
    if not found:
        raise ApiError(404, f"flow {namespace}/{flow_id} not found")
    return json_response(
        [
            {"revision": r.revision, "source": r.source, "updated": r.updated_at.isoformat()}
            for r in found
        ]
    )


async def get_flow_graph(services: Services, request: web.Request) -> web.StreamResponse:
    namespace, flow_id = request.match_info["namespace"], request.match_info["id"]
    revision = query_int(request, "revision", None, minimum=1)
    flow = await services.flows.get(namespace, flow_id, revision)
    if flow is None:
        raise ApiError(404, f"flow {namespace}/{flow_id} not found")
    return json_response(flow_graph(flow))


async def graph_of_source(services: Services, request: web.Request) -> web.StreamResponse:
    """The topology of a flow that is being written (Kestra's POST /flows/graph): the
    editor's live view. Nothing is saved; an invalid flow is a 422 with its problems."""
    source = await _source(request)
    try:
        flow = services.flows.parse(source, name="request body")
    except FlowDefinitionError as exc:
        raise _invalid(exc) from None
    return json_response(flow_graph(flow))


def flow_routes(services: Services, api: ApiRoutes) -> None:
    bind = services.bind
    # literal segments first: /flows/search must not be read as /flows/{namespace}
    api.get("/flows", bind(list_flows))
    api.post("/flows", bind(create_flow))
    api.get("/flows/search", bind(search_flows))
    api.get("/flows/namespaces", bind(list_namespaces))
    api.post("/flows/validate", bind(validate_flows))
    api.post("/flows/graph", bind(graph_of_source))
    api.get("/flows/{namespace}", bind(namespace_flows))
    api.get("/flows/{namespace}/{id}", bind(get_flow))
    api.put("/flows/{namespace}/{id}", bind(update_flow))
    api.delete("/flows/{namespace}/{id}", bind(delete_flow))
    api.get("/flows/{namespace}/{id}/revisions", bind(flow_revisions))
    api.get("/flows/{namespace}/{id}/graph", bind(get_flow_graph))
