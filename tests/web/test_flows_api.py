"""Flows over HTTP: create, update, read, delete, search, validate, revisions, graph."""

from __future__ import annotations

import io

from tests.web.conftest import HELLO, YAML, Api

BROKEN = """id: broken
namespace: tests.web
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    mesage: typo
"""

BRANCHY = """
id: branchy
namespace: tests.web
tasks:
  - id: check
    type: io.kestra.plugin.core.flow.If
    condition: "{{ true }}"
    then:
      - {id: yes, type: io.kestra.plugin.core.log.Log, message: y}
    else:
      - {id: no, type: io.kestra.plugin.core.log.Log, message: n}
  - id: fan
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - {id: a, type: io.kestra.plugin.core.log.Log, message: a}
      - {id: b, type: io.kestra.plugin.core.log.Log, message: b}
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2]
    tasks:
      - {id: item, type: io.kestra.plugin.core.log.Log, message: "{{ taskrun.value }}"}
  - id: pick
    type: io.kestra.plugin.core.flow.Switch
    value: x
    cases:
      x: [{id: on_x, type: io.kestra.plugin.core.log.Log, message: x}]
    defaults: [{id: other, type: io.kestra.plugin.core.log.Log, message: other}]
errors:
  - {id: alert, type: io.kestra.plugin.core.log.Log, message: failed}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: k}
"""


async def test_create_read_update_and_delete(api: Api) -> None:
    created = await api.json("POST", "/api/v1/flows", data=HELLO, headers=YAML)
    assert (created["id"], created["namespace"], created["revision"]) == ("hello", "tests.web", 1)
    assert created["tasks"][0]["id"] == "greet" and "source" not in created
    await api.json("POST", "/api/v1/flows", 409, data=HELLO, headers=YAML)
    got = await api.json("GET", "/api/v1/flows/tests.web/hello?source=true")
    assert got["source"] == HELLO and got["deleted"] is False
    changed = HELLO.replace("says hello", "says hi")
    updated = await api.json("PUT", "/api/v1/flows/tests.web/hello", data=changed, headers=YAML)
    assert updated["revision"] == 2 and updated["description"] == "says hi"
    old = await api.json("GET", "/api/v1/main/flows/tests.web/hello?revision=1&source=true")
    assert old["source"] == HELLO  # the tenant path is the same API
    revisions = await api.json("GET", "/api/v1/flows/tests.web/hello/revisions")
    assert [(r["revision"], r["source"]) for r in revisions] == [(1, HELLO), (2, changed)]
    await api.json("DELETE", "/api/v1/flows/tests.web/hello", 204)
    await api.json("GET", "/api/v1/flows/tests.web/hello", 404)
    await api.json("DELETE", "/api/v1/flows/tests.web/hello", 404)
    await api.json("PUT", "/api/v1/flows/tests.web/hello", 404, data=HELLO, headers=YAML)


async def test_an_update_cannot_change_the_id_or_namespace(api: Api) -> None:
    await api.deploy(HELLO)
    moved = HELLO.replace("namespace: tests.web", "namespace: tests.other")
    answer = await api.json("PUT", "/api/v1/flows/tests.web/hello", 422, data=moved, headers=YAML)
    assert [p["path"] for p in answer["problems"]] == ["namespace"]
    renamed = HELLO.replace("id: hello", "id: bye")
    answer = await api.json("PUT", "/api/v1/flows/tests.web/hello", 422, data=renamed, headers=YAML)
    assert [p["path"] for p in answer["problems"]] == ["id"]
    assert (await api.json("GET", "/api/v1/flows/tests.web/hello"))["revision"] == 1


async def test_invalid_flows_answer_every_problem_with_line_and_column(api: Api) -> None:
    answer = await api.json("POST", "/api/v1/flows", 422, data=BROKEN, headers=YAML)
    lines = {(p["path"], p["line"], p["column"]) for p in answer["problems"]}
    assert lines == {("tasks[0]", 4, 5), ("tasks[0].mesage", 6, 5)}
    assert answer["message"].startswith("invalid flow")
    malformed = await api.json(
        "POST", "/api/v1/flows", 422, data="id: x\n  bad: [indent\n", headers=YAML
    )
    assert malformed["problems"][0]["line"] is not None
    await api.json("POST", "/api/v1/flows", 400, data="", headers=YAML)
    await api.json("POST", "/api/v1/flows", 400, data=b"\xff\xfe", headers=YAML)
    await api.json("POST", "/api/v1/flows", 422, data="- a list\n", headers=YAML)
    big = io.BytesIO(b"#" * (2 << 20))
    await api.json("POST", "/api/v1/flows", 413, data=big, headers=YAML)
    await api.json("GET", "/api/v1/flows/tests.web/broken", 404)


