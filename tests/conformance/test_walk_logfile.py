"""Kestra conformance of `logToFile: true`: the attempt's lines in an internal-storage file
named by the attempt's `logFile`, and in the log API as well."""

from __future__ import annotations

import pytest

from tests.conformance.walk_support import Api, module_api, run, runs_of

pytestmark = pytest.mark.asyncio(loop_scope="module")
api = module_api

NS = "conformance.walk.logs"

LOG_TO_FILE = f"""
id: log-to-file
namespace: {NS}
tasks:
  - id: noisy
    type: io.kestra.plugin.core.log.Log
    logToFile: true
    message:
      - first line
      - second line
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    logToFile: true
    condition: "{{{{ taskrun.attemptsCount == 0 }}}}"
    retry: {{type: constant, interval: PT0.01S, maxAttempts: 2}}
  - {{id: plain, type: io.kestra.plugin.core.log.Log, message: not to a file}}
"""


async def test_log_to_file_keeps_a_file_per_attempt_and_the_log_api(api: Api) -> None:
    """Kestra's task property `logToFile` (docs: "the task logs are stored in internal
    storage"; TaskRunAttempt.logFile): each attempt of such a task names its file, the
    file holds its lines, other tasks have none; GET /logs still lists every line."""
    execution = await run(api, LOG_TO_FILE)
    assert execution["state"]["current"] == "SUCCESS"
    (noisy,) = runs_of(execution, "noisy")
    (attempt,) = noisy["attempts"]
    uri = attempt["logFile"]
    assert uri.startswith("kestra:///") and execution["id"] in uri
    async with api.http.get(
        api.url(f"/api/v1/executions/{execution['id']}/file"), params={"path": uri}
    ) as got:
        assert got.status == 200
        text = await got.text()
    assert "INFO first line" in text and "INFO second line" in text

    (flaky,) = runs_of(execution, "flaky")
    files = [a.get("logFile") for a in flaky["attempts"]]
    assert len(files) == 2 and None not in files and files[0] != files[1]
    async with api.http.get(
        api.url(f"/api/v1/executions/{execution['id']}/file"), params={"path": files[0]}
    ) as got:
        assert "ERROR" in await got.text()  # the first attempt's failure, in its own file

    (plain,) = runs_of(execution, "plain")
    assert "logFile" not in plain["attempts"][0]
    logs = await api.json("GET", f"/api/v1/logs/{execution['id']}")
    messages = [line["message"] for line in logs]
    assert "first line" in messages and "second line" in messages
    assert "not to a file" in messages
