"""The `…Execution` chat notifications: an execution's summary in each service's layout,
posted to a local receiver that records the payload."""

from __future__ import annotations

import orjson
import pytest

from tasks.notifications.summary import human_duration
from tests.conftest import Harness
from tests.tasks.http.receiver import ok, serve

ROUTES = {"/{service}": ok()}


async def test_each_service_gets_the_summary_of_the_failed_execution(harness: Harness) -> None:
    async with serve(ROUTES) as server:
        flow = f"""
id: nightly
namespace: tests.alerts
tasks:
  - id: extract
    type: io.kestra.plugin.core.log.Log
    message: extracting
  - id: load
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: the source table is empty
errors:
  - id: slack
    type: io.kestra.plugin.notifications.slack.SlackExecution
    url: "{server.url("/slack")}"
    channel: "#ops"
    username: Podium
    iconEmoji: ":warning:"
    customMessage: 'Nightly load "broke"'
    customFields: {{Env: prod}}
  - id: teams
    type: io.kestra.plugin.notifications.teams.TeamsExecution
    url: "{server.url("/teams")}"
    activityTitle: "{{{{ flow.id }}}} alert"
  - id: google
    type: io.kestra.plugin.notifications.google.GoogleChatExecution
    url: "{server.url("/google")}"
  - id: discord
    type: io.kestra.plugin.notifications.discord.DiscordExecution
    url: "{server.url("/discord")}"
    username: Podium
    content: look
"""
        outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    for task in ("slack", "teams", "google", "discord"):
        assert outcome.run(task).state.value == "SUCCESS", outcome.run(task).error
    execution_id = outcome.execution.execution_id
    posted = {r.path: orjson.loads(r.body) for r in server.received}
    link = f"/ui/executions/{execution_id}"

    slack = posted["/slack"]
    headline, outcome_line = slack["text"].split("\n")
    assert (
        headline.startswith("*<http") and f"{link}|[tests.alerts] nightly ➛ RUNNING>*" in headline
    )
    assert outcome_line.startswith("> Failed on task `load` after ")
    assert slack["blocks"][0]["text"]["text"] == 'Nightly load "broke"'
    assert slack["blocks"][1]["accessory"]["url"].endswith(link)
    [attachment] = slack["attachments"]
    assert attachment["color"] == "danger"
    assert [(f["title"], f["value"]) for f in attachment["fields"]] == [
        ("Namespace", "tests.alerts"),
        ("Job", "nightly"),
        ("Execution", execution_id),
        ("Status", "RUNNING"),  # the errors branch runs before the execution ends
        ("Env", "prod"),
    ]
    assert isinstance(attachment["ts"], int)
    assert (slack["channel"], slack["username"], slack["icon_emoji"]) == (
        "#ops",
        "Podium",
        ":warning:",
    )

    teams = posted["/teams"]
    assert teams["@type"] == "MessageCard" and teams["summary"] == slack["text"]
    [section] = teams["sections"]
    assert section["activityTitle"] == "nightly alert"
    assert {f["name"]: f["value"] for f in section["facts"]}["Execution"] == execution_id

    google = posted["/google"]["text"]
    assert f"Execution ID {execution_id}" in google and "Failed on task `load`" in google

    discord = posted["/discord"]
    assert (discord["username"], discord["content"], discord["tts"]) == ("Podium", "look", False)
    [embed] = discord["embeds"]
    assert embed["url"].endswith(link)
    assert f"Execution ID: {execution_id}" in embed["description"]
    assert embed["footer"]["text"].startswith("Failed on task `load` after ")


async def test_an_unknown_execution_fails_the_task(harness: Harness) -> None:
    async with serve(ROUTES) as server:
        flow = f"""
id: lookup
namespace: tests.alerts
tasks:
  - id: slack
    type: io.kestra.plugin.notifications.slack.SlackExecution
    url: "{server.url("/slack")}"
    executionId: no-such-execution
"""
        outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    assert "execution 'no-such-execution' not found" in (outcome.run("slack").error or "")
    assert server.received == []


async def test_another_namespaces_execution_is_not_readable(harness: Harness) -> None:
    other = await harness.run(
        "id: secret_job\nnamespace: finance\ntasks:\n"
        "  - {id: pay, type: io.kestra.plugin.core.log.Log, message: paid}\n"
    )
    async with serve(ROUTES) as server:
        flow = f"""
id: snoop
namespace: tests.alerts
tasks:
  - id: slack
    type: io.kestra.plugin.notifications.slack.SlackExecution
    url: "{server.url("/slack")}"
    executionId: {other.execution.execution_id}
"""
        outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    assert "not found" in (outcome.run("slack").error or "")
    assert server.received == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.123, "0.123s"),
        (2.5, "2.5s"),
        (65, "1m 5s"),
        (3600, "1h"),
        (3723.4, "1h 2m 3.4s"),
    ],
)
def test_durations_read_as_kestra_writes_them(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_the_public_url_comes_from_settings_or_the_listening_address() -> None:
    from engine.errors import ConfigError
    from engine.settings import load_settings

    environ = {"PODIUM_URL": "https://podium.example.com/"}
    assert load_settings(environ=environ).public_url == "https://podium.example.com"
    assert load_settings(environ={"PODIUM_PORT": "9000"}).public_url == "http://127.0.0.1:9000"
    with pytest.raises(ConfigError, match="url"):
        load_settings(environ={"PODIUM_URL": "javascript:alert(1)"})


@pytest.mark.parametrize(
    ("task", "extra"),
    [
        ("io.kestra.plugin.notifications.slack.SlackExecution", "payload: '{}'"),
        ("io.kestra.plugin.email.MailExecution", "htmlTextContent: hi"),
    ],
)
def test_a_body_of_ones_own_is_refused_at_load_not_ignored(task: str, extra: str) -> None:
    from engine.catalog import default_registries
    from engine.errors import FlowDefinitionError
    from engine.flow import load_flow

    source = f"""
id: f
namespace: t
tasks:
  - id: notify
    type: {task}
    url: http://127.0.0.1/hook
    {extra}
"""
    if "email" in task:
        source = source.replace("url: http://127.0.0.1/hook", "to: a@example.com")
    with pytest.raises(FlowDefinitionError, match="the summary is the"):
        load_flow(source, default_registries(), source="f.yaml")
