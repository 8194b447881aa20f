"""Webhook conformance with Kestra 1.x (WebhookTest, docs "Webhook trigger"), via HTTP."""

from __future__ import annotations

import pytest

from tests.web.conftest import Api
from tests.web.conftest import api as api  # the fixture: a whole Podium on HTTP

pytestmark = pytest.mark.e2e

HOOKED = """
id: hooked
namespace: conformance
tasks:
  - {id: body, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.body is none }}"}
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: "{{ flow.id }}"
    wait: true
    conditions:
      - type: io.kestra.plugin.core.condition.Expression
        expression: "{{ trigger.parameters.go is defined }}"
"""


async def test_templated_key_conditions_and_empty_body(api: Api) -> None:
    """WebhookTest / docs: `key: "{{ flow.id }}"` is rendered with the flow's context;
    a call the trigger's conditions reject answers 204 and starts nothing; a GET without
    a body gives `trigger.body` null; `wait: true` answers with the ended execution."""
    await api.deploy(HOOKED)
    path = "/api/v1/executions/webhook/conformance/hooked/hooked"
    async with api.http.get(api.url(path)) as rejected:
        assert rejected.status == 204
    found = await api.json("GET", "/api/v1/executions/search?namespace=conformance")
    assert found["total"] == 0
    answer = await api.json("GET", path + "?go=1")  # wait: true answers the whole execution
    assert answer["state"]["current"] == "SUCCESS"
    assert answer == await api.json("GET", f"/api/v1/executions/{answer['id']}")
    outputs = {run["taskId"]: run["outputs"] for run in answer["taskRunList"]}
    assert outputs["body"]["value"] == "true"
