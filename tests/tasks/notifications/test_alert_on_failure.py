"""The course's "alert me when it fails" pattern, end to end: a flow in another namespace,
started by a Flow trigger on FAILED executions of a namespace and its children, sends the
failed execution's summary by e-mail (a real SMTP server) and to Slack (a recording HTTP
server), with links to the UI on the server's public URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from engine.clock import FakeClock
from tests.conftest import Harness, running_podium
from tests.support.smtp import smtp_server
from tests.tasks.http.receiver import ok, serve

PUBLIC_URL = "https://podium.example.com"

FAILING = """
id: etl
namespace: tests.prod.sales
tasks:
  - id: extract
    type: io.kestra.plugin.core.log.Log
    message: extracting
  - id: load
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: the warehouse is down
"""

SUCCEEDING = """
id: fine
namespace: tests.prod
tasks:
  - {id: work, type: io.kestra.plugin.core.log.Log, message: ok}
"""

ALERT = """
id: failure_alert
namespace: tests.monitoring
tasks:
  - id: mail
    type: io.kestra.plugin.email.MailExecution
    host: 127.0.0.1
    port: {smtp_port}
    transportStrategy: SMTP
    from: podium@example.com
    to: oncall@example.com
    subject: "{{{{ trigger.namespace }}}}.{{{{ trigger.flowId }}}} {{{{ trigger.state }}}}"
    executionId: "{{{{ trigger.executionId }}}}"
  - id: slack
    type: io.kestra.plugin.notifications.slack.SlackExecution
    url: "{slack_url}"
    executionId: "{{{{ trigger.executionId }}}}"
triggers:
  - id: failed_prod_workflows
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [FAILED, WARNING]
      - type: io.kestra.plugin.core.condition.ExecutionNamespace
        namespace: tests.prod
{namespace_match}
"""


@pytest.mark.parametrize(
    "namespace_match",
    [
        pytest.param("        prefix: true", id="prefix"),
        pytest.param("        comparison: PREFIX", id="comparison"),
    ],
)
async def test_a_failed_execution_is_mailed_and_posted_to_slack(
    tmp_path: Path, namespace_match: str
) -> None:
    with smtp_server(tmp_path) as smtp:
        async with (
            serve({"/slack": ok()}) as slack,
            running_podium(tmp_path / "data", clock=FakeClock(), url=PUBLIC_URL) as podium,
        ):
            harness = Harness(podium, FakeClock())
            await harness.deploy(
                ALERT.format(
                    smtp_port=smtp.port,
                    slack_url=slack.url("/slack"),
                    namespace_match=namespace_match,
                )
            )
            await podium.triggers.reconcile()  # watched now, not at the next refresh
            assert (await harness.run(SUCCEEDING)).state == "SUCCESS"
            failed = await harness.run(FAILING)
            assert failed.state == "FAILED"
            alert = await _only_run(harness, "failure_alert")
            assert alert.state == "SUCCESS", alert.task_runs
    execution_id = failed.execution.execution_id
    link = f"{PUBLIC_URL}/ui/executions/{execution_id}"
    [mail] = smtp.take()
    assert mail.recipients == ["oncall@example.com"]
    message = mail.message
    assert message["Subject"] == "tests.prod.sales.etl FAILED"
    html = str(message.get_body(("html",)).get_content())  # type: ignore[union-attr]
    assert "[tests.prod.sales] etl ➛ " in html and ">FAILED</span>" in html
    assert "Failed on task <code>load</code> after" in html
    assert f'href="{link}"' in html
    [posted] = slack.received  # the succeeding flow alerted nobody
    payload = orjson.loads(posted.body)
    assert payload["text"].startswith(f"*<{link}|[tests.prod.sales] etl ➛ FAILED>*\n> Failed on")
    assert payload["attachments"][0]["color"] == "danger"


async def _only_run(harness: Harness, flow_id: str):  # type: ignore[no-untyped-def]
    store = harness.podium.store
    for _ in range(1000):
        await harness.podium.projector.caught_up()
        found = await store.list_executions(flow_id=flow_id)
        if found and all(e.state.is_terminal for e in found):
            [execution] = found
            return await harness.outcome(execution.execution_id)
        await asyncio.sleep(0.01)
    raise AssertionError(f"{flow_id} never ran to its end")
