"""The KV store end to end through a real server on a fake clock: the kv.* tasks and
`kv()` across namespaces (inheritance, explicit namespaces), TTL expiry, PurgeKV, large
values in internal storage, the deprecated state tasks, the REST API's shapes and
refusals, and Kestra's own SDK (`kestrapy`) against it."""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.clock import FakeClock
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import Api, basic

TEXT = {"Content-Type": "text/plain"}


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def api(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Api]:
    async with (
        running_podium(tmp_path / "data", clock=clock, serve_http=True) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Api(podium, f"http://127.0.0.1:{podium.port}", http)


def outputs(execution: dict[str, Any]) -> dict[str, Any]:
    return {run["taskId"]: run["outputs"] for run in execution["taskRunList"]}


async def logs(api: Api, execution: dict[str, Any]) -> str:
    lines = await api.json("GET", f"/api/v1/logs/{execution['id']}")
    return "\n".join(line["message"] for line in lines)


async def put(api: Api, namespace: str, key: str, body: str, **headers: str) -> None:
    await api.json(
        "PUT", f"/api/v1/namespaces/{namespace}/kv/{key}", data=body, headers={**TEXT, **headers}
    )


READER = """
id: reader
namespace: company.team.data
inputs:
  - {id: which, type: STRING, defaults: shared}
tasks:
  - id: set_local
    type: io.kestra.plugin.core.kv.Set
    key: local
    value: "{{ 40 + 2 }}"
  - id: set_when
    type: io.kestra.plugin.core.kv.Set
    key: when
    value: "2026-02-01T10:00:00Z"
    kvType: DATETIME
    kvDescription: a date
  - id: set_temp
    type: io.kestra.plugin.core.kv.Set
    key: temp
    value: {ttl: one hour}
    ttl: PT1H
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: >-
      {{ kv('local') + 1 }}|{{ kv('shared') }}|{{ kv(inputs.which) }}|{{ kv('team_only') }}|{{ kv('cfg', namespace='elsewhere').region }}|{{ kv('absent', errorOnMissing=false) ?? 'none' }}|{{ kv('when') }}|{{ kv('temp').ttl }}
  - id: get
    type: io.kestra.plugin.core.kv.Get
    key: temp
  - id: keys
    type: io.kestra.plugin.core.kv.GetKeys
    prefix: t
"""

LATER = """
id: later
namespace: company.team.data
tasks:
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('temp').ttl }}"
"""

LENIENT = """
id: lenient
namespace: company.team.data
tasks:
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('temp', errorOnMissing=false) ?? 'gone' }}"
  - id: get
    type: io.kestra.plugin.core.kv.Get
    key: temp
"""

PURGE = """
id: purge
namespace: system
tasks:
  - id: purge
    type: io.kestra.plugin.core.kv.PurgeKV
    namespaces: [company]
"""


async def test_kv_tasks_and_kv_across_namespaces_with_ttl_expiry(
    api: Api, clock: FakeClock
) -> None:
    await put(api, "company", "shared", '"from the parent"')
    await put(api, "company.team", "team_only", "team value")
    await put(api, "company.team.data", "shared", "closest wins")
    await put(api, "elsewhere", "cfg", '{"region": "eu"}')
    for source in (READER, LATER, LENIENT, PURGE):
        await api.deploy(source)

    done = await api.run("company.team.data", "reader")
    assert done["state"]["current"] == "SUCCESS", await logs(api, done)
    got = outputs(done)
    assert got["read"]["value"] == (
        "43|closest wins|closest wins|team value|eu|none|2026-02-01T10:00:00Z|one hour"
    )
    assert got["get"] == {"value": {"ttl": "one hour"}}
    assert got["keys"] == {"keys": ["temp"]}
    # a key named by an input is found too (loaded before the task ran)
    again = await api.run("company.team.data", "reader", which="team_only")
    assert outputs(again)["read"]["value"].split("|")[2] == "team value"

    when = await api.json("GET", "/api/v1/namespaces/company.team.data/kv/when")
    assert when["type"] == "DATETIME" and when["value"] == "2026-02-01T10:00:00Z"
    listed = await api.json("GET", "/api/v1/namespaces/company.team.data/kv")
    by_key = {e["key"]: e for e in listed}
    assert by_key["when"]["description"] == "a date"
    assert by_key["temp"]["expirationDate"].startswith("2026-01-01T01:00:00")
    assert by_key["local"]["expirationDate"] is None

    assert outputs(await api.run("company.team.data", "later"))["read"] == {"value": "one hour"}
    await clock.advance(2 * 3600)

    expired = await api.run("company.team.data", "later")
    assert expired["state"]["current"] == "FAILED"
    assert "The key 'temp' in the namespace 'company.team.data' has expired" in await logs(
        api, expired
    )
    lenient = await api.run("company.team.data", "lenient")
    assert outputs(lenient) == {"read": {"value": "gone"}, "get": {"value": None}}
    await api.json("GET", "/api/v1/namespaces/company.team.data/kv/temp", status=410)
    listed = await api.json("GET", "/api/v1/namespaces/company.team.data/kv")
    assert "temp" not in {e["key"] for e in listed}

    purged = await api.run("system", "purge")
    assert outputs(purged)["purge"] == {"size": 1}  # expired keys only, children included
    await api.json("GET", "/api/v1/namespaces/company.team.data/kv/temp", status=404)
    await api.json("GET", "/api/v1/namespaces/company.team.data/kv/local")


LOOP = """
id: loop
namespace: company.team
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [a, b, c]
    tasks:
      - id: set
        type: io.kestra.plugin.core.kv.Set
        key: "item_{{ taskrun.value }}"
        value: "{{ taskrun.value | upper }}"
  - id: joined
    type: io.kestra.plugin.core.debug.Return
    format: "{% for v in ['a', 'b', 'c'] %}{{ kv('item_' ~ v) }}{% endfor %}"
  - id: chained
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv(kv('pointer')) }}"
  - id: gone
    type: io.kestra.plugin.core.kv.Delete
    key: item_a
  - id: gone_again
    type: io.kestra.plugin.core.kv.Delete
    key: item_a
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('item_a', errorOnMissing=false) ?? 'deleted' }}"
outputs:
  - {id: last, type: STRING, value: "{{ kv('item_c') }}"}
"""


async def test_a_later_task_reads_what_earlier_tasks_set(api: Api) -> None:
    await put(api, "company.team", "pointer", "item_b")
    await api.deploy(LOOP)
    done = await api.run("company.team", "loop")
    assert done["state"]["current"] == "SUCCESS", await logs(api, done)
    got = outputs(done)
    assert got["joined"] == {"value": "ABC"}
    assert got["chained"] == {"value": "B"}  # a key named by another key's value
    assert got["gone"] == {"deleted": True} and got["gone_again"] == {"deleted": False}
    assert got["after"] == {"value": "deleted"}
    assert done["outputs"] == {"last": "C"}  # the flow's outputs read the store too


REFUSALS = """
id: refusals
namespace: company.team
inputs:
  - {id: case, type: STRING}
tasks:
  - id: keep
    type: io.kestra.plugin.core.kv.Set
    runIf: "{{ inputs.case == 'overwrite' }}"
    key: existing
    value: new
    overwrite: false
  - id: strict_get
    type: io.kestra.plugin.core.kv.Get
    runIf: "{{ inputs.case == 'get' }}"
    key: nothing_here
    errorOnMissing: true
  - id: strict_kv
    type: io.kestra.plugin.core.debug.Return
    runIf: "{{ inputs.case == 'kv' }}"
    format: "{{ kv('nothing_here') }}"
  - id: bad_key
    type: io.kestra.plugin.core.kv.Set
    runIf: "{{ inputs.case == 'key' }}"
    key: "../../etc/passwd"
    value: x
  - id: bad_number
    type: io.kestra.plugin.core.kv.Set
    runIf: "{{ inputs.case == 'number' }}"
    key: n
    value: twelve
    kvType: NUMBER
"""


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("overwrite", "the key 'existing' already exists in namespace 'company.team'"),
        ("get", "No value found for key 'nothing_here' in namespace 'company.team'"),
        ("kv", "The key 'nothing_here' does not exist in the namespace 'company.team'"),
        ("key", "invalid KV key '../../etc/passwd'"),
        ("number", "'twelve' is not a number"),
    ],
)
async def test_refusals_fail_the_task_with_a_clear_message(
    api: Api, case: str, message: str
) -> None:
    await put(api, "company.team", "existing", "old")
    await api.deploy(REFUSALS)
    done = await api.run("company.team", "refusals", case=case)
    assert done["state"]["current"] == "FAILED"
    assert message in await logs(api, done)
    kept = await api.json("GET", "/api/v1/namespaces/company.team/kv/existing")
    assert kept["value"] == "old" and kept["revision"] == 1


