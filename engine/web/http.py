"""What every API module shares: errors as JSON, checked query parameters, bounded bodies,
and `ApiRoutes`, which registers each route under `/api/v1` and the tenant form
`/api/v1/main` (Kestra's default tenant), so both spellings reach the same handler.

Handlers raise `ApiError` (or let a parameter helper raise it); the error middleware in
app.py turns it into `{"message": ..., **extra}` with its status. Every parameter is
parsed here, so a bad page, size, date or boolean is a 400, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from engine.values import jsonable

__all__ = [
    "API_PREFIXES",
    "ApiError",
    "ApiRoutes",
    "json_response",
    "page_args",
    "parse_date",
    "query_bool",
    "query_date",
    "query_int",
    "read_bytes",
    "read_json",
]

API_PREFIXES = ("/api/v1", "/api/v1/main")
MAX_PAGE_SIZE = 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An answer other than success: its status, a message and extra JSON fields."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        return json_response({"message": self.message, **self.extra}, status=self.status)


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, default=jsonable, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
        headers=headers,
    )


class ApiRoutes:
    """Routes under both API prefixes; `routes` is what `app.add_routes` takes."""

    def __init__(self) -> None:
        self.routes: list[web.RouteDef] = []

    def __repr__(self) -> str:
        return f"<ApiRoutes {len(self.routes)}>"

    def add(self, method: str, path: str, handler: Handler) -> None:
        for prefix in API_PREFIXES:
            self.routes.append(web.route(method, prefix + path, handler))

    def get(self, path: str, handler: Handler) -> None:
        self.add("GET", path, handler)

    def post(self, path: str, handler: Handler) -> None:
        self.add("POST", path, handler)

    def put(self, path: str, handler: Handler) -> None:
        self.add("PUT", path, handler)

    def delete(self, path: str, handler: Handler) -> None:
        self.add("DELETE", path, handler)


def query_int(
    request: web.Request,
    name: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ApiError(400, f"query parameter {name!r} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ApiError(400, f"query parameter {name!r} must be at most {maximum}")
    return value


def page_args(request: web.Request, default_size: int = 25) -> tuple[int, int]:
    """(limit, offset) from `page` (from 1) and `size` (at most MAX_PAGE_SIZE)."""
    page = query_int(request, "page", 1, minimum=1, maximum=1_000_000)
    size = query_int(request, "size", default_size, minimum=1, maximum=MAX_PAGE_SIZE)
    assert page is not None and size is not None
    return size, (page - 1) * size


def parse_date(raw: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError:
        raise ApiError(400, f"{name!r} must be an ISO-8601 date-time, got {raw!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def query_date(request: web.Request, name: str) -> datetime | None:
    """An ISO-8601 date-time; one without an offset is UTC. A `+` that a query string
    turned into a space is put back."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    return parse_date(raw, name)


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ApiError(400, f"query parameter {name!r} must be true or false, got {raw!r}")


async def read_bytes(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 past `limit` (from Content-Length before reading)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the body is over {limit} bytes")
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise ApiError(413, f"the body is over {limit} bytes")
    return body


async def read_text(request: web.Request, limit: int) -> str:
    body = await read_bytes(request, limit)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None


async def read_json(request: web.Request, limit: int) -> Any:
    body = await read_bytes(request, limit)
    if not body.strip():
        raise ApiError(400, "a JSON body is required")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ApiError(400, f"the body is not JSON: {exc}") from None
