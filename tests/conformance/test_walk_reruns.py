"""Kestra conformance of replay: the answer, the kept task runs, the lineage and labels."""

from __future__ import annotations

import pytest

from tests.conformance.walk_support import (
    Api,
    labels,
    module_api,
    run,
    runs_of,
    wait_for,
    wait_state,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
api = module_api

NS = "conformance.walk.reruns"

STEPS = f"""
id: steps
namespace: {NS}
tasks:
  - {{id: first, type: io.kestra.plugin.core.debug.Return, format: one}}
  - {{id: second, type: io.kestra.plugin.core.debug.Return, format: two}}
  - {{id: third, type: io.kestra.plugin.core.debug.Return, format: "{{{{ outputs.first.value }}}}"}}
"""


async def test_replay_from_a_task_run_starts_restarted_with_the_kept_runs(api: Api) -> None:
    """RestartCaseTest.replay, ExecutionService.replay and ExecutionControllerTest.replay:
    the original is labelled system.replayed; the new execution answers
    RESTARTED, holds copies (new ids) of the runs before the chosen one, has the original
    as `parentId` and the chain's first as `originalId`, is labelled system.replay and
    keeps the original's system.correlationId; it then ends SUCCESS."""
    original = await run(api, STEPS)
    assert original["state"]["current"] == "SUCCESS"
    second = runs_of(original, "second")[0]
    replay = await api.json(
        "POST", f"/api/v1/executions/{original['id']}/replay?taskRunId={second['id']}"
    )
    assert replay["id"] != original["id"]
    assert replay["state"]["current"] == "RESTARTED"
    assert [r["taskId"] for r in replay["taskRunList"]] == ["first"]
    assert replay["taskRunList"][0]["id"] != runs_of(original, "first")[0]["id"]
    assert replay["taskRunList"][0]["outputs"] == {"value": "one"}
    assert replay["parentId"] == original["id"]
    assert replay["originalId"] == original["id"]
    assert labels(replay)["system.replay"] == "true"
    assert labels(replay)["system.correlationId"] == original["id"]

    replayed = await wait_for(
        api,
        original["id"],
        lambda e: labels(e).get("system.replayed") == "true",
        what="labelled system.replayed",
    )
    assert replayed["state"]["current"] == "SUCCESS"  # only its labels changed

    done = await wait_state(api, replay["id"], "SUCCESS", "FAILED")
    assert done["state"]["current"] == "SUCCESS"
    assert done["parentId"] == original["id"]
    assert [h["state"] for h in done["state"]["histories"]][:2] == ["RESTARTED", "RUNNING"]
    assert sorted(r["taskId"] for r in done["taskRunList"]) == ["first", "second", "third"]
    copied = runs_of(done, "first")[0]
    assert copied["state"]["startDate"] == runs_of(original, "first")[0]["state"]["startDate"]
    assert runs_of(done, "third")[0]["outputs"] == {"value": "one"}

    # a replay of the replay: parentId the replay, originalId still the first execution
    again = await api.json("POST", f"/api/v1/executions/{done['id']}/replay")
    assert again["state"]["current"] == "CREATED"  # the whole execution: afresh
    assert again["taskRunList"] == []
    assert again["parentId"] == done["id"]
    assert again["originalId"] == original["id"]
    assert labels(again)["system.correlationId"] == original["id"]
    await wait_state(api, again["id"], "SUCCESS")