BIG = """
id: big
namespace: company.team
tasks:
  - id: size
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('blob') | length }}"
"""


async def test_a_large_value_lives_in_internal_storage(api: Api) -> None:
    blob = "x" * (200 << 10)
    await put(api, "company.team", "blob", blob)
    root = api.podium.storage.root / "kv" / "company.team" / "blob"
    [file] = list(root.iterdir())
    assert file.suffix == ".json" and file.stat().st_size > 200 << 10
    assert not list(root.glob("*.partial"))
    got = await api.json("GET", "/api/v1/namespaces/company.team/kv/blob")
    assert got["value"] == blob and got["type"] == "STRING"
    await api.deploy(BIG)
    assert outputs(await api.run("company.team", "big"))["size"] == {"value": str(200 << 10)}

    await put(api, "company.team", "blob", "small now")
    for _ in range(200):  # removed by the KV projector after its transaction
        if not file.exists():
            break
        await asyncio.sleep(0.01)
    assert not file.exists()
    got = await api.json("GET", "/api/v1/namespaces/company.team/kv/blob")
    assert got["value"] == "small now" and got["revision"] == 2


STATES = """
id: states
namespace: company.team
tasks:
  - id: first
    type: io.kestra.plugin.core.state.Set
    data: {a: 1, b: "{{ 1 + 1 }}"}
  - id: second
    type: io.kestra.plugin.core.state.Set
    data: {b: 3}
  - id: read
    type: io.kestra.plugin.core.state.Get
  - id: other
    type: io.kestra.plugin.core.state.Get
    name: other
  - id: drop
    type: io.kestra.plugin.core.state.Delete
  - id: read_again
    type: io.kestra.plugin.core.state.Get
"""


