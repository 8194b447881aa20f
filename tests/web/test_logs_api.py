"""Logs over HTTP: an execution's lines with filters, search, download, follow."""

from __future__ import annotations

import json
from typing import Any

from tests.web.conftest import Api

CHATTY = """
id: chatty
namespace: tests.web
tasks:
  - {id: quiet, type: io.kestra.plugin.core.log.Log, message: "debug line", level: DEBUG}
  - {id: loud, type: io.kestra.plugin.core.log.Log, message: "warn 100% sure", level: WARN}
  - {id: last, type: io.kestra.plugin.core.log.Log, message: "info line"}
"""


async def test_an_executions_logs_with_filters(api: Api) -> None:
    await api.deploy(CHATTY)
    done = await api.run("tests.web", "chatty")
    url = f"/api/v1/logs/{done['id']}"
    lines = await api.json("GET", url)
    assert [line["message"] for line in lines] == ["debug line", "warn 100% sure", "info line"]
    entry = lines[1]
    assert entry["level"] == "WARN" and entry["taskId"] == "loud" and entry["attempt"] == 1
    assert (entry["executionId"], entry["namespace"], entry["flowId"]) == (
        done["id"],
        "tests.web",
        "chatty",
    )
    assert entry["taskRunId"] == done["taskRunList"][1]["id"]
    assert [x["message"] for x in await api.json("GET", url + "?minLevel=INFO")] == [
        "warn 100% sure",
        "info line",
    ]
    assert [x["taskId"] for x in await api.json("GET", url + "?taskId=last")] == ["last"]
    run_id = done["taskRunList"][0]["id"]
    assert [x["taskId"] for x in await api.json("GET", f"{url}?taskRunId={run_id}")] == ["quiet"]
    assert await api.json("GET", url + "?attempt=2") == []
    assert [x["message"] for x in await api.json("GET", url + "?page=2&size=2")] == ["info line"]
    await api.json("GET", url + "?minLevel=LOUD", 400)
    await api.json("GET", url + "?attempt=zero", 400)
    await api.json("GET", "/api/v1/logs/unknown", 404)


async def read_events(response: Any) -> list[tuple[str, str | None, Any]]:
    """Server-sent events as (event, id, data) triples."""
    events, event, event_id = [], "message", None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            events.append((event, event_id, json.loads(line[6:])))
            event, event_id = "message", None
    return events


async def test_search_download_and_follow(api: Api) -> None:
    await api.deploy(CHATTY)
    first = await api.run("tests.web", "chatty")
    await api.run("tests.web", "chatty")
    found = await api.json("GET", "/api/v1/logs/search?q=100%25&namespace=tests")
    assert found["total"] == 2 and {e["message"] for e in found["results"]} == {"warn 100% sure"}
    found = await api.json("GET", f"/api/v1/logs/search?executionId={first['id']}&size=1")
    assert found["total"] == 3 and len(found["results"]) == 1
    await api.json("GET", "/api/v1/logs/search?size=0", 400)
    # the Logs page: newest first, within a time window
    newest = await api.json("GET", "/api/v1/logs/search?namespace=tests&sort=timestamp:desc")
    stamps = [e["timestamp"] for e in newest["results"]]
    assert newest["total"] == 6 and stamps == sorted(stamps, reverse=True)
    since = stamps[2]
    found = await api.json("GET", "/api/v1/logs/search", params={"startDate": since})
    assert found["total"] == sum(s >= since for s in stamps) >= 3
    assert all(e["timestamp"] >= since for e in found["results"])
    await api.json("GET", "/api/v1/logs/search?sort=level:desc", 400)
    await api.json("GET", "/api/v1/logs/search?startDate=yesterday", 400)

    async with api.http.get(api.url(f"/api/v1/logs/{first['id']}/download?minLevel=INFO")) as got:
        assert got.status == 200 and got.headers["Content-Type"].startswith("text/plain")
        text = await got.text()
    assert text.splitlines()[0].endswith("[loud] warn 100% sure") and len(text.splitlines()) == 2
    # the text filter too, as the UI's Download sends it (docs/ui.md: the download is filtered)
    async with api.http.get(api.url(f"/api/v1/logs/{first['id']}/download?q=INFO+LINE")) as got:
        assert (await got.text()).splitlines() == [text.splitlines()[1]]

    async with api.http.get(api.url(f"/api/v1/logs/{first['id']}/follow")) as got:
        assert got.headers["Content-Type"].startswith("text/event-stream")
        events = await read_events(got)
    assert [e["message"] for _, _, e in events[:-1]] == [
        "debug line",
        "warn 100% sure",
        "info line",
    ]
    assert events[-1][0] == "end"  # said before closing, so EventSource does not reconnect
    # a reconnecting client resumes after the last line it saw
    second_id = events[1][1]
    headers = {"Last-Event-ID": str(second_id)}
    async with api.http.get(api.url(f"/api/v1/logs/{first['id']}/follow"), headers=headers) as got:
        resumed = await read_events(got)
    assert [e["message"] for _, _, e in resumed[:-1]] == ["info line"]
    await api.json("GET", f"/api/v1/logs/{first['id']}/follow?after=x", 400)
    await api.json("GET", "/api/v1/logs/unknown/follow", 404)
    await api.json("GET", "/api/v1/logs/unknown/download", 404)
