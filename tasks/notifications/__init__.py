"""Task family `notifications`: tell people what a flow did, through chat webhooks.

Everything is in `webhooks.py`: Kestra's incoming-webhook notifications (Slack, Teams,
Google Chat, Discord, Zulip: a URL and a rendered JSON payload) and Podium's generic
webhook. They post with the HTTP family's session (`tasks.http.client`), so timeouts,
proxies and `options` behave as in `http.Request`.
"""

from tasks.notifications.webhooks import (
    DiscordIncomingWebhook,
    GoogleChatIncomingWebhook,
    SlackIncomingWebhook,
    TeamsIncomingWebhook,
    Webhook,
    ZulipIncomingWebhook,
)

__all__ = ["NOTIFICATIONS_TASKS", "SlackIncomingWebhook", "Webhook"]

NOTIFICATIONS_TASKS: tuple[type, ...] = (
    DiscordIncomingWebhook,
    GoogleChatIncomingWebhook,
    SlackIncomingWebhook,
    TeamsIncomingWebhook,
    Webhook,
    ZulipIncomingWebhook,
)