async def test_the_deprecated_state_tasks_work_on_the_kv_store(api: Api) -> None:
    await api.deploy(STATES)
    done = await api.run("company.team", "states")
    assert done["state"]["current"] == "SUCCESS", await logs(api, done)
    got = outputs(done)
    assert got["first"] == {"count": 2, "key": "states_states_default"}
    assert got["second"]["count"] == 2
    assert got["read"] == {"count": 2, "data": {"a": 1, "b": 3}}
    assert got["other"] == {"count": 0, "data": {}}
    assert got["drop"] == {"deleted": True}
    assert got["read_again"] == {"count": 0, "data": {}}
    text = await logs(api, done)
    assert (
        "io.kestra.plugin.core.state.Set is deprecated (as in Kestra); use io.kestra.plugin.core.kv.Set"
        in text
    )


async def test_the_rest_api_on_kestras_paths_and_shapes(api: Api, clock: FakeClock) -> None:
    base = "/api/v1/namespaces/company.team/kv"
    await put(api, "company.team", "n", "12", ttl="PT10M", description="a number")
    await put(api, "company", "flag", "true")
    await api.json(
        "PUT", f"{base}/json", data='{"a": [1, 2]}', headers={"Content-Type": "application/json"}
    )
    got = await api.json("GET", "/api/v1/main/namespaces/company.team/kv/n")  # tenant form
    assert got["type"] == "NUMBER" and got["value"] == 12 and got["revision"] == 1
    assert got["updated"].startswith("2026-01-01T00:00:00")
    listed = await api.json("GET", base)
    assert [e["key"] for e in listed] == ["json", "n"]
    entry = listed[1]
    assert set(entry) >= {
        "namespace",
        "key",
        "description",
        "creationDate",
        "updateDate",
        "expirationDate",
        "revision",
    }
    assert entry["description"] == "a number"
    assert entry["expirationDate"].startswith("2026-01-01T00:10:00")
    inherited = await api.json("GET", "/api/v1/namespaces/company.team.data/kv/inheritance")
    assert [(e["namespace"], e["key"]) for e in inherited] == [
        ("company.team", "json"), ("company.team", "n"), ("company", "flag"),
    ]  # fmt: skip
    page = await api.json("GET", "/api/v1/kv?filters[namespace][PREFIX]=company&size=2&page=1")
    assert page["total"] == 3 and len(page["results"]) == 2
    page = await api.json("GET", "/api/v1/kv?filters[q][EQUALS]=numb")
    assert [e["key"] for e in page["results"]] == ["n"]
    page = await api.json("GET", "/api/v1/kv?filters[namespace][EQUALS]=company")
    assert [e["key"] for e in page["results"]] == ["flag"]

    assert await api.json("DELETE", f"{base}/json") is True
    assert await api.json("DELETE", f"{base}/json") is False
    await api.json("GET", f"{base}/json", status=404)
    await put(api, "company.team", "a", "1")
    bulk = await api.json("DELETE", base, json={"keys": ["a", "missing", "bad/key"]})
    assert bulk == {"keys": ["a"]}

    for path, kwargs, status in [
        (f"{base}/-bad", {"data": "1"}, 400),  # not a key
        (f"{base}/ok", {"data": ""}, 400),  # no value
        (f"{base}/ok", {"data": "1", "headers": {"ttl": "ten minutes"}}, 400),
        (f"{base}/ok", {"data": "1", "headers": {"ttl": "-PT1M"}}, 400),
        ("/api/v1/namespaces/../kv/ok", {"data": "1"}, 404),  # normalised away by the router
        ("/api/v1/namespaces/bad..ns/kv/ok", {"data": "1"}, 400),
    ]:
        await api.json("PUT", path, status=status, **kwargs)
    await api.json("GET", "/api/v1/kv?filters[flowId][EQUALS]=x", status=400)
    await api.json("GET", "/api/v1/kv?sort=updateDate:desc", status=400)
    await api.json("DELETE", base, status=400, json={"keys": "a"})

    await clock.advance(11 * 60)
    gone = await api.json("GET", f"{base}/n", status=410)
    assert "expired" in gone["message"]


