"""io.kestra.plugin.core.http.Trigger: call an HTTP endpoint every `interval`; start the
flow when `responseCondition` holds.

The request is the Request task's (tasks/http/client.py): the same `options` (timeouts,
auth, proxy, ssl, redirects), the same network policy (private, loopback and link-local
targets refused unless PODIUM_HTTP_ALLOWED_NETWORKS allows them), the same bounded
body. A status of 400 or more does not fail the poll: the condition decides, as in
Kestra, whose default is `{{ response.statusCode < 400 }}`. The condition sees
`response.statusCode`, `response.body` (text) and `response.headers`; the execution gets
the Request task's outputs as `trigger.uri`, `trigger.code`, `trigger.headers` and
`trigger.body`.

Each poll whose condition holds starts one execution (the polling runner,
triggers/polling.py, does the timing and the firing). Without `allowConcurrent`, as in
Kestra, no poll happens while an execution it started still runs; `stopAfter` disables
the trigger once one of them ends in a listed state. A poll that fails (a refused
address, a timeout) is logged, masked, and tried again at the next interval.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import field_validator

from engine.errors import TaskFailed
from engine.plugin import PollContext, PolledItem, PolledTrigger, lazy_import, plugin
from tasks.http.client import (
    HttpOptions,
    Ssl,
    build_request,
    describe_client_error,
    open_session,
    response_headers,
    settings_of,
)
from tasks.http.request import decode_body, read_bounded, refuse_encryption
from tasks.polling import PollingRunContext

if TYPE_CHECKING:
    import aiohttp
else:  # imported when the trigger first polls: the catalog stays fast
    aiohttp = lazy_import("aiohttp")

__all__ = ["HttpTrigger"]

_FALSE = {"", "0", "-0", "false", "null", "none"}


@plugin("io.kestra.plugin.core.http.Trigger", "io.kestra.plugin.fs.http.Trigger")
class HttpTrigger(PolledTrigger):
    """Poll `uri`; fire when `responseCondition` renders true (see the module docstring)."""

    batch: ClassVar[bool] = False

    uri: str
    method: str = "GET"
    contentType: str = "application/json"
    body: Any = None
    formData: dict[str, Any] | str | None = None
    headers: dict[str, Any] | str | None = None
    options: HttpOptions | None = None
    sslOptions: Ssl | None = None  # deprecated by Kestra for options.ssl
    responseCondition: str = "{{ response.statusCode < 400 }}"
    encryptBody: bool | str = False
    allowConcurrent: bool = False

    _no_encryption = field_validator("encryptBody")(refuse_encryption)

    def is_exclusive(self) -> bool:
        return not self.allowConcurrent

    async def poll(self, ctx: PollContext) -> Sequence[PolledItem]:
        run_ctx = PollingRunContext(ctx).as_run_context()
        options = self.options
        if self.sslOptions is not None:
            options = (options or HttpOptions()).model_copy(update={"ssl": self.sslOptions})
        settings = settings_of(run_ctx, options)
        request = build_request(
            run_ctx,
            settings,
            uri=self.uri,
            method=self.method,
            headers=self.headers,
            content_type=self.contentType,
            body=self.body,
            form_data=self.formData,
        )
        try:
            async with (
                open_session(settings) as session,
                request.send(session, settings) as response,
            ):
                raw = await read_bounded(response, settings.max_content_length)
                code = response.status
                # plain str keys: the output is journaled as JSON (aiohttp gives istr)
                headers = {str(k): v for k, v in response_headers(response.headers).items()}
                charset = response.charset or settings.charset
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TaskFailed(
                f"{request.method} {request.url}: {describe_client_error(exc, settings)}"
            ) from None
        finally:
            request.close()
        ctx.logger.debug(f"{request.url} answered {code}")
        text = decode_body(raw, charset)
        output = {"uri": request.url, "code": code, "headers": headers, "body": text or None}
        response_facts = {"statusCode": code, "body": output["body"], "headers": headers}
        verdict = ctx.render(self.responseCondition, extra={"response": response_facts})
        if str(verdict).strip().lower() in _FALSE:
            return []
        # A new id per poll: the endpoint answering the same again fires again, as Kestra.
        return [PolledItem(f"poll-{secrets.token_hex(8)}", output)]

    async def variables(
        self, ctx: PollContext, execution_id: str, items: Sequence[PolledItem]
    ) -> Mapping[str, Any]:
        return dict(items[0].data)
