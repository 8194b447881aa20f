"""What the HTTP tasks share: Kestra's `options`, the request they build, the session.

`HttpOptions` is Kestra's `HttpConfiguration` (timeouts, auth, proxy, ssl, redirects,
allowFailed) together with the older flat spellings (`connectTimeout`, `readTimeout`,
`basicAuthUser` …) and the notification tasks' `headers`, so flows written for any
Kestra 1.x release load. `open_session` turns them into one aiohttp session whose every
phase has a timeout; `build_request` renders uri, method, headers and body/formData.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import orjson

from engine.errors import StorageError, TaskFailed
from engine.plugin import DurationOrTemplate, Model, RunContext, lazy_import
from tasks.http.network import NetworkPolicy
from tasks.properties import (
    render_flag,
    render_integer,
    render_mapping,
    render_seconds,
    render_text,
)

if TYPE_CHECKING:
    import aiohttp
else:  # imported when a task first uses it: the catalog stays fast
    aiohttp = lazy_import("aiohttp")

__all__ = [
    "DEFAULT_CONNECT_SECONDS",
    "DEFAULT_READ_SECONDS",
    "HttpOptions",
    "PreparedRequest",
    "Settings",
    "build_request",
    "describe_client_error",
    "describe_failure",
    "open_session",
    "response_headers",
    "settings_of",
]

DEFAULT_CONNECT_SECONDS = 30.0
"""Kestra sets no connect timeout; an unbounded connect is a hang, so Podium bounds it."""
DEFAULT_READ_SECONDS = 300.0
"""Kestra's `readIdleTimeout` default: the longest silence allowed while reading."""
DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024
"""Kestra's limit for a response kept in outputs (Request, notifications); Download streams."""
MAX_REDIRECTS = 10


class Auth(Model):
    type: Literal["BASIC", "BEARER"]
    username: str | None = None
    password: str | None = None
    token: str | None = None


class Timeouts(Model):
    connectTimeout: DurationOrTemplate | None = None
    readIdleTimeout: DurationOrTemplate | None = None


class Proxy(Model):
    type: Literal["DIRECT", "HTTP", "SOCKS"] = "HTTP"
    address: str | None = None
    port: int | str | None = None
    username: str | None = None
    password: str | None = None


class Ssl(Model):
    insecureTrustAllCertificates: bool | str | None = None


class HttpOptions(Model):
    """Kestra's `options` of the HTTP and notification tasks."""

    timeout: Timeouts | None = None
    proxy: Proxy | None = None
    auth: Auth | None = None
    ssl: Ssl | None = None
    followRedirects: bool | str = True
    allowFailed: bool | str = False
    defaultCharset: str = "UTF-8"
    headers: dict[str, str] | str | None = None
    logs: list[str] | None = None
    maxContentLength: int | str | None = None
    # Spellings of Kestra releases before HttpConfiguration; still read.
    connectTimeout: DurationOrTemplate | None = None
    readTimeout: DurationOrTemplate | None = None
    readIdleTimeout: DurationOrTemplate | None = None
    connectionPoolIdleTimeout: DurationOrTemplate | None = None
    basicAuthUser: str | None = None
    basicAuthPassword: str | None = None
    proxyType: Literal["DIRECT", "HTTP", "SOCKS"] | None = None
    proxyAddress: str | None = None
    proxyPort: int | str | None = None
    proxyUsername: str | None = None
    proxyPassword: str | None = None
    logLevel: str | None = None


@dataclass(frozen=True)
class Settings:
    """`HttpOptions` rendered: plain values the session and the tasks use."""

    connect_seconds: float = DEFAULT_CONNECT_SECONDS
    read_seconds: float = DEFAULT_READ_SECONDS
    follow_redirects: bool = True
    allow_failed: bool = False
    charset: str = "UTF-8"
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    verify_ssl: bool = True
    # Credentials stay out of repr (and so out of logs and tracebacks).
    authorization: str | None = field(default=None, repr=False)
    proxy: str | None = None
    proxy_authorization: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    logs: frozenset[str] = frozenset()  # what of the exchange to log: Kestra's `options.logs`
    network: NetworkPolicy = field(default_factory=NetworkPolicy)  # where it may connect

    def log(self, ctx: RunContext, kind: str, what: str, text: Any) -> None:
        """Log one part of the exchange if `options.logs` asks for it (credentials hidden)."""
        if kind not in self.logs:
            return
        if isinstance(text, Mapping):
            text = {k: "***" if k.lower() in _SECRET_HEADERS else v for k, v in text.items()}
        elif isinstance(text, bytes):
            text = text[:_LOGGED_BODY].decode("utf-8", "replace")
        elif not isinstance(text, str):
            text = f"({type(text).__name__})"
        ctx.logger.info(f"{what}: {str(text)[:_LOGGED_BODY]}")


