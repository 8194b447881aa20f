"""What every API module shares: errors as JSON, checked query parameters, bounded bodies,
and `ApiRoutes`, which registers each route under `/api/v1` and the tenant form
`/api/v1/main` (Kestra's default tenant), so both spellings reach the same handler.

Handlers raise `ApiError` (or let a parameter helper raise it); the error middleware in
app.py turns it into `{"message": ..., **extra}` with its status. Every parameter is
parsed here, so a bad page, size, date or boolean is a 400, never a 500.

Bodies are read here and nowhere else (`read_bytes` and what builds on it): to their end
or their limit, whatever number of TCP reads they arrive in (one `read(n)` returns only
what is buffered: a body cut there was once stored as a shorter, valid flow), within
`http.body_seconds`. The limit is one per kind of body (`BodyKind`, settings `http.*`);
a body over it is a 413 that names the setting. JSON is parsed with a bound on nesting
(engine/json_limits.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from aiohttp import web

from engine.json_limits import loads
from engine.settings import HttpSection
from engine.values import jsonable

__all__ = [
    "API_PREFIXES",
    "HTTP_SETTINGS",
    "ApiError",
    "ApiRoutes",
    "BodyKind",
    "body_limit",
    "json_response",
    "page_args",
    "parse_date",
    "query_bool",
    "query_date",
    "query_int",
    "parse_json",
    "read_bytes",
    "read_form",
    "read_json",
    "read_text",
]

API_PREFIXES = ("/api/v1", "/api/v1/main")
MAX_PAGE_SIZE = 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The HTTP settings of the application (create_app puts them there).
HTTP_SETTINGS = web.AppKey("podium_http", HttpSection)
BodyKind = Literal["flow", "json", "form"]


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


def body_limit(request: web.Request, kind: BodyKind) -> int:
    settings = request.config_dict.get(HTTP_SETTINGS) or HttpSection()
    return int(getattr(settings, f"max_{kind}_bytes"))


def _limit_and_setting(request: web.Request, kind: BodyKind | int) -> tuple[int, str]:
    if isinstance(kind, int):
        return kind, "its route's limit"
    return body_limit(request, kind), f"http.max_{kind}_bytes"


def _too_large(limit: int, setting: str) -> ApiError:
    return ApiError(413, f"body over {limit} bytes ({setting})")


async def read_bytes(request: web.Request, kind: BodyKind | int) -> bytes:
    """The whole body, at most the limit of its kind (or `kind` bytes); 413 past it, from
    Content-Length before reading when the client sent one; 408 when it takes longer than
    `http.body_seconds`."""
    limit, setting = _limit_and_setting(request, kind)
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit, setting)
    settings = request.config_dict.get(HTTP_SETTINGS) or HttpSection()
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.body_seconds):
            while size <= limit:
                chunk = await request.content.read(limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except TimeoutError:
        raise ApiError(408, f"the body took over {settings.body_seconds:g}s to arrive") from None
    if size > limit:
        raise _too_large(limit, setting)  # the rest is not read: the connection closes
    return b"".join(chunks)


def _check_type(request: web.Request, types: Collection[str] | None) -> None:
    if types is not None and request.content_type not in types:
        raise ApiError(
            415,
            f"Content-Type {request.content_type} is not accepted here; send "
            + " or ".join(sorted(types)),
        )


async def read_text(
    request: web.Request, kind: BodyKind | int, *, types: Collection[str] | None = None
) -> str:
    """The body as UTF-8 text; `types` (if given) are the Content-Types accepted (415)."""
    _check_type(request, types)
    body = await read_bytes(request, kind)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None


def parse_json(body: str | bytes, what: str = "the body") -> Any:
    """JSON from a client: 400 when it is not JSON or is nested too deep."""
    try:
        return loads(body)
    except ValueError as exc:
        raise ApiError(400, f"{what} is not JSON: {exc}") from None


async def read_json(request: web.Request, kind: BodyKind | int = "json") -> Any:
    body = await read_bytes(request, kind)
    if not body.strip():
        raise ApiError(400, "a JSON body is required")
    return parse_json(body)


async def read_form(request: web.Request) -> Any:
    """A multipart or urlencoded form (`MultiDictProxy`), at most `http.max_form_bytes`
    (aiohttp reads it; the application's client_max_size is that limit)."""
    limit, setting = _limit_and_setting(request, "form")
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit, setting)
    settings = request.config_dict.get(HTTP_SETTINGS) or HttpSection()
    try:
        async with asyncio.timeout(settings.body_seconds):
            return await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(limit, setting) from None
    except TimeoutError:
        raise ApiError(408, f"the body took over {settings.body_seconds:g}s to arrive") from None
    except ValueError as exc:  # a malformed multipart body
        raise ApiError(400, f"the form is malformed: {exc}") from None
