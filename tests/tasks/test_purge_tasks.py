"""execution.Count, log.PurgeLogs and execution.PurgeExecutions end to end: flows saved
and run through the server's API, results read back through the API and from disk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from engine.storage import LocalStorage
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import Api, basic
from tests.web.test_executions_api import PAUSED, wait_state

NOISY = """
id: noisy
namespace: tests.purge.team
tasks:
  - {id: quiet, type: io.kestra.plugin.core.log.Log, message: "a debug line", level: DEBUG}
  - {id: loud, type: io.kestra.plugin.core.log.Log, message: "an info line"}
  - {id: keep, type: io.kestra.plugin.core.log.Fetch, level: DEBUG}
"""

COUNT = """
id: count
namespace: system
tasks:
  - id: count
    type: io.kestra.plugin.core.execution.Count
    flows:
      - {namespace: tests.purge.team, flowId: noisy}
      - {namespace: tests.purge.team, flowId: never_ran}
    namespaces: [tests.purge.team, tests.web]
    states: [SUCCESS]
    startDate: "{{ now() | dateAdd(-1, 'DAYS') }}"
    expression: "{{ count > 0 }}"
"""

PURGE_LOGS = """
id: purge_logs
namespace: system
tasks:
  - id: purge
    type: io.kestra.plugin.core.log.PurgeLogs
    namespace: tests.purge
    logLevels: [DEBUG]
    endDate: "{{ now() }}"
"""

PURGE = """
id: purge
namespace: system
tasks:
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: tests
    endDate: "{{ now() }}"
    batchSize: 2
"""


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """The module's one Podium (its tests read only what their own flows did)."""
    data: Path = tmp_path_factory.mktemp("purge") / "data"
    async with (
        # retention on, far from anything these tests make: the scheduler runs its job
        running_podium(data, serve_http=True, retention={"executions": "P30D"}) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Api(podium, f"http://127.0.0.1:{podium.port}", http)


def outputs(done: dict[str, Any], task_id: str) -> dict[str, Any]:
    assert done["state"]["current"] == "SUCCESS", done
    (run,) = [r for r in done["taskRunList"] if r["taskId"] == task_id]
    return run["outputs"]  # type: ignore[no-any-return]


async def test_count_purge_logs_and_purge_executions(api: Api) -> None:
    await api.deploy(NOISY)
    runs = [await api.run("tests.purge.team", "noisy") for _ in range(3)]
    storage: LocalStorage = api.podium.storage
    files = [storage.path_of(outputs(run, "keep")["uri"]) for run in runs]
    assert all(path.exists() for path in files)
    await api.deploy(PAUSED)
    paused = await api.json("POST", "/api/v1/executions/tests.web/paused", data=aiohttp.FormData())
    await wait_state(api, paused["id"], "PAUSED")

    for source in (COUNT, PURGE_LOGS, PURGE):
        await api.deploy(source)

    counted = outputs(await api.run("system", "count"), "count")
    assert counted == {
        "results": [
            {"namespace": "tests.purge.team", "flowId": "noisy", "count": 3},
            {"namespace": "tests.purge.team", "flowId": None, "count": 3},
        ],
        "total": 6,
    }

    purged_logs = outputs(await api.run("system", "purge_logs"), "purge")
    assert purged_logs == {"count": 3, "executionLogsCount": 3, "nonExecutionLogsCount": 0}
    lines = await api.json("GET", f"/api/v1/logs/{runs[0]['id']}")
    assert [line["message"] for line in lines] == ["an info line"]

    purged = outputs(await api.run("system", "purge"), "purge")
    # the three noisy runs, with their task runs, remaining log lines and files; the
    # paused execution (not ended) and the purging flows' own runs stay
    assert purged == {
        "executionsCount": 3,
        "taskOutputsCount": 9,
        "logsCount": 3,
        "storagesCount": 3,
        "metricsCount": 0,
    }
    for run in runs:
        await api.json("GET", f"/api/v1/executions/{run['id']}", 404)
        assert await api.json("GET", f"/api/v1/logs/{run['id']}", 404) is not None
    assert not any(path.exists() for path in files)
    await wait_state(api, paused["id"], "PAUSED")
    again = outputs(await api.run("system", "purge"), "purge")
    assert again["executionsCount"] == 0


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (PURGE.replace("batchSize: 2", "states: [RUNNING]"), "have not ended"),
        (PURGE.replace("endDate", "endDat"), "endDat"),
        (COUNT.replace("    flows:", "    flowz:"), "flowz"),
        (
            "id: c\nnamespace: system\ntasks:\n  - {id: c, type: "
            "io.kestra.plugin.core.execution.Count, startDate: x, expression: y}",
            "needs 'flows' or 'namespaces'",
        ),
        (PURGE_LOGS.replace("[DEBUG]", "[LOUD]"), "logLevels"),
    ],
)
async def test_bad_properties_are_refused_when_the_flow_is_saved(
    api: Api, source: str, problem: str
) -> None:
    async with api.http.post(
        api.url("/api/v1/flows"), data=source, headers={"Content-Type": "application/x-yaml"}
    ) as got:
        text = await got.text()
        assert got.status == 422, text
        assert problem in text


async def test_a_date_that_is_not_one_fails_the_task_with_its_name(api: Api) -> None:
    await api.deploy(PURGE.replace('"{{ now() }}"', '"{{ \\"last tuesday\\" }}"'))
    done = await api.run("system", "purge")
    assert done["state"]["current"] == "FAILED"
    messages = [line["message"] for line in await api.json("GET", f"/api/v1/logs/{done['id']}")]
    assert any("property 'endDate' must be an ISO-8601 date" in m for m in messages), messages


async def test_the_scheduler_runs_the_retention_job(api: Api) -> None:
    await api.podium.retention.first_round.wait()
    health = await api.json("GET", "/health")
    assert health["scheduler"]["retention"]["rounds"] >= 1
    assert health["scheduler"]["retention"]["error"] is None