_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
_LOGGED_BODY = 2000
_LOG_LEVELS = {  # Kestra's deprecated options.logLevel, as HttpConfiguration maps it
    "TRACE": ("REQUEST_HEADERS", "REQUEST_BODY", "RESPONSE_HEADERS", "RESPONSE_BODY"),
    "DEBUG": ("REQUEST_HEADERS", "RESPONSE_HEADERS"),
    "INFO": ("RESPONSE_HEADERS",),
}


def settings_of(
    ctx: RunContext,
    options: HttpOptions | None,
    *,
    allow_failed: Any = None,
    default_read_seconds: float = DEFAULT_READ_SECONDS,
) -> Settings:
    """Render `options`; `allow_failed` is the deprecated task-level property."""
    o = options or HttpOptions()
    timeouts = o.timeout or Timeouts()
    connect = render_seconds(ctx, timeouts.connectTimeout or o.connectTimeout, "connectTimeout")
    read = render_seconds(
        ctx, timeouts.readIdleTimeout or o.readTimeout or o.readIdleTimeout, "readIdleTimeout"
    )
    allowed = render_flag(ctx, allow_failed, "allowFailed")
    if allowed is None:
        allowed = render_flag(ctx, o.allowFailed, "options.allowFailed")
    proxy, proxy_authorization = _proxy(ctx, o)
    return Settings(
        connect_seconds=connect or DEFAULT_CONNECT_SECONDS,
        read_seconds=read or default_read_seconds,
        follow_redirects=bool(render_flag(ctx, o.followRedirects, "options.followRedirects")),
        allow_failed=bool(allowed),
        charset=render_text(ctx, o.defaultCharset, "options.defaultCharset") or "UTF-8",
        max_content_length=render_integer(
            ctx, o.maxContentLength, "options.maxContentLength", minimum=0
        )
        or DEFAULT_MAX_CONTENT_LENGTH,
        verify_ssl=not (
            o.ssl is not None
            and render_flag(
                ctx, o.ssl.insecureTrustAllCertificates, "options.ssl.insecureTrustAllCertificates"
            )
        ),
        authorization=_authorization(ctx, o),
        proxy=proxy,
        proxy_authorization=proxy_authorization,
        headers={k: str(v) for k, v in render_mapping(ctx, o.headers, "options.headers").items()},
        logs=frozenset(o.logs or _LOG_LEVELS.get((o.logLevel or "").upper(), ())),
        network=_network_policy(),
    )


def _network_policy() -> NetworkPolicy:
    try:
        return NetworkPolicy.from_environ()
    except ValueError as exc:
        raise TaskFailed(str(exc)) from None


def _authorization(ctx: RunContext, o: HttpOptions) -> str | None:
    if o.auth is not None and o.auth.type == "BEARER":
        token = render_text(ctx, o.auth.token, "auth.token")
        if not token:
            raise TaskFailed("options.auth of type BEARER needs a 'token'")
        return f"Bearer {token}"
    user = o.auth.username if o.auth is not None else o.basicAuthUser
    password = o.auth.password if o.auth is not None else o.basicAuthPassword
    if user is None:
        return None
    return _basic(
        render_text(ctx, user, "auth.username") or "",
        render_text(ctx, password, "auth.password") or "",
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _proxy(ctx: RunContext, o: HttpOptions) -> tuple[str | None, str | None]:
    p = o.proxy or Proxy(
        type=o.proxyType or "HTTP",
        address=o.proxyAddress,
        port=o.proxyPort,
        username=o.proxyUsername,
        password=o.proxyPassword,
    )
    if p.type == "DIRECT" or not p.address:
        return None, None
    if p.type == "SOCKS":
        raise TaskFailed("SOCKS proxies are not supported; use an HTTP proxy")
    address = render_text(ctx, p.address, "proxy.address") or ""
    port = render_integer(ctx, p.port, "proxy.port", minimum=1)
    url = address if "://" in address else f"http://{address}"
    if port is not None:
        url = f"{url}:{port}"
    if not p.username:
        return url, None
    return url, _basic(
        render_text(ctx, p.username, "proxy.username") or "",
        render_text(ctx, p.password, "proxy.password") or "",
    )


@contextlib.asynccontextmanager
async def open_session(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    """One session per task run: nothing is shared between executions. The whole
    exchange is bounded by the task's own `timeout`; each phase by these."""
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=settings.connect_seconds,
        sock_connect=settings.connect_seconds,
        sock_read=settings.read_seconds,
    )
    from tasks.http.connector import GuardedConnector  # aiohttp: imported on first use

    connector = GuardedConnector(settings.network, ssl=settings.verify_ssl, limit=4)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, auto_decompress=True, trust_env=False
    ) as session:
        yield session


