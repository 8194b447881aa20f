"""Hostile and broken flow YAML: every one a FlowDefinitionError naming a line and column,
never another exception, never a hang; and a hypothesis fuzz of the loader and validator."""

from __future__ import annotations

import json
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.catalog import default_registries
from engine.errors import FlowDefinitionError, PodiumError
from engine.flow import load_flow
from engine.yaml_loader import load_yaml
from tests.attacks.conftest import Server

HEAD = "id: f\nnamespace: attacks\n"
LOG = "  - {id: a, type: io.kestra.plugin.core.log.Log, message: hi}\n"

BAD_FLOWS = {
    "malformed": HEAD + "tasks:\n  - id: a\n   type: x\n",
    "tab indentation": HEAD + "tasks:\n\t- id: a\n",
    "duplicate keys": HEAD + "tasks:\n" + LOG + "id: g\n",
    "alias bomb": (
        HEAD
        + 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
        + "".join(
            f"{c}: &{c} [{','.join(['*' + p] * 10)}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "tasks:\n"
        + LOG
    ),
    "deep nesting": HEAD + "tasks:\n" + LOG + "labels: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep block nesting": HEAD + "x:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400)),
    "10 MB file": HEAD + "description: '" + "x" * 10_000_000 + "'\ntasks:\n" + LOG,
    "unknown task type": HEAD + "tasks:\n  - {id: a, type: io.example.Nope}\n",
    "wrong property type": HEAD
    + "tasks:\n  - {id: a, type: io.kestra.plugin.core.flow.Sleep, duration: [1, 2]}\n",
    "unknown property": HEAD
    + "tasks:\n  - {id: a, type: io.kestra.plugin.core.log.Log, message: m, mesage: n}\n",
    "duplicate task ids": HEAD + "tasks:\n" + LOG + LOG,
    "dag cycle": HEAD
    + """tasks:
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task: {id: a, type: io.kestra.plugin.core.log.Log, message: a}
        dependsOn: [b]
      - task: {id: b, type: io.kestra.plugin.core.log.Log, message: b}
        dependsOn: [a]
""",
    "dag unknown dependency": HEAD
    + """tasks:
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task: {id: a, type: io.kestra.plugin.core.log.Log, message: a}
        dependsOn: [nowhere]
""",
    "impossible cron": HEAD
    + "tasks:\n"
    + LOG
    + "triggers:\n  - {id: s, type: io.kestra.plugin.core.trigger.Schedule, cron: '0 0 30 2 *'}\n",
    "out-of-range cron": HEAD
    + "tasks:\n"
    + LOG
    + "triggers:\n  - {id: s, type: io.kestra.plugin.core.trigger.Schedule, cron: '61 * * * *'}\n",
    "no tasks": HEAD,
    "python tag": HEAD + "tasks: !!python/object/apply:os.system ['true']\n",
    "NUL byte": HEAD + "tasks:\n  - {id: a\x00, type: x}\n",
    "bad id": "id: 'a/../b'\nnamespace: attacks\ntasks:\n" + LOG,
}


@pytest.mark.parametrize("name", sorted(BAD_FLOWS))
def test_each_bad_flow_is_a_located_error(name: str) -> None:
    started = time.process_time()
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(BAD_FLOWS[name], default_registries(), source=f"{name}.yaml")
    spent = time.process_time() - started
    problems = caught.value.problems
    assert problems, name
    for problem in problems:
        assert problem.source == f"{name}.yaml"
        assert problem.line is not None and problem.column is not None, str(problem)
        assert problem.message and "Traceback" not in problem.message
    # CPU seconds, not wall time: refusing must not cost the work the input asks for
    assert spent < 5, f"{name}: {spent:.1f}s of CPU"


def test_ten_thousand_tasks_load_or_are_refused_clearly() -> None:
    text = (
        HEAD
        + "tasks:\n"
        + "".join(
            f"  - {{id: t{i}, type: io.kestra.plugin.core.log.Log, message: m}}\n"
            for i in range(10_000)
        )
    )
    flow = load_flow(text, default_registries())
    assert len(flow.tasks) == 10_000


def _problems_are_located(error: FlowDefinitionError) -> None:
    for problem in error.problems:
        assert problem.line is not None and problem.line >= 1, str(problem)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=string.printable + "\u00e9\u2028\ufeff&*!|>{}[]:-#'\"", max_size=400))
