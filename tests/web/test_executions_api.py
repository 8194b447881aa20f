"""Executions over HTTP: create (form, files, JSON, labels, wait), read with attempts and
histories, search, kill, resume, follow, and an execution's files."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.web.conftest import HELLO, Api

UPLOAD = """
id: upload
namespace: tests.web
inputs:
  - {id: data, type: FILE}
  - {id: count, type: INT}
tasks:
  - {id: show, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.count }}"}
"""

RETRIED = """
id: retried
namespace: tests.web
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: no luck
    retry: {type: constant, interval: PT0.01S, maxAttempts: 2}
"""

SLOW = """
id: slow
namespace: tests.web
tasks:
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT30S}
"""

PAUSED = """
id: paused
namespace: tests.web
tasks:
  - {id: wait, type: io.kestra.plugin.core.flow.Pause}
  - {id: after, type: io.kestra.plugin.core.log.Log, message: resumed}
"""


async def wait_state(
    api: Api, execution_id: str, *states: str, timeout: float = 20
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with api.http.get(api.url(f"/api/v1/executions/{execution_id}")) as got:
            if got.status == 200:
                found = await got.json()
                if found["state"]["current"] in states:
                    return found  # type: ignore[no-any-return]
        assert asyncio.get_running_loop().time() < deadline, f"{execution_id} not in {states}"
        await asyncio.sleep(0.05)


async def test_create_with_form_fields_a_file_labels_and_wait(api: Api) -> None:
    await api.deploy(UPLOAD)
    form = aiohttp.FormData()
    form.add_field("count", "3")
    form.add_field(
        "data", b"id,name\n1,ann\n2,bob\n", filename="people.csv", content_type="text/csv"
    )
    done = await api.json(
        "POST",
        "/api/v1/executions/tests.web/upload?wait=true&labels=team:data&labels=env:ci",
        data=form,
    )
    assert done["state"]["current"] == "SUCCESS"
    assert {"key": "team", "value": "data"} in done["labels"]
    assert done["inputs"]["count"] == 3
    uri = done["inputs"]["data"]
    assert uri.startswith("kestra:///tests/web/upload/executions/") and uri.endswith("people.csv")
    [show] = done["taskRunList"]
    assert show["outputs"] == {"value": "3"} and show["taskId"] == "show"
    assert [h["state"] for h in done["state"]["histories"]] == ["CREATED", "RUNNING", "SUCCESS"]
    assert done["state"]["endDate"] and done["state"]["duration"] >= 0

    async with api.http.get(
        api.url(f"/api/v1/executions/{done['id']}/file"), params={"path": uri}
    ) as got:
        assert got.status == 200 and await got.read() == b"id,name\n1,ann\n2,bob\n"
        assert "attachment" in got.headers["Content-Disposition"]
    preview = await api.json(
        "GET", f"/api/v1/executions/{done['id']}/file/preview", params={"path": uri}
    )
    assert preview == {
        "type": "csv",
        "rows": [["id", "name"], ["1", "ann"], ["2", "bob"]],
        "truncated": False,
    }


async def test_files_never_leave_their_execution_folder(api: Api) -> None:
    await api.deploy(UPLOAD)
    first, second = [
        await api.json(
            "POST", "/api/v1/executions/tests.web/upload?wait=true",
            data=_upload_form(name),
        )
        for name in ("a.txt", "b.txt")
    ]  # fmt: skip
    own = first["inputs"]["data"]
    other = second["inputs"]["data"]
    url = f"/api/v1/executions/{first['id']}/file"
    async with api.http.get(api.url(url), params={"path": own}) as got:
        assert got.status == 200 and await got.read() == b"hello a.txt"
    for path, status in [
        (other, 400),  # another execution's file
        ("kestra:///../../etc/passwd", 400),
        ("kestra:////etc/passwd", 400),
        (
            "kestra:///tests/web/upload/executions/"
            + first["id"]
            + "/../"
            + second["id"]
            + "/inputs/data/b.txt",
            400,
        ),
        ("kestra:///tests%2Fweb/upload", 400),
        ("kestra:///tests/web/upload/executions/" + first["id"] + "/inputs/data/..%2F..%2Fx", 400),
        ("kestra:///tests\\web", 400),
        ("kestra:///tests/web/upload/executions/" + first["id"] + "/x%00", 400),
        ("file:///etc/passwd", 400),
        ("/etc/passwd", 400),
        ("kestra:///tests/web/upload/executions/" + first["id"] + "/inputs/data/missing.txt", 404),
        ("kestra:///tests/web/upload/executions/" + first["id"] + "/inputs", 404),  # a folder
    ]:
        async with api.http.get(api.url(url), params={"path": path}) as got:
            assert got.status == status, (path, got.status, await got.text())
        async with api.http.get(api.url(url + "/preview"), params={"path": path}) as got:
            assert got.status == status, (path, got.status)
    await api.json("GET", url, 400)  # no path
    await api.json("GET", "/api/v1/executions/nope/file", 404, params={"path": own})
    preview = await api.json("GET", url + "/preview", params={"path": own})
    assert preview == {"type": "text", "content": "hello a.txt", "truncated": False}


def _upload_form(name: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("count", "1")
    form.add_field("data", f"hello {name}".encode(), filename=name)
    return form


async def test_json_inputs_and_refusals(api: Api) -> None:
    await api.deploy(HELLO)
    done = await api.json(
        "POST", "/api/v1/executions/tests.web/hello?wait=true", json={"name": "jo"}
    )
    assert done["taskRunList"][1]["outputs"] == {"value": "jo"}
    started = await api.json("POST", "/api/v1/executions/tests.web/hello")  # no body: defaults
    assert started["state"]["current"] == "CREATED" and started["taskRunList"] == []
    await api.json("POST", "/api/v1/executions/tests.web/nothing", 404)
    await api.json("POST", "/api/v1/executions/tests.web/hello?labels=novalue", 400)
    await api.json("POST", "/api/v1/executions/tests.web/hello?labels=:v", 400)
    await api.json("POST", "/api/v1/executions/tests.web/hello?wait=maybe", 400)
    await api.json("POST", "/api/v1/executions/tests.web/hello", 400, json=["a"])
    await api.json(
        "POST", "/api/v1/executions/tests.web/hello", 400, data="{x",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    await api.json(
        "POST",
        "/api/v1/executions/tests.web/hello",
        415,
        data="x",
        headers={"Content-Type": "text/csv"},
    )
    await api.deploy(UPLOAD)
    refused = await api.json(
        "POST", "/api/v1/executions/tests.web/upload", 422, data={"count": "x"}
    )
    assert set(refused["inputs"]) >= {"count"}
    form = aiohttp.FormData()
    form.add_field("count", "1")
    form.add_field("count_file", b"x", filename="x.txt")
    await api.json("POST", "/api/v1/executions/tests.web/upload", 422, data=form)
    async with api.http.post(
        api.url("/api/v1/executions/tests.web/upload"),
        data=_big_form(),
    ) as got:
        assert got.status == 413 and "message" in await got.json()


def _big_form() -> aiohttp.FormData:
    import io

    form = aiohttp.FormData()
    form.add_field("count", "1")
    form.add_field("data", io.BytesIO(b"x" * (11 << 20)), filename="big.bin")
    return form


async def test_attempts_and_histories_of_a_retried_task(api: Api) -> None:
    await api.deploy(RETRIED)
    done = await api.run("tests.web", "retried")
    assert done["state"]["current"] == "FAILED"
    [boom] = done["taskRunList"]
    assert [a["attempt"] for a in boom["attempts"]] == [1, 2]
    assert [a["state"]["current"] for a in boom["attempts"]] == ["FAILED", "FAILED"]
    assert all(a["state"]["endDate"] for a in boom["attempts"])
    assert boom["state"]["current"] == "FAILED" and boom["error"]
    assert "FAILED" in [h["state"] for h in boom["state"]["histories"]]


async def test_search_filters_pages_and_refuses_bad_parameters(api: Api) -> None:
    await api.deploy(HELLO)
    await api.deploy(RETRIED)
    ok = [await api.run("tests.web", "hello", name=f"n{i}") for i in range(3)]
    failed = await api.run("tests.web", "retried")
    page = await api.json(
        "GET", "/api/v1/executions/search?namespace=tests&size=2&sort=startDate:asc"
    )
    assert page["total"] == 4 and [e["id"] for e in page["results"]] == [ok[0]["id"], ok[1]["id"]]
    assert "taskRunList" not in page["results"][0]
    found = await api.json("GET", "/api/v1/executions/search?state=FAILED")
    assert [e["id"] for e in found["results"]] == [failed["id"]]
    found = await api.json("GET", "/api/v1/executions/search?state=FAILED,SUCCESS&flowId=hello")
    assert found["total"] == 3
    found = await api.json("GET", "/api/v1/executions/search?labels=team:web")
    assert found["total"] == 3
    found = await api.json("GET", f"/api/v1/executions/search?q={failed['id'][:10]}")
    assert [e["id"] for e in found["results"]] == [failed["id"]]
    start = ok[0]["state"]["endDate"]  # after ok[0] was created, before ok[1] was
    found = await api.json(
        "GET", "/api/v1/executions/search", params={"startDate": start, "flowId": "hello"}
    )
    assert {e["id"] for e in found["results"]} == {ok[1]["id"], ok[2]["id"]}
    found = await api.json("GET", "/api/v1/main/executions/search?endDate=2000-01-01T00:00:00Z")
    assert found == {"results": [], "total": 0}
    for bad in (
        "state=DONE", "page=0", "size=-1", "size=abc", "startDate=yesterday",
        "endDate=2026-13-01", "sort=data:desc", "sort=startDate:up", "labels=x",
        "startDate=2026-02-01T00:00:00Z&endDate=2026-01-01T00:00:00Z",
    ):  # fmt: skip
        answer = await api.json("GET", f"/api/v1/executions/search?{bad}", 400)
        assert answer["message"], bad


async def test_kill_resume_and_their_conflicts(api: Api) -> None:
    await api.deploy(SLOW)
    await api.deploy(PAUSED)
    slow = await api.json("POST", "/api/v1/executions/tests.web/slow")
    await wait_state(api, slow["id"], "RUNNING")
    await api.json("POST", f"/api/v1/executions/{slow['id']}/resume", 409)
    await api.json("DELETE", f"/api/v1/executions/{slow['id']}/kill", 202)
    await wait_state(api, slow["id"], "KILLED")
    await api.json("DELETE", f"/api/v1/executions/{slow['id']}/kill", 409)
    await api.json("DELETE", "/api/v1/executions/unknown/kill", 404)
    paused = await api.json("POST", "/api/v1/executions/tests.web/paused")
    await wait_state(api, paused["id"], "PAUSED")
    await api.json("POST", f"/api/v1/executions/{paused['id']}/resume", 204)
    done = await wait_state(api, paused["id"], "SUCCESS")
    assert [r["taskId"] for r in done["taskRunList"]] == ["wait", "after"]
    await api.json("GET", "/api/v1/executions/unknown", 404)


async def test_restart_replay_and_labels(api: Api) -> None:
    await api.deploy(RETRIED)
    await api.deploy(HELLO)
    failed = await api.run("tests.web", "retried")
    url = f"/api/v1/executions/{failed['id']}"
    restarted = await api.json("POST", f"{url}/restart")
    assert restarted["id"] == failed["id"]

    async def history(execution_id: str) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            found = await api.json("GET", f"/api/v1/executions/{execution_id}")
            states = [h["state"] for h in found["state"]["histories"]]
            if "RESTARTED" in states and found["state"]["current"] == "FAILED":
                return found  # type: ignore[no-any-return]
            assert asyncio.get_running_loop().time() < deadline, states
            await asyncio.sleep(0.05)

    again = await history(failed["id"])
    assert len(again["taskRunList"][0]["attempts"]) > 2  # the failed task ran again

    replayed = await api.json("POST", f"{url}/replay")
    assert replayed["id"] != failed["id"] and replayed["originalId"] == failed["id"]
    assert replayed["state"]["current"] == "CREATED"
    ended = await wait_state(api, replayed["id"], "FAILED")
    assert ended["flowId"] == "retried"
    task_run = failed["taskRunList"][0]["id"]
    from_task = await api.json("POST", f"{url}/replay?taskRunId={task_run}")
    await wait_state(api, from_task["id"], "FAILED")

    labelled = await api.json("POST", f"{url}/labels", json=[{"key": "k", "value": "v"}])
    assert labelled["labels"] == [{"key": "k", "value": "v"}]

    async def labels_stored() -> bool:
        found = await api.json("GET", "/api/v1/executions/search?labels=k:v&flowId=retried")
        return found["total"] == 1  # type: ignore[no-any-return]

    deadline = asyncio.get_running_loop().time() + 20
    while not await labels_stored():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)

    done = await api.run("tests.web", "hello")
    await api.json("POST", f"/api/v1/executions/{done['id']}/restart", 409)  # it succeeded
    await api.json("POST", f"{url}/labels", 400, json={"k": "v"})
    await api.json("POST", f"{url}/labels", 400, json=[{"key": "", "value": "v"}])
    await api.json("POST", f"{url}/labels", 400, json=[{"key": "k", "value": 1}])
    await api.json("POST", f"{url}/replay?taskRunId=nope", 404)
    await api.json("POST", "/api/v1/executions/unknown/restart", 404)
    await api.json("POST", "/api/v1/executions/unknown/replay", 404)
    await api.json("POST", "/api/v1/executions/unknown/labels", 404, json=[])


async def test_follow_streams_the_execution_until_it_ends(api: Api) -> None:
    await api.deploy(HELLO)
    started = await api.json("POST", "/api/v1/executions/tests.web/hello")
    events = []
    async with api.http.get(api.url(f"/api/v1/executions/{started['id']}/follow")) as got:
        assert got.headers["Content-Type"].startswith("text/event-stream")
        async for line in got.content:
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
    assert events[-1] == {}  # the `end` event
    events.pop()
    assert events and events[-1]["state"]["current"] == "SUCCESS"
    assert len(events[-1]["taskRunList"]) == 2
    await api.json("GET", "/api/v1/executions/unknown/follow", 404)