@dataclass
class PreparedRequest:
    """What `session.request(...)` gets, plus the rendered URI for outputs and errors."""

    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    data: Any = field(default=None, repr=False)
    files: list[BinaryIO] = field(default_factory=list, repr=False)

    def send(self, session: aiohttp.ClientSession, settings: Settings) -> Any:
        """`async with request.send(session, settings) as response: …`"""
        return session.request(
            self.method,
            self.url,
            headers=self.headers,
            data=self.data,
            allow_redirects=settings.follow_redirects,
            max_redirects=MAX_REDIRECTS,
            proxy=settings.proxy,
            proxy_headers=(
                {"Proxy-Authorization": settings.proxy_authorization}
                if settings.proxy_authorization
                else None
            ),
        )

    def close(self) -> None:
        """Close the files a multipart body opened (aiohttp may not have read them)."""
        for handle in self.files:
            handle.close()


def build_request(
    ctx: RunContext,
    settings: Settings,
    *,
    uri: str,
    method: str,
    headers: Any,
    content_type: Any,
    body: Any,
    form_data: Any,
) -> PreparedRequest:
    """Render the request as Kestra's AbstractHttp does: formData wins over body;
    multipart when contentType says so, URL-encoded otherwise."""
    url = (render_text(ctx, uri, "uri") or "").strip().replace(" ", "%20")
    if not url.lower().startswith(("http://", "https://")):
        raise TaskFailed(f"property 'uri' must be an http(s) URL, not {url[:200]!r}")
    verb = (render_text(ctx, method, "method") or "GET").strip().upper()
    out_headers = dict(settings.headers)
    out_headers.update({str(k): str(v) for k, v in render_mapping(ctx, headers, "headers").items()})
    if settings.authorization and not _has_header(out_headers, "Authorization"):
        out_headers["Authorization"] = settings.authorization
    kind = render_text(ctx, content_type, "contentType")
    request = PreparedRequest(verb, url, out_headers)
    form = render_mapping(ctx, form_data, "formData")
    if form:
        if (kind or "").split(";")[0].strip().lower() == "multipart/form-data":
            request.data = _multipart(ctx, form, request.files)
        else:
            request.data = {k: v if isinstance(v, str) else _json(v) for k, v in form.items()}
    elif body is not None:
        text = render_text(ctx, body, "body") or ""
        request.data = text.encode(_codec(settings.charset))
        if kind and not _has_header(out_headers, "Content-Type"):
            out_headers["Content-Type"] = kind
    return request


def _multipart(ctx: RunContext, form: Mapping[str, Any], files: list[BinaryIO]) -> aiohttp.FormData:
    """Files from internal storage go as file parts (aiohttp reads them off the loop)."""
    data = aiohttp.FormData()
    for name, value in form.items():
        if isinstance(value, str) and value.startswith("kestra://"):
            path = _local(ctx, value)
            files.append(path.open("rb"))
            data.add_field(name, files[-1], filename=path.name)
        elif isinstance(value, Mapping) and "name" in value and "content" in value:
            path = _local(ctx, str(value["content"]))
            files.append(path.open("rb"))
            data.add_field(name, files[-1], filename=str(value["name"]))
        else:
            data.add_field(name, value if isinstance(value, str) else _json(value))
    return data


def _local(ctx: RunContext, uri: str) -> Path:
    try:
        path = ctx.storage.local_path(uri)
    except StorageError as exc:
        raise TaskFailed(str(exc)) from None
    if not path.is_file():
        raise TaskFailed(f"no file in internal storage at {uri!r}")
    return path


def response_headers(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Kestra's `headers` output: each name (as the server spelled it first) → its values.
    `headers` is aiohttp's multi-dict: `items()` yields a repeated header once per value."""
    out: dict[str, list[str]] = {}
    spelled: dict[str, str] = {}
    for name, value in headers.items():
        key = spelled.setdefault(name.lower(), name)
        out.setdefault(key, []).append(value)
    return out


def describe_client_error(exc: aiohttp.ClientError | TimeoutError, settings: Settings) -> str:
    """A transport failure in a sentence (aiohttp's own messages can be empty)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return (
            f"cannot connect within {settings.connect_seconds:g}s (options.timeout.connectTimeout)"
        )
    if isinstance(exc, TimeoutError):
        return (
            f"no answer within the read timeout ({settings.read_seconds:g}s; "
            "options.timeout.readIdleTimeout)"
        )
    if isinstance(exc, aiohttp.TooManyRedirects):
        return f"more than {MAX_REDIRECTS} redirects"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error or exc}"
    return str(exc) or type(exc).__name__


def describe_failure(method: str, url: str, code: int, reason: str | None, body: str) -> str:
    shown = body if len(body) <= 2000 else body[:2000] + "…"
    text = f"{method} {url} failed with HTTP {code}"
    if reason:
        text += f" {reason}"
    return f"{text}: {shown}" if shown else text


def _has_header(headers: Mapping[str, str], name: str) -> bool:
    return any(k.lower() == name.lower() for k in headers)


def _codec(charset: str) -> str:
    try:
        return codecs.lookup(charset).name
    except LookupError:
        raise TaskFailed(f"unknown charset {charset!r} in options.defaultCharset") from None


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
