"""io.kestra.plugin.core.http.Request: one HTTP call whose response becomes outputs.

Outputs are Kestra's: `uri` (the URL called), `code`, `headers` (name → list of values)
and `body` (the response text, or null when the response has none). The body is kept in
outputs, so its size is bounded by `options.maxContentLength` (10 MiB, as Kestra);
`Download` is the task for large payloads. A status of 400 or more fails the task unless
`allowFailed` (or `options.allowFailed`) is true, as Kestra's HTTP client does.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, lazy_import, plugin
from tasks.http.client import (
    HttpOptions,
    PreparedRequest,
    Settings,
    Ssl,
    build_request,
    describe_client_error,
    describe_failure,
    open_session,
    response_headers,
    settings_of,
)
from tasks.properties import masks_failures

if TYPE_CHECKING:
    import aiohttp
else:  # imported when a task first uses it: the catalog stays fast
    aiohttp = lazy_import("aiohttp")

__all__ = ["HttpTask", "Request", "decode_body", "read_bounded", "refuse_encryption"]

_CHUNK = 64 * 1024


def refuse_encryption(cls: type, value: bool | str) -> bool | str:
    """`encryptBody: true` is refused at load (a pydantic field validator)."""
    if value is True or (isinstance(value, str) and value.strip().lower() == "true"):
        raise ValueError(
            "Podium does not encrypt outputs; secrets revealed by the execution are "
            "masked in outputs instead, so leave 'encryptBody' false"
        )
    return value


class HttpTask(Task):
    """Properties Kestra's AbstractHttp gives both Request and Download."""

    uri: str
    method: str = "GET"
    contentType: str = "application/json"
    body: Any = None
    formData: dict[str, Any] | str | None = None
    headers: dict[str, Any] | str | None = None
    options: HttpOptions | None = None
    allowFailed: bool | str | None = None  # deprecated by Kestra for options.allowFailed
    sslOptions: Ssl | None = None  # deprecated by Kestra for options.ssl

    def settings(self, ctx: RunContext, **overrides: Any) -> Settings:
        options = self.options
        if self.sslOptions is not None:
            options = (options or HttpOptions()).model_copy(update={"ssl": self.sslOptions})
        return settings_of(ctx, options, allow_failed=self.allowFailed, **overrides)

    def prepare(self, ctx: RunContext, settings: Settings) -> PreparedRequest:
        """This task's request, rendered."""
        return build_request(
            ctx,
            settings,
            uri=self.uri,
            method=self.method,
            headers=self.headers,
            content_type=self.contentType,
            body=self.body,
            form_data=self.formData,
        )


@plugin("io.kestra.plugin.core.http.Request", "io.kestra.plugin.fs.http.Request")
class Request(HttpTask):
    """Call an HTTP endpoint and keep its response (status, headers, body) as outputs."""

    encryptBody: bool | str = False

    _no_encryption = field_validator("encryptBody")(refuse_encryption)

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        settings = self.settings(ctx)
        request = self.prepare(ctx, settings)
        ctx.logger.debug(f"{request.method} {request.url}")
        settings.log(ctx, "REQUEST_HEADERS", "request headers", request.headers)
        settings.log(ctx, "REQUEST_BODY", "request body", request.data)
        try:
            async with (
                open_session(settings) as session,
                request.send(session, settings) as response,
            ):
                raw = await read_bounded(response, settings.max_content_length)
                code, reason = response.status, response.reason
                headers = response_headers(response.headers)
                charset = response.charset or settings.charset
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TaskFailed(
                f"{request.method} {request.url}: {describe_client_error(exc, settings)}"
            ) from None
        finally:
            request.close()
        settings.log(ctx, "RESPONSE_HEADERS", "response headers", headers)
        body = decode_body(raw, charset)
        settings.log(ctx, "RESPONSE_BODY", "response body", body)
        if code >= 400 and not settings.allow_failed:
            raise TaskFailed(describe_failure(request.method, request.url, code, reason, body))
        ctx.logger.info(f"{request.method} {request.url} answered {code} ({len(raw)} bytes)")
        return {"uri": request.url, "code": code, "headers": headers, "body": body or None}


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, refusing (early, when the server says so) more than `limit` bytes."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise TaskFailed(_too_large(limit, declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise TaskFailed(_too_large(limit, None))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, declared: int | None) -> str:
    size = f" ({declared} bytes)" if declared is not None else ""
    return (
        f"the response{size} is larger than options.maxContentLength ({limit} bytes); "
        "use io.kestra.plugin.core.http.Download to store large responses"
    )


def decode_body(raw: bytes, charset: str) -> str:
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        codec = "utf-8"
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise TaskFailed(
            f"the response is not valid {codec} text ({exc.reason} at byte {exc.start}); "
            "use io.kestra.plugin.core.http.Download for binary content"
        ) from None
