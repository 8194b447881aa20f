"""The namespace KV store on Kestra's paths and JSON shapes.

    GET    /namespaces/{namespace}/kv              the live entries of a namespace
    GET    /namespaces/{namespace}/kv/inheritance  ... of it and of its parents
    GET    /kv                                     a page over every namespace (filters)
    GET    /namespaces/{namespace}/kv/{key}        {type, value, revision, updated}
    PUT    /namespaces/{namespace}/kv/{key}        body: the value (JSON, or plain text);
                                                   headers `ttl` (ISO-8601), `description`
    DELETE /namespaces/{namespace}/kv/{key}        true, or false when there was none
    DELETE /namespaces/{namespace}/kv              {"keys": [...]} -> {"keys": deleted}

Changes go through `KvService` (a change on the `kv` topic, applied by the KV projector);
a PUT returns once its value is readable.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from engine.durations import parse_duration
from engine.errors import TransientError
from engine.kv import KvError, parse_text_value
from engine.kv.service import KvConflict, KvExpired, KvService
from engine.web.http import ApiError, ApiRoutes, json_response, page_args, read_json, read_text

__all__ = ["KV_SERVICE", "kv_routes"]

KV_SERVICE = web.AppKey("kv_service", KvService)
MAX_VALUE_BODY = 10 << 20  # the app's body limit; the service refuses larger values itself
MAX_DESCRIPTION = 4096
_FILTER = re.compile(r"^filters\[(\w+)\]\[(\w+)\]$")


def _service(request: web.Request) -> KvService:
    service = request.config_dict.get(KV_SERVICE)
    if service is None:
        raise ApiError(503, "the KV store is not served by this process")
    return service


def _refused(exc: KvError | TransientError) -> ApiError:
    if isinstance(exc, TransientError):
        return ApiError(503, str(exc))
    if isinstance(exc, KvExpired):
        return ApiError(410, str(exc))
    if isinstance(exc, KvConflict):
        return ApiError(409, str(exc))
    return ApiError(400, str(exc))


async def list_keys(request: web.Request) -> web.StreamResponse:
    try:
        entries = await _service(request).every(request.match_info["namespace"])
    except (KvError, TransientError) as exc:
        raise _refused(exc) from None
    return json_response([e.kestra_json() for e in entries])


async def list_keys_with_inheritance(request: web.Request) -> web.StreamResponse:
    """The namespace's entries, then each parent's (closest first), as Kestra lists them."""
    service = _service(request)
    namespace = request.match_info["namespace"]
    parts = namespace.split(".")
    found: list[dict[str, Any]] = []
    try:
        for n in range(len(parts), 0, -1):
            found += [e.kestra_json() for e in await service.every(".".join(parts[:n]))]
    except (KvError, TransientError) as exc:
        raise _refused(exc) from None
    return json_response(found)


def _search_filters(request: web.Request) -> dict[str, Any]:
    """Kestra's `filters[field][OPERATION]=value`: namespace (EQUALS, PREFIX, STARTS_WITH),
    q or key (CONTAINS, EQUALS). Anything else is refused rather than ignored."""
    chosen: dict[str, Any] = {}
    for name, value in request.query.items():
        match = _FILTER.match(name)
        if match is None:
            continue
        field, operation = match.group(1), match.group(2).upper()
        if field == "namespace" and operation == "EQUALS":
            chosen.update(namespace=value, include_children=False)
        elif field == "namespace" and operation in ("PREFIX", "STARTS_WITH"):
            chosen.update(namespace=value.rstrip("."), include_children=True)
        elif field in ("q", "query", "key") and operation in ("EQUALS", "CONTAINS"):
            chosen["q"] = value
        else:
            raise ApiError(400, f"cannot filter KV entries by {field} {operation}")
    for legacy in ("namespace", "q"):  # the plain query parameters Kestra also takes
        if request.query.get(legacy):
            chosen[legacy] = request.query[legacy]
    return chosen


async def search_keys(request: web.Request) -> web.StreamResponse:
    limit, offset = page_args(request, default_size=25)
    for sort in request.query.getall("sort", []):
        if sort not in ("namespace:asc", "key:asc", "namespace", "key"):
            raise ApiError(
                400, f"KV entries are listed by namespace then key; cannot sort by {sort!r}"
            )
    try:
        entries, total = await _service(request).search(
            limit=limit, offset=offset, **_search_filters(request)
        )
    except (KvError, TransientError) as exc:
        raise _refused(exc) from None
    return json_response({"results": [e.kestra_json() for e in entries], "total": total})


async def get_key(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    namespace, key = request.match_info["namespace"], request.match_info["key"]
    try:
        entry = await service.entry(namespace, key)
    except (KvError, TransientError) as exc:
        raise _refused(exc) from None
    if entry is None:
        raise ApiError(404, f"No value found for key '{key}' in namespace '{namespace}'")
    return json_response(
        {
            "type": entry.type.value,
            "value": await service.value(entry),
            "revision": entry.revision,
            "updated": entry.updated_at,
            "description": entry.description,
            "expirationDate": entry.expires_at,
        }
    )


async def put_key(request: web.Request) -> web.StreamResponse:
    namespace, key = request.match_info["namespace"], request.match_info["key"]
    body = await read_text(request, MAX_VALUE_BODY)
    if not body.strip():
        raise ApiError(400, "the body must hold the value")
    raw_ttl = request.headers.get("ttl")
    try:
        ttl = parse_duration(raw_ttl) if raw_ttl else None
    except ValueError:
        raise ApiError(
            400, f"the ttl header must be an ISO-8601 duration, got {raw_ttl!r}"
        ) from None
    description = request.headers.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ApiError(400, f"a description is at most {MAX_DESCRIPTION} characters")
    kind, value = parse_text_value(body)
    try:
        await _service(request).set(
            namespace, key, value, kv_type=kind, ttl=ttl, description=description
        )
    except (KvError, TransientError) as exc:
        raise _refused(exc) from None
    return web.Response(status=200)


async def delete_key(request: web.Request) -> web.StreamResponse:
    try:
        deleted = await _service(request).delete(
            request.match_info["namespace"], request.match_info["key"]
        )
    except (KvError, TransientError) as exc:
        raise _refused(exc) from None
    return json_response(deleted)


async def delete_keys(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, 1 << 20)
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ApiError(400, 'the body must be {"keys": ["key", ...]}')
    service, namespace = _service(request), request.match_info["namespace"]
    deleted = []
    for key in keys:
        try:
            if await service.delete(namespace, key):
                deleted.append(key)
        except KvError:
            continue  # Kestra skips a key it cannot delete in a bulk call
        except TransientError as exc:
            raise _refused(exc) from None
    return json_response({"keys": deleted})


def kv_routes(api: ApiRoutes) -> None:
    api.get("/kv", search_keys)
    api.get("/namespaces/{namespace}/kv", list_keys)
    api.delete("/namespaces/{namespace}/kv", delete_keys)
    api.get("/namespaces/{namespace}/kv/inheritance", list_keys_with_inheritance)
    api.get("/namespaces/{namespace}/kv/{key}", get_key)
    api.put("/namespaces/{namespace}/kv/{key}", put_key)
    api.delete("/namespaces/{namespace}/kv/{key}", delete_key)