def test_the_loader_fuzzed_with_text(text: str) -> None:
    try:
        load_flow(text, default_registries())
    except FlowDefinitionError as error:
        _problems_are_located(error)


yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(max_size=20), st.sampled_from(["{{ x }}", "PT1S", "*/5 * * * *", "&a", "*a"]),
)  # fmt: skip
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["id", "type", "tasks", "message", "x"]), inner, max_size=4
        )
    ),
    max_leaves=20,
)
task_types = st.sampled_from(
    [
        "io.kestra.plugin.core.log.Log",
        "io.kestra.plugin.core.flow.Sleep",
        "io.kestra.plugin.core.flow.ForEach",
        "io.kestra.plugin.core.flow.Parallel",
        "io.kestra.plugin.core.flow.Dag",
        "io.kestra.plugin.core.flow.Subflow",
        "io.kestra.plugin.scripts.shell.Commands",
        "io.kestra.plugin.core.http.Request",
        "io.kestra.plugin.core.trigger.Schedule",
        "nope",
    ]
)
tasks = st.lists(
    st.fixed_dictionaries(
        {"id": st.text(alphabet="abc_-1.", min_size=0, max_size=4), "type": task_types},
        optional={
            "message": yaml_values, "duration": yaml_values, "tasks": yaml_values,
            "values": yaml_values, "uri": yaml_values, "commands": yaml_values,
            "retry": yaml_values, "timeout": yaml_values, "dependsOn": yaml_values,
        },
    ),
    max_size=4,
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tasks,
    st.dictionaries(
        st.sampled_from(["inputs", "triggers", "labels", "concurrency", "outputs", "variables"]),
        yaml_values,
        max_size=3,
    ),
)
def test_the_validator_fuzzed_with_flow_shapes(
    task_list: list[dict[str, object]], extra: dict[str, object]
) -> None:
    import json

    text = (
        HEAD
        + f"tasks: {json.dumps(task_list)}\n"
        + "".join(f"{key}: {json.dumps(value)}\n" for key, value in extra.items())
    )
    try:
        load_flow(text, default_registries())
    except FlowDefinitionError as error:
        _problems_are_located(error)
    except PodiumError as error:  # pragma: no cover - reported as the failure it is
        raise AssertionError(f"{type(error).__name__} instead of FlowDefinitionError") from error


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_the_loader_fuzzed_with_bytes(data: bytes) -> None:
    try:
        load_yaml(data)
    except FlowDefinitionError as error:
        _problems_are_located(error)


async def test_the_api_answers_each_bad_flow_with_a_located_4xx(server: Server) -> None:
    import io

    headers = {"Content-Type": "application/x-yaml"}
    for name, source in sorted(BAD_FLOWS.items()):
        body = source.encode()
        url = server.base + "/api/v1/flows"
        async with server.http.post(url, data=io.BytesIO(body), headers=headers) as answer:
            text = await answer.text()
            assert 400 <= answer.status < 500, (name, answer.status, text[:300])
            if answer.status == 422:
                problems = (await answer.json()).get("problems") or []
                assert problems and all(p.get("line") for p in problems), (name, text[:300])
    async with server.http.get(server.base + "/api/v1/flows/search") as answer:
        assert answer.status == 200 and "attacks" not in await answer.text()


@pytest.mark.parametrize("key", ["inputs", "triggers", "labels", "pluginDefaults", "tasks"])
@pytest.mark.parametrize("value", [True, 3, "text"])
def test_a_flow_part_of_the_wrong_shape_is_a_positioned_error(key: str, value: object) -> None:
    """Found by the fuzzer above: `inputs: true` crashed the loader's legacy rewriting."""
    source = f"id: shapes\nnamespace: t\ntasks: []\n{key}: {json.dumps(value)}\n"
    if key == "tasks":
        source = f"id: shapes\nnamespace: t\ntasks: {json.dumps(value)}\n"
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(source, default_registries())
    assert caught.value.problems, caught.value