async def test_a_json_body_is_accepted_as_the_flow(api: Api) -> None:
    flow = {
        "id": "from_json",
        "namespace": "tests.web",
        "tasks": [{"id": "t", "type": "io.kestra.plugin.core.log.Log", "message": "m"}],
    }
    created = await api.json("POST", "/api/v1/flows", json=flow)
    assert created["id"] == "from_json"
    await api.json(
        "POST", "/api/v1/flows", 400, data="{not json", headers={"Content-Type": "application/json"}
    )


async def test_validate_reports_each_document(api: Api) -> None:
    body = HELLO + "---\n" + BROKEN
    results = await api.json("POST", "/api/v1/flows/validate", data=body, headers=YAML)
    assert [r["index"] for r in results] == [0, 1]
    assert results[0]["problems"] == [] and results[0]["constraints"] == ""
    assert (results[0]["flow"], results[0]["namespace"]) == ("hello", "tests.web")
    assert results[1]["flow"] == "broken"
    # line numbers count from the top of the whole body
    start = HELLO.count("\n") + 1
    lines = {(p["path"], p["line"], p["column"]) for p in results[1]["problems"]}
    assert lines == {("tasks[0]", start + 4, 5), ("tasks[0].mesage", start + 6, 5)}
    assert "mesage" in results[1]["constraints"]
    assert await api.json("GET", "/api/v1/flows/search") == {"results": [], "total": 0}


async def test_search_and_namespaces(api: Api) -> None:
    await api.deploy(HELLO)
    await api.deploy(BRANCHY)
    await api.deploy(HELLO.replace("namespace: tests.web", "namespace: other"))
    await api.run("tests.web", "hello")
    found = await api.json("GET", "/api/v1/flows/search?namespace=tests&size=1")
    assert found["total"] == 2 and [f["id"] for f in found["results"]] == ["branchy"]
    found = await api.json("GET", "/api/v1/flows/search?namespace=tests&size=1&page=2")
    [hello] = found["results"]
    assert hello["description"] == "says hello"
    assert hello["labels"] == [{"key": "team", "value": "web"}]
    assert hello["inputs"][0]["id"] == "name"
    assert hello["lastExecution"]["state"] == "SUCCESS"
    found = await api.json("GET", "/api/v1/flows/search?q=BRANCH")
    assert [f["id"] for f in found["results"]] == ["branchy"]
    assert found["results"][0]["triggers"] == [
        {"id": "hook", "type": "io.kestra.plugin.core.trigger.Webhook"}
    ]
    assert found["results"][0]["lastExecution"] is None
    assert await api.json("GET", "/api/v1/flows/namespaces") == ["other", "tests.web"]
    in_namespace = await api.json("GET", "/api/v1/flows/tests.web")
    assert sorted(f["id"] for f in in_namespace) == ["branchy", "hello"]
    for bad in ("page=0", "page=x", "size=0", "size=100000", "size=1.5"):
        answer = await api.json("GET", f"/api/v1/flows/search?{bad}", 400)
        assert answer["message"]


CALLER = """
id: caller
namespace: tests.web
tasks:
  - {id: fixed, type: io.kestra.plugin.core.flow.Subflow, namespace: tests.web, flowId: hello}
  - id: templated
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.web
    flowId: "{{ flow.id }}"
"""


async def test_the_graph_is_the_task_tree(api: Api) -> None:
    await api.deploy(BRANCHY)
    graph = await api.json("GET", "/api/v1/flows/tests.web/branchy/graph")
    check, fan, each, pick = graph["tasks"]
    assert check["flowable"] and [b["name"] for b in check["branches"]] == ["then", "else"]
    assert check["branches"][0]["tasks"][0]["id"] == "yes"
    assert fan["branches"][0]["parallel"] is True
    assert [t["id"] for t in fan["branches"][0]["tasks"]] == ["a", "b"]
    assert each["branches"][0]["parallel"] is False  # concurrencyLimit 1
    assert [b["name"] for b in pick["branches"]] == ["x", "defaults"]
    assert graph["errors"][0]["id"] == "alert" and not graph["errors"][0]["flowable"]
    assert graph["triggers"][0]["id"] == "hook"
    assert "subflow" not in check
    # a Subflow names the flow it starts when that is written out, not when it is a template
    await api.deploy(CALLER)
    calls = await api.json("GET", "/api/v1/flows/tests.web/caller/graph")
    fixed, templated = calls["tasks"]
    assert fixed["subflow"] == {"namespace": "tests.web", "flowId": "hello"}
    assert "subflow" not in templated
    await api.json("GET", "/api/v1/flows/tests.web/branchy/graph?revision=9", 404)
    await api.json("GET", "/api/v1/flows/tests.web/branchy/graph?revision=x", 400)
    await api.json("GET", "/api/v1/flows/tests.web/nothing/graph", 404)
