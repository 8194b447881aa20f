"""The plugin API (Kestra's /api/v1/plugins paths) and POST /flows/graph, through a real
server: the flow JSON Schema validates the shipped example flows and refuses what the
loader refuses, every registered type is documented, answers revalidate by ETag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
import pytest_asyncio

from engine.catalog import default_registries
from engine.yaml_loader import load_yaml_value
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium
from tests.web.conftest import YAML, Api, basic

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCHEMA = "/api/v1/plugins/schemas/flow"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """One server for the module: the schema is built once per process anyway."""
    async with (
        running_podium(tmp_path_factory.mktemp("plugins") / "data", serve_http=True) as podium,
        aiohttp.ClientSession(headers=basic(ADMIN_USER, ADMIN_PASSWORD)) as http,
    ):
        yield Api(podium, f"http://127.0.0.1:{podium.port}", http)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def schema(api: Api) -> dict[str, Any]:
    return await api.json("GET", SCHEMA)  # type: ignore[no-any-return]


def _flows(text: str) -> list[Any]:
    return [load_yaml_value(doc, source="example") for doc in text.split("\n---\n")]


async def test_the_schema_is_kestras_shape_with_every_registered_type(
    schema: dict[str, Any],
) -> None:
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$ref"] == "#/definitions/io.kestra.core.models.flows.Flow"
    definitions = schema["definitions"]
    registries = default_registries()
    for union, registry in (
        ("tasks", registries.tasks),
        ("triggers", registries.triggers),
        ("conditions", registries.conditions),
    ):
        listed = {ref["$ref"].rsplit("/", 1)[1] for ref in definitions[union]["anyOf"]}
        assert listed == set(registry.names()), union
        for name in registry.names():
            definition = definitions[name]
            # `type` is the discriminator, a const; the rest is strict
            assert definition["properties"]["type"]["const"] == name
            assert "type" in definition["required"]
            assert definition["additionalProperties"] is False
    # task runners, found in the script tasks' taskRunner
    assert definitions["io.kestra.plugin.core.runner.Process"]["properties"]["type"] == {
        "const": "io.kestra.plugin.core.runner.Process",
        "description": "The taskRunner type.",
    }
    sleep = definitions["io.kestra.plugin.core.flow.Sleep"]
    assert sleep["title"] == "Wait for a while before going on to the next task."
    assert sleep["required"] == ["duration", "id", "type"]
    duration = sleep["properties"]["duration"]
    assert duration["description"].startswith("How long to wait: an ISO-8601 duration")
    assert duration["$dynamic"] is True
    assert sleep["properties"]["disabled"] == {
        "default": False,
        "type": "boolean",
        "description": "A disabled task is skipped, as if it were not in the flow.",
        "$dynamic": False,
    }
    log = definitions["io.kestra.plugin.core.log.Log"]["properties"]
    assert log["level"]["enum"] == ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
    assert log["message"]["$dynamic"] is True  # rendered by the task's run
    # child tasks point at the union of every task
    then = definitions["io.kestra.plugin.core.flow.If"]["properties"]["then"]
    assert then["items"] == {"$ref": "#/definitions/tasks"}
    # a former name is there too, marked deprecated
    former = definitions["io.kestra.plugin.core.flow.Flow"]
    assert former["deprecated"] is True
    assert "title" not in definitions["io.kestra.core.models.flows.Flow"]["properties"]["id"]


async def test_the_schema_accepts_the_examples_and_refuses_what_loading_refuses(
    schema: dict[str, Any],
) -> None:
    validator = jsonschema.Draft7Validator(schema)
    checked = 0
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for flow in _flows(path.read_text()):
            if "pluginDefaults" in flow:  # they may supply required properties
                continue
            errors = [e.message for e in validator.iter_errors(flow)]
            assert not errors, f"{path.name}: {errors[:3]}"
            checked += 1
    assert checked >= 5
    good = _flows(
        "id: f\nnamespace: n\ntasks:\n"
        "  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT1S}\n"
    )[0]
    assert validator.is_valid(good)
    for bad in (
        "  - {id: nap, type: io.kestra.plugin.core.flow.Sleep}\n",  # duration missing
        "  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT1S, durr: 1}\n",
        "  - {id: nap, type: io.kestra.plugin.core.flow.Slep, duration: PT1S}\n",
        "  - {id: say, type: io.kestra.plugin.core.log.Log, message: hi, level: LOUD}\n",
    ):
        flow = _flows("id: f\nnamespace: n\ntasks:\n" + bad)[0]
        assert not validator.is_valid(flow), bad


async def test_answers_revalidate_by_etag(api: Api) -> None:
    async with api.http.get(api.url(SCHEMA)) as first:
        assert first.status == 200
        etag = first.headers["ETag"]
        assert first.headers["Cache-Control"] == "no-cache"
    async with api.http.get(api.url(SCHEMA), headers={"If-None-Match": etag}) as again:
        assert again.status == 304
    # the tenant form of the path answers the same
    async with api.http.get(api.url("/api/v1/main/plugins/schemas/flow")) as tenant:
        assert tenant.headers["ETag"] == etag


async def test_task_and_trigger_schemas_and_unknown_ones(api: Api) -> None:
    task = await api.json("GET", "/api/v1/plugins/schemas/task")
    assert task["$ref"] == "#/definitions/tasks"
    triggers = await api.json("GET", "/api/v1/plugins/schemas/TRIGGER?arrayOf=true")
    assert triggers["items"] == {"$ref": "#/definitions/triggers"}
    answer = await api.json("GET", "/api/v1/plugins/schemas/dashboard", 404)
    assert answer["message"] == "no schema 'dashboard': the schemas are flow, task, trigger"


async def test_plugin_list_and_one_types_doc(api: Api) -> None:
    families = await api.json("GET", "/api/v1/plugins")
    core = next(f for f in families if f["group"] == "io.kestra.plugin.core")
    assert {"cls": "io.kestra.plugin.core.flow.Sleep", "kind": "task",
            "title": "Wait for a while before going on to the next task.",
            "aliases": [], "deprecated": False} in core["tasks"]  # fmt: skip
    assert any(t["cls"] == "io.kestra.plugin.core.trigger.Schedule" for t in core["triggers"])
    assert any(c["cls"] == "io.kestra.plugin.core.runner.Process" for c in core["taskRunners"])
    documented = {t["cls"] for f in families for kind in ("tasks", "triggers", "conditions")
                  for t in f[kind]}  # fmt: skip
    registries = default_registries()
    every = {cls.type_name for _, cls in registries.tasks} | {
        cls.type_name for reg in (registries.triggers, registries.conditions) for _, cls in reg
    }
    assert documented == every

    doc = await api.json("GET", "/api/v1/plugins/io.kestra.plugin.core.flow.Sleep")
    assert doc["cls"] == "io.kestra.plugin.core.flow.Sleep"
    assert doc["schema"]["properties"]["required"] == ["duration", "id", "type"]
    assert "Retry" in doc["schema"]["definitions"]  # what its properties refer to
    assert "tasks" not in doc["schema"]["definitions"]
    assert "- `duration` (required, dynamic) — How long to wait" in doc["markdown"]
    # the example is a task that loads
    flow = "id: f\nnamespace: n\ntasks:\n  - " + doc["example"].replace("\n", "\n    ")
    result = await api.json("POST", "/api/v1/flows/validate", data=flow, headers=YAML)
    assert result[0]["problems"] == []
    request = await api.json("GET", "/api/v1/plugins/io.kestra.plugin.core.http.Request")
    assert {"code", "headers", "uri", "body"} <= set(request["schema"]["outputs"]["properties"])
    # a former name answers its type's doc; an unknown one is a 404
    subflow = await api.json("GET", "/api/v1/plugins/io.kestra.plugin.core.flow.Flow")
    assert subflow["cls"] == "io.kestra.plugin.core.flow.Subflow"
    missing = await api.json("GET", "/api/v1/plugins/io.kestra.plugin.core.flow.Nope", 404)
    assert missing["message"] == "no plugin type 'io.kestra.plugin.core.flow.Nope'"


async def test_plugin_api_needs_a_session(api: Api) -> None:
    async with aiohttp.ClientSession() as anonymous:
        for path in (SCHEMA, "/api/v1/plugins", "/api/v1/plugins/io.kestra.plugin.core.log.Log"):
            async with anonymous.get(api.url(path)) as got:
                assert got.status == 401, path
        async with anonymous.get(api.url(SCHEMA), headers=basic(ADMIN_USER, "wrong")) as got:
            assert got.status == 401


async def test_graph_of_a_flow_being_written(api: Api) -> None:
    source = (
        "id: draft\nnamespace: tests.web\ntasks:\n"
        "  - id: check\n    type: io.kestra.plugin.core.flow.If\n    condition: '{{ true }}'\n"
        "    then:\n      - {id: yes, type: io.kestra.plugin.core.log.Log, message: y}\n"
    )
    graph = await api.json("POST", "/api/v1/flows/graph", data=source, headers=YAML)
    check = graph["tasks"][0]
    assert (check["id"], check["flowable"]) == ("check", True)
    assert check["branches"][0]["tasks"][0]["id"] == "yes"
    # nothing was saved
    await api.json("GET", "/api/v1/flows/tests.web/draft", 404)
    broken = source.replace("flow.If", "flow.Iff")
    answer = await api.json("POST", "/api/v1/flows/graph", 422, data=broken, headers=YAML)
    assert answer["problems"][0]["line"] == 5
    assert "unknown task type 'io.kestra.plugin.core.flow.Iff'" in answer["problems"][0]["message"]
    await api.json("POST", "/api/v1/flows/graph", 415, data=source,
                   headers={"Content-Type": "text/plain"})  # fmt: skip


async def test_a_taken_id_is_said_in_a_users_words(api: Api) -> None:
    source = "id: taken\nnamespace: tests.web\ntasks:\n  - {id: a, type: io.kestra.plugin.core.log.Log, message: a}\n"
    await api.json("POST", "/api/v1/flows", data=source, headers=YAML)
    answer = await api.json("POST", "/api/v1/flows", 409, data=source, headers=YAML)
    assert answer["message"] == (
        "a flow tests.web.taken exists already: open it to change it, or give this one another id"
    )
