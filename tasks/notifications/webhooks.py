"""Notifications posted to incoming webhooks: Slack (and the chat tools that share its
shape), plus Podium's generic webhook.

Kestra's chat notifications are all "POST this JSON to that URL": `url`, `payload` (a
JSON string, rendered in the task's context) and `options`. Slack also takes
`messageText`, sent as `{"text": …}` with the escaping done for you. Put one in a flow's
`errors` branch to tell someone that an execution failed:

    errors:
      - id: alert
        type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
        url: "{{ secret('SLACK_WEBHOOK') }}"
        messageText: "{{ flow.namespace }}.{{ flow.id }} failed: execution {{ execution.id }}"

Kestra has no vendor-neutral webhook notification (its docs point to `http.Request`),
so the generic one carries a Podium name: `io.podium.plugin.notifications.webhook.Webhook`
(`url`, `method`, `payload` or `messageText`, `contentType`, `headers`, `options`).
A response of 400 or more fails the task with the receiver's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from pydantic import model_validator

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, lazy_import, plugin
from tasks.http.client import (
    HttpOptions,
    PreparedRequest,
    Settings,
    describe_client_error,
    describe_failure,
    open_session,
    settings_of,
)
from tasks.http.request import read_bounded
from tasks.properties import masks_failures, render_mapping, render_text

if TYPE_CHECKING:
    import aiohttp
else:  # imported when a task first uses it: the catalog stays fast
    aiohttp = lazy_import("aiohttp")

__all__ = [
    "DiscordIncomingWebhook",
    "GoogleChatIncomingWebhook",
    "IncomingWebhook",
    "SlackIncomingWebhook",
    "TeamsIncomingWebhook",
    "Webhook",
    "ZulipIncomingWebhook",
]

_READ_SECONDS = 10.0  # Kestra's readTimeout default for notification clients
_ANSWER_LIMIT = 64 * 1024  # a receiver's answer is only kept to explain a failure


class IncomingWebhook(Task):
    """POST a JSON payload to a chat tool's incoming-webhook URL."""

    text_key: ClassVar[str | None] = None  # the payload key `messageText` fills, if any

    url: str
    payload: str | dict[str, Any] | list[Any] | None = None
    options: HttpOptions | None = None

    @model_validator(mode="after")
    def _needs_content(self) -> IncomingWebhook:
        if self.payload is None and getattr(self, "messageText", None) is None:
            needed = "'payload' or 'messageText'" if self.text_key else "'payload'"
            raise ValueError(f"a webhook notification needs {needed}")
        return self

    def body(self, ctx: RunContext) -> bytes:
        """The rendered payload, checked to be JSON before anything is sent."""
        message = getattr(self, "messageText", None)
        if self.payload is None and message is not None and self.text_key:
            return orjson.dumps({self.text_key: render_text(ctx, message, "messageText")})
        text = render_text(ctx, self.payload, "payload") or ""
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise TaskFailed(
                f"the rendered payload is not valid JSON ({exc}); "
                "a value with quotes or new lines needs `| json` (or use messageText)"
            ) from None
        return text.encode()

    def request(
        self, ctx: RunContext, settings: Settings, body: bytes | None = None
    ) -> PreparedRequest:
        url = (render_text(ctx, self.url, "url") or "").strip()
        if not url.lower().startswith(("http://", "https://")):
            raise TaskFailed("property 'url' must be an http(s) URL")
        headers = {"Content-Type": "application/json", **settings.headers}
        data = body if body is not None else self.body(ctx)
        return PreparedRequest("POST", url, headers, data=data)

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        code = await self.post(ctx)
        ctx.logger.info(f"notification sent (HTTP {code})")
        return None

    async def post(self, ctx: RunContext, body: bytes | None = None) -> int:
        """POST `body` (by default the rendered payload); returns the receiver's status."""
        settings = settings_of(ctx, self.options, default_read_seconds=_READ_SECONDS)
        request = self.request(ctx, settings, body)
        # The URL of a webhook is its credential: it is never logged or put in errors.
        where = f"{type(self).__name__} webhook"
        try:
            async with (
                open_session(settings) as session,
                request.send(session, settings) as response,
            ):
                answer = await read_bounded(response, _ANSWER_LIMIT)
                code, reason = response.status, response.reason
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TaskFailed(f"{where}: {describe_client_error(exc, settings)}") from None
        if code >= 400 and not settings.allow_failed:
            text = answer.decode("utf-8", "replace")
            raise TaskFailed(describe_failure("POST", where, code, reason, text))
        return code


@plugin(
    "io.kestra.plugin.notifications.slack.SlackIncomingWebhook",
    "io.kestra.plugin.slack.notifications.SlackIncomingWebhook",  # its newer home
)
class SlackIncomingWebhook(IncomingWebhook):
    """Send a Slack message through an incoming webhook (`payload` or `messageText`)."""

    text_key: ClassVar[str | None] = "text"

    messageText: str | None = None


@plugin("io.kestra.plugin.notifications.teams.TeamsIncomingWebhook")
class TeamsIncomingWebhook(IncomingWebhook):
    """Send a Microsoft Teams message through an incoming webhook."""


@plugin("io.kestra.plugin.notifications.google.GoogleChatIncomingWebhook")
class GoogleChatIncomingWebhook(IncomingWebhook):
    """Send a Google Chat message through an incoming webhook."""


@plugin("io.kestra.plugin.notifications.discord.DiscordIncomingWebhook")
class DiscordIncomingWebhook(IncomingWebhook):
    """Send a Discord message through an incoming webhook."""


@plugin("io.kestra.plugin.notifications.zulip.ZulipIncomingWebhook")
class ZulipIncomingWebhook(IncomingWebhook):
    """Send a Zulip message through an incoming webhook."""


@plugin("io.podium.plugin.notifications.webhook.Webhook")
class Webhook(IncomingWebhook):
    """Podium's generic webhook notification: any URL, any method, JSON or not.

    `messageText` is sent as `{"text": …}`; `payload` as rendered (checked to be JSON
    only when `contentType` is JSON). Output: `code`, the receiver's status.
    """

    text_key: ClassVar[str | None] = "text"

    messageText: str | None = None
    method: str = "POST"
    contentType: str = "application/json"
    headers: dict[str, Any] | str | None = None

    def body(self, ctx: RunContext) -> bytes:
        kind = (render_text(ctx, self.contentType, "contentType") or "").lower()
        if self.payload is not None and "json" not in kind:
            return (render_text(ctx, self.payload, "payload") or "").encode()
        return super().body(ctx)

    def request(
        self, ctx: RunContext, settings: Settings, body: bytes | None = None
    ) -> PreparedRequest:
        prepared = super().request(ctx, settings, body)
        prepared.method = (render_text(ctx, self.method, "method") or "POST").strip().upper()
        prepared.headers["Content-Type"] = (
            render_text(ctx, self.contentType, "contentType") or "application/json"
        )
        prepared.headers.update(
            {str(k): str(v) for k, v in render_mapping(ctx, self.headers, "headers").items()}
        )
        return prepared

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        code = await self.post(ctx)
        ctx.logger.info(f"webhook notified (HTTP {code})")
        return {"code": code}
