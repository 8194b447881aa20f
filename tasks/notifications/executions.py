"""Kestra's `…Execution` chat notifications: an execution's summary, laid out per service.

Put one in a flow started by a Flow trigger on failures (`executionId:
"{{ trigger.executionId }}"`), or anywhere to report on the running execution. The facts
(`summary.py`) are the same for every service; each class lays them out as Kestra's
template for that service does:

- Slack: `text` and a `blocks` section with a Details button to the UI, an attachment
  coloured by state with Namespace / Job / Execution / Status (+ customFields) and `ts`;
  `channel`, `username`, `iconUrl`, `iconEmoji` as Slack's own keys.
- Teams: a MessageCard with the same facts; `themeColor`, `activityTitle`,
  `activitySubtitle`.
- Google Chat: one `text` line.
- Discord: an embed with the facts and the outcome as its footer; `username`,
  `avatarUrl`, `content`.

The payload is built as data and serialised once, so no value (a task id, a custom
message) can break the JSON. The webhook URL is a credential: never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import model_validator

from engine.plugin import RunContext, plugin
from tasks.notifications.summary import ExecutionFacts, ExecutionNotice, epoch_seconds, gather_facts
from tasks.notifications.webhooks import IncomingWebhook
from tasks.properties import masks_failures, render_text

__all__ = ["DiscordExecution", "GoogleChatExecution", "SlackExecution", "TeamsExecution"]


class ExecutionWebhook(IncomingWebhook, ExecutionNotice):
    """POST an execution's summary to a chat webhook."""

    @model_validator(mode="after")
    def _needs_content(self) -> ExecutionWebhook:
        if self.payload is not None:  # it would be ignored: say so at load
            raise ValueError(
                "the summary is the payload of an …Execution notification: use "
                "customMessage/customFields, or an …IncomingWebhook for a payload of your own"
            )
        return self

    def layout(self, ctx: RunContext, facts: ExecutionFacts) -> dict[str, Any]:
        raise NotImplementedError

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        facts = await gather_facts(ctx, self)
        payload = self.layout(ctx, facts)
        code = await self.post(ctx, orjson.dumps(payload))
        ctx.logger.info(
            f"summary of execution {facts.execution.id} ({facts.execution.state}) sent (HTTP {code})"
        )
        return None


def _optional(ctx: RunContext, payload: dict[str, Any], key: str, value: str | None) -> None:
    rendered = render_text(ctx, value, key) if value is not None else None
    if rendered is not None:
        payload[key] = rendered


def _facts_list(facts: ExecutionFacts) -> list[tuple[str, Any]]:
    e = facts.execution
    return [
        ("Namespace", e.namespace),
        ("Job", e.flow_id),
        ("Execution", e.id),
        ("Status", e.state),
        *facts.custom_fields.items(),
    ]


@plugin(
    "io.kestra.plugin.notifications.slack.SlackExecution",
    "io.kestra.plugin.slack.notifications.SlackExecution",
)
class SlackExecution(ExecutionWebhook):
    """Send an execution's summary to Slack through an incoming webhook."""

    channel: str | None = None
    username: str | None = None
    iconUrl: str | None = None
    iconEmoji: str | None = None

    def layout(self, ctx: RunContext, facts: ExecutionFacts) -> dict[str, Any]:
        state = facts.execution.state
        title = f"*<{facts.link}|{facts.headline}>*\n> {facts.outcome}"
        blocks: list[dict[str, Any]] = []
        if facts.custom_message is not None:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": facts.custom_message}}
            )
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": title},
                "accessory": {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Details"},
                    "url": facts.link,
                },
            }
        )
        color = "good" if state == "SUCCESS" else "warning" if state == "WARNING" else "danger"
        payload: dict[str, Any] = {
            "text": title,
            "blocks": blocks,
            "attachments": [
                {
                    "color": color,
                    "fields": [
                        {"title": name, "value": value, "short": True}
                        for name, value in _facts_list(facts)
                    ],
                    "ts": epoch_seconds(facts.started_at),
                }
            ],
        }
        _optional(ctx, payload, "channel", self.channel)
        _optional(ctx, payload, "username", self.username)
        if self.iconUrl is not None:
            payload["icon_url"] = render_text(ctx, self.iconUrl, "iconUrl")
        if self.iconEmoji is not None:
            payload["icon_emoji"] = render_text(ctx, self.iconEmoji, "iconEmoji")
        return payload


@plugin("io.kestra.plugin.notifications.teams.TeamsExecution")
class TeamsExecution(ExecutionWebhook):
    """Send an execution's summary to Microsoft Teams as a MessageCard."""

    themeColor: str = "0076D7"
    activityTitle: str | None = None
    activitySubtitle: str | None = None

    def layout(self, ctx: RunContext, facts: ExecutionFacts) -> dict[str, Any]:
        section: dict[str, Any] = {}
        _optional(ctx, section, "activityTitle", self.activityTitle)
        _optional(ctx, section, "activitySubtitle", self.activitySubtitle)
        section["facts"] = [
            {"name": name, "value": _as_text(value)} for name, value in _facts_list(facts)
        ]
        section["markdown"] = True
        return {
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "themeColor": render_text(ctx, self.themeColor, "themeColor"),
            "summary": f"*<{facts.link}|{facts.headline}>*\n> {facts.outcome}",
            "sections": [section],
        }


@plugin("io.kestra.plugin.notifications.google.GoogleChatExecution")
class GoogleChatExecution(ExecutionWebhook):
    """Send an execution's summary to Google Chat."""

    def layout(self, ctx: RunContext, facts: ExecutionFacts) -> dict[str, Any]:
        e = facts.execution
        text = (
            f"Podium notification: Namespace {e.namespace}, Flow ID {e.flow_id}, "
            f"Execution ID {e.id}, Execution Status {e.state}. "
            f"*<{facts.link}|{facts.headline}>*\n> {facts.outcome}"
        )
        if facts.custom_message is not None:
            text = f"{facts.custom_message}\n{text}"
        return {"text": text}


@plugin("io.kestra.plugin.notifications.discord.DiscordExecution")
class DiscordExecution(ExecutionWebhook):
    """Send an execution's summary to Discord as an embed."""

    username: str | None = None
    avatarUrl: str | None = None
    content: str | None = None

    def layout(self, ctx: RunContext, facts: ExecutionFacts) -> dict[str, Any]:
        lines = [
            f"{label}: {_as_text(value)}"
            for label, value in (
                ("Namespace", facts.execution.namespace),
                ("Flow ID", facts.execution.flow_id),
                ("Execution ID", facts.execution.id),
                ("Execution Status", facts.execution.state),
                *facts.custom_fields.items(),
            )
        ]
        if facts.custom_message is not None:
            lines.insert(0, facts.custom_message)
        payload: dict[str, Any] = {
            "tts": False,
            "embeds": [
                {
                    "title": facts.headline,
                    "url": facts.link,
                    "description": "\n".join(lines),
                    "footer": {"text": facts.outcome},
                }
            ],
        }
        _optional(ctx, payload, "username", self.username)
        if self.avatarUrl is not None:
            payload["avatar_url"] = render_text(ctx, self.avatarUrl, "avatarUrl")
        _optional(ctx, payload, "content", self.content)
        return payload


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()