async def test_kestras_sdk_kv_calls_against_podium(api: Api) -> None:
    with warnings.catch_warnings():  # its generated models warn about a field name
        warnings.simplefilter("ignore")
        from kestrapy import KestraClient
        from kestrapy.models.kv_controller_api_delete_bulk_request import (
            KVControllerApiDeleteBulkRequest,
        )
        from kestrapy.models.query_filter import QueryFilter

    client = KestraClient(host=api.base, username=ADMIN_USER, password=ADMIN_PASSWORD, timeout=30)
    kv = client.kv

    def calls() -> None:
        kv.set_key_value("company.team", "project", "main", '"podium-demo"')
        kv.set_key_value("company.team", "count", "main", "7")
        kv.set_key_value("company", "region", "main", "europe-west1")
        detail = kv.key_value("company.team", "project", "main")
        assert detail.type is not None and detail.type.value == "STRING"
        assert detail.value == "podium-demo" and detail.revision == 1
        assert kv.key_value("company.team", "count", "main").value == 7
        entries = kv.list_keys_with_inheritance("company.team", "main")
        assert [(e.namespace, e.key) for e in entries] == [
            ("company.team", "count"), ("company.team", "project"), ("company", "region"),
        ]  # fmt: skip
        page = kv.list_all_keys(
            "main",
            page=1,
            size=10,
            filters=[
                QueryFilter.from_dict(
                    {"field": "namespace", "operation": "EQUALS", "value": "company.team"}
                )
            ],
        )
        assert page.total == 2 and [e.key for e in page.results or []] == ["count", "project"]
        assert kv.delete_key_value("company.team", "project", "main") is True
        deleted = kv.delete_key_values(
            "company", "main", KVControllerApiDeleteBulkRequest(keys=["region", "nope"])
        )
        assert deleted.keys == ["region"]

    await asyncio.to_thread(calls)
    left = await api.json("GET", "/api/v1/kv")
    assert [e["key"] for e in left["results"]] == ["count"]


