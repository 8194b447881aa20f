"""Task family `notifications`: tell people what a flow did, through chat webhooks.

`webhooks.py` has Kestra's incoming-webhook notifications (Slack, Teams, Google Chat,
Discord, Zulip: a URL and a rendered JSON payload) and Podium's generic webhook;
`summary.py` gathers what Kestra's `…Execution` notifications say about an execution and
`executions.py` lays it out for Slack, Teams, Google Chat and Discord. They post with the HTTP family's session (`tasks.http.client`), so timeouts,
proxies and `options` behave as in `http.Request`.
"""

from tasks.notifications.executions import (
    DiscordExecution,
    GoogleChatExecution,
    SlackExecution,
    TeamsExecution,
)
from tasks.notifications.webhooks import (
    DiscordIncomingWebhook,
    GoogleChatIncomingWebhook,
    SlackIncomingWebhook,
    TeamsIncomingWebhook,
    Webhook,
    ZulipIncomingWebhook,
)

__all__ = ["TASKS", "SlackIncomingWebhook", "Webhook"]

TASKS: tuple[type, ...] = (
    DiscordExecution,
    GoogleChatExecution,
    SlackExecution,
    TeamsExecution,
    DiscordIncomingWebhook,
    GoogleChatIncomingWebhook,
    SlackIncomingWebhook,
    TeamsIncomingWebhook,
    Webhook,
    ZulipIncomingWebhook,
)
