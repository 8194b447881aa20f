"""Webhook notifications, run through the whole embedded pipeline against a local
receiver: what arrives is exactly what a chat tool would get."""

from __future__ import annotations

import orjson
import pytest
from aiohttp import web

from tests.conftest import Harness
from tests.tasks.http.receiver import ok, serve

HEADER = "id: nightly\nnamespace: tests.alerts\n"


async def refuse(request: web.Request) -> web.StreamResponse:
    return web.Response(text="invalid_token", status=403)


ROUTES = {"/hook": ok(), "/refuse/{tail:.*}": refuse}


async def test_a_failed_flow_tells_the_receiver_in_its_errors_branch(harness: Harness) -> None:
    async with serve(ROUTES) as server:
        flow = (
            HEADER
            + f"""
tasks:
  - id: load
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: the source table is empty
errors:
  - id: slack
    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
    url: "{server.url("/hook")}"
    messageText: 'Flow {{{{ flow.namespace }}}}.{{{{ flow.id }}}} failed: "execution" {{{{ execution.id }}}}'
  - id: generic
    type: io.podium.plugin.notifications.webhook.Webhook
    url: "{server.url("/hook")}?source=podium"
    headers: {{X-Token: t0ken}}
    payload: |
      {{"event": "failed", "execution": "{{{{ execution.id }}}}", "flow": "{{{{ flow.id }}}}"}}
"""
        )
        outcome = await harness.run(flow)
    execution_id = outcome.execution.execution_id
    assert outcome.state == "FAILED"
    assert outcome.run("slack").state.value == "SUCCESS"
    assert outcome.run("generic").outputs == {"code": 200}
    slack, generic = server.received
    assert slack.method == "POST" and slack.headers["Content-Type"] == "application/json"
    assert orjson.loads(slack.body) == {
        "text": f'Flow tests.alerts.nightly failed: "execution" {execution_id}'
    }
    assert generic.query == {"source": "podium"} and generic.headers["X-Token"] == "t0ken"
    assert orjson.loads(generic.body) == {
        "event": "failed",
        "execution": execution_id,
        "flow": "nightly",
    }


async def test_slack_payload_arrives_as_rendered(harness: Harness) -> None:
    async with serve(ROUTES) as server:
        flow = (
            HEADER
            + f"""
inputs:
  - {{id: who, type: STRING, defaults: "ops team"}}
tasks:
  - id: notify
    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
    url: "{server.url("/hook")}"
    payload: |
      {{
        "blocks": [
          {{"type": "section",
           "text": {{"type": "mrkdwn", "text": "Hello {{{{ inputs.who }}}} from *{{{{ flow.id }}}}*"}}}}
        ]
      }}
"""
        )
        outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    [received] = server.received
    assert orjson.loads(received.body) == {
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "Hello ops team from *nightly*"}}
        ]
    }


@pytest.mark.parametrize(
    "kind",
    [
        "io.kestra.plugin.notifications.teams.TeamsIncomingWebhook",
        "io.kestra.plugin.notifications.google.GoogleChatIncomingWebhook",
        "io.kestra.plugin.notifications.discord.DiscordIncomingWebhook",
        "io.kestra.plugin.notifications.zulip.ZulipIncomingWebhook",
        "io.kestra.plugin.slack.notifications.SlackIncomingWebhook",
    ],
)
async def test_chat_webhooks_post_their_payload(harness: Harness, kind: str) -> None:
    async with serve(ROUTES) as server:
        flow = (
            HEADER
            + f"""
tasks:
  - id: notify
    type: {kind}
    url: "{server.url("/hook")}"
    payload: '{{"text": "run {{{{ execution.id }}}}"}}'
"""
        )
        outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    [received] = server.received
    assert orjson.loads(received.body) == {"text": f"run {outcome.execution.execution_id}"}


async def test_bad_payloads_and_refusals_fail_without_leaking_the_url(harness: Harness) -> None:
    async with serve(ROUTES) as server:
        flow = (
            HEADER
            + f"""
inputs:
  - {{id: note, type: STRING, defaults: 'say "hi"'}}
tasks:
  - id: broken
    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
    url: "{server.url("/hook")}"
    payload: '{{"text": "{{{{ inputs.note }}}}"}}'
    allowFailure: true
  - id: escaped
    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
    url: "{server.url("/hook")}"
    payload: '{{"text": {{{{ inputs.note | json }}}}}}'
  - id: refused
    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
    url: "{server.url("/refuse")}/T000/B000/secret-part"
    messageText: hello
"""
        )
        outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    assert "the rendered payload is not valid JSON" in (outcome.run("broken").error or "")
    assert orjson.loads(server.received[0].body) == {"text": 'say "hi"'}
    error = outcome.run("refused").error or ""
    assert "failed with HTTP 403 Forbidden: invalid_token" in error
    assert "secret-part" not in error and "127.0.0.1" not in error
    assert len(server.received) == 2  # the broken payload was never sent


def test_a_notification_needs_something_to_say() -> None:
    from engine.catalog import default_registries
    from engine.errors import FlowDefinitionError
    from engine.flow import load_flow

    source = HEADER + (
        "tasks:\n  - {id: n, type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook, "
        "url: http://x}\n"
    )
    with pytest.raises(FlowDefinitionError, match="needs 'payload' or 'messageText'"):
        load_flow(source, default_registries())