async def test_hostile_keys_bodies_and_headers_are_refused(api: Api) -> None:
    base = "/api/v1/namespaces/company/kv"
    for key in ("a%2F..%2F..%2Fescape", "..%2Fescape", "%2e%2e", "a%00b", "a%20b"):
        async with api.http.put(api.url(f"{base}/{key}"), data="1", headers=TEXT) as answer:
            assert answer.status in (400, 404), key  # not a key, or no such route
    storage = api.podium.storage.root
    assert not list(storage.parent.glob("escape*")) and not list(storage.rglob("escape*"))
    huge = io.BytesIO(b"x" * ((10 << 20) + 1))
    await api.json("PUT", f"{base}/big", status=413, data=huge, headers=TEXT)
    await api.json(
        "PUT", f"{base}/k", status=400, data="1", headers={**TEXT, "description": "d" * 5000}
    )
    await api.json("DELETE", base, status=400, data="not json", headers=TEXT)
    # nothing of the above was stored
    assert await api.json("GET", base) == []


COURSE_KV = """
id: 06_gcp_kv
namespace: zoomcamp
tasks:
  - id: gcp_project_id
    type: io.kestra.plugin.core.kv.Set
    key: GCP_PROJECT_ID
    kvType: STRING
    value: kestra-sandbox # TODO replace with your project id
  - id: gcp_location
    type: io.kestra.plugin.core.kv.Set
    key: GCP_LOCATION
    kvType: STRING
    value: europe-west2
  - id: gcp_bucket_name
    type: io.kestra.plugin.core.kv.Set
    key: GCP_BUCKET_NAME
    kvType: STRING
    value: your-name-kestra # TODO make sure it's globally unique!
"""

COURSE_READER = """
id: 07_gcp_setup
namespace: zoomcamp
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "bucket {{kv('GCP_BUCKET_NAME')}} in {{kv('GCP_PROJECT_ID')}} ({{kv('GCP_LOCATION')}})"
"""


async def test_the_courses_kv_flows(api: Api) -> None:
    await api.deploy(COURSE_KV)
    await api.deploy(COURSE_READER)
    assert (await api.run("zoomcamp", "06_gcp_kv"))["state"]["current"] == "SUCCESS"
    done = await api.run("zoomcamp", "07_gcp_setup")
    assert done["state"]["current"] == "SUCCESS"
    assert "bucket your-name-kestra in kestra-sandbox (europe-west2)" in await logs(api, done)


async def test_entries_survive_a_restart_of_the_embedded_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running_podium(data) as podium:
        await podium.kv.set("company", "kept", {"a": 1}, description="survives")
        await podium.kv.set("company", "blob", "y" * (100 << 10))
    async with running_podium(data) as podium:
        entry = await podium.kv.entry("company", "kept")
        assert entry is not None and entry.value == {"a": 1} and entry.description == "survives"
        blob = await podium.kv.entry("company", "blob")
        assert blob is not None and await podium.kv.value(blob) == "y" * (100 << 10)
