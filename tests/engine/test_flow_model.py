"""Loading flows: the shared Kestra flows load; every problem is located precisely."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.catalog import default_registries
from engine.errors import FlowDefinitionError
from engine.flow import NOT_YAML, Flow, PluginDefault, load_flow
from tests.conftest import COURSE_FLOW_NAMES, course_flow


def load(text: str) -> Flow:
    return load_flow(text, default_registries(), source="flow.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(FlowDefinitionError) as caught:
        load(text)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("name", COURSE_FLOW_NAMES)
def test_every_shared_flow_loads(name: str) -> None:
    path = course_flow(name)
    flow = load_flow(path.read_text(), default_registries(), source=path.name)
    assert flow.namespace == "zoomcamp"
    assert list(flow.all_tasks())


def test_hello_world_model() -> None:
    flow = load(course_flow("01_hello_world.yaml").read_text())
    assert flow.concurrency is not None and flow.concurrency.limit == 2
    assert flow.concurrency.behavior == "FAIL"
    sleep = flow.find_task("sleep")
    assert sleep is not None and sleep.duration == timedelta(seconds=15)  # type: ignore[attr-defined]
    # pluginDefaults are merged into the tasks of that type
    log = flow.find_task("hello_message")
    assert log is not None and log.level == "ERROR"  # type: ignore[attr-defined]
    assert flow.triggers[0].disabled


def test_plugin_defaults_reach_nested_tasks_and_never_override() -> None:
    flow = load(
        """
id: f
namespace: n
tasks:
  - id: branch
    type: io.kestra.plugin.core.flow.If
    condition: "true"
    then:
      - id: inner
        type: io.kestra.plugin.core.log.Log
        message: hi
      - id: own
        type: io.kestra.plugin.core.log.Log
        message: hi
        level: DEBUG
pluginDefaults:
  - type: io.kestra.plugin.core.log
    values: {level: WARN}
"""
    )
    assert flow.find_task("inner").level == "WARN"  # type: ignore[union-attr]
    assert flow.find_task("own").level == "DEBUG"  # type: ignore[union-attr]


def test_forced_plugin_defaults_win() -> None:
    flow = load(
        """
id: f
namespace: n
tasks:
  - {id: own, type: io.kestra.plugin.core.log.Log, message: hi, level: DEBUG}
pluginDefaults:
  - {type: io.kestra.plugin.core.log.Log, forced: true, values: {level: ERROR}}
"""
    )
    assert flow.find_task("own").level == "ERROR"  # type: ignore[union-attr]


def test_errors_name_file_line_column_and_path() -> None:
    found = problems(
        """id: f
namespace: n
tasks:
  - id: a
    type: io.kestra.plugin.core.flow.If
    condition: "{{ true }}"
    then:
      - id: b
        type: io.kestra.plugin.core.log.Log
        mesage: hi
"""
    )
    assert any(
        p.startswith("flow.yaml:10:9: tasks[0].then[0].mesage: unknown property 'mesage'")
        and "'message'" in p
        for p in found
    ), found


def test_unknown_task_type_suggests_the_right_one() -> None:
    [problem] = problems(
        """id: f
namespace: n
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Logg
    message: hi
"""
    )
    assert "flow.yaml:5:" in problem and "tasks[0].type" in problem
    assert "did you mean 'io.kestra.plugin.core.log.Log'" in problem


def test_every_problem_is_reported_not_only_the_first() -> None:
    found = problems(
        """id: f
namespace: n
tasks:
  - {id: a, type: io.kestra.plugin.core.flow.Sleep, duration: soon}
  - {id: a, type: io.kestra.plugin.core.log.Log, message: x}
  - {id: c, type: io.kestra.plugin.core.debug.Return, format: 1, bogus: 2}
"""
    )
    text = "\n".join(found)
    assert "tasks[0].duration" in text and "ISO-8601" in text
    assert "duplicate task id 'a'" in text
    assert "unknown property 'bogus'" in text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("tasks: []", "tasks: a task list cannot be empty"),
        ("tasks: {}", "expected a list of tasks"),
        ("", "needs a 'tasks' list"),
        (
            "tasks:\n  - {id: x, type: io.kestra.plugin.core.flow.If, condition: a, then: []}",
            "then: a task list cannot be empty",
        ),
        (
            "tasks:\n  - {id: 'bad id', type: io.kestra.plugin.core.log.Log, message: x}",
            "tasks[0].id",
        ),
        ("tasks:\n  - {id: x, message: hi}", "needs a 'type'"),
        (
            "tasks:\n  - {id: x, type: io.kestra.plugin.core.log.Log, message: x, retry: {type: constant, interval: PT1S}}",
            "maxAttempts",
        ),
    ],
)
def test_rejected_at_load(body: str, expected: str) -> None:
    text = "id: f\nnamespace: n\n" + body + "\n"
    assert any(expected in p for p in problems(text)), problems(text)


def test_dag_rejects_cycles_and_unknown_dependencies() -> None:
    found = problems(
        """id: f
namespace: n
tasks:
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task: {id: a, type: io.kestra.plugin.core.log.Log, message: a}
        dependsOn: [b]
      - task: {id: b, type: io.kestra.plugin.core.log.Log, message: b}
        dependsOn: [a, nope]
"""
    )
    text = "\n".join(found)
    assert "tasks[0].tasks[1].dependsOn[1]: unknown task 'nope'" in text
    assert "dependency cycle" in text


def test_legacy_spellings_are_accepted() -> None:
    flow = load(
        """id: f
namespace: n
labels:
  - {key: team, value: data}
inputs:
  - {id: flag, type: BOOLEAN, defaults: true}
tasks:
  - id: a
    type: io.kestra.core.tasks.log.Log
    message: x
    retry: {type: constant, interval: PT1S, maxAttempt: 3}
"""
    )
    task = flow.find_task("a")
    assert task is not None and task.retry is not None and task.retry.maxAttempts == 3
    assert flow.labels == {"team": "data"}


def test_plugin_default_errors_say_where_the_value_came_from() -> None:
    found = problems(
        """id: f
namespace: n
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: x}
pluginDefaults:
  - {type: io.kestra.plugin.core.log, values: {level: LOUD, colour: red}}
"""
    )
    assert any("level" in p and "pluginDefaults[0]" in p for p in found), found
    # A default the type does not have is left out, as Kestra (kestra-io/kestra#8600:
    # one `io.kestra.plugin.core` entry sets `level` for Log and `uri` for Download).
    assert not any("colour" in p for p in found), found


def test_trigger_shapes_are_checked() -> None:
    found = problems(
        """id: f
namespace: n
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: x}
triggers:
  - {id: s, type: io.kestra.plugin.core.trigger.Schedule, cron: "every day"}
  - {id: w, type: io.kestra.plugin.core.trigger.Webhok, key: k}
"""
    )
    text = "\n".join(found)
    assert "triggers[0].cron" in text
    assert "did you mean 'io.kestra.plugin.core.trigger.Webhook'" in text


def test_server_plugin_defaults_come_after_the_flows_unless_forced() -> None:
    from engine.flow import PluginDefault

    text = """id: f
namespace: n
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: x}
  - {id: b, type: io.kestra.plugin.core.debug.Return}
pluginDefaults:
  - {type: io.kestra.plugin.core.log.Log, values: {level: DEBUG}}
"""
    server = [
        PluginDefault(type="io.kestra.plugin.core.log", values={"level": "WARN"}),
        PluginDefault(
            type="io.kestra.plugin.core.debug.Return", values={"format": "forced"}, forced=True
        ),
    ]
    flow = load_flow(text, default_registries(), global_defaults=server)
    assert flow.find_task("a").level == "DEBUG"  # type: ignore[union-attr]
    assert flow.find_task("b").format == "forced"  # type: ignore[union-attr]


def test_a_flow_knows_at_load_whether_any_of_its_values_says_read() -> None:
    """Task runs look for `read(` in their task only when the flow says it somewhere,
    defaults merged: a server-wide default does not show in the flow's text."""
    text = """id: f
namespace: n
variables: {where: conf.txt}
tasks:
  - {id: a, type: io.kestra.plugin.core.debug.Return, format: "{{ vars.where }}"}
"""
    assert load_flow(text, default_registries()).may_read_files is False
    reading = text.replace("{{ vars.where }}", "{{ read(vars.where) }}")
    assert load_flow(reading, default_registries()).may_read_files is True
    in_variables = text.replace("{where: conf.txt}", "{where: \"{{ read('conf.txt') }}\"}")
    assert load_flow(in_variables, default_registries()).may_read_files is True
    server = [
        PluginDefault(
            type="io.kestra.plugin.core.debug.Return",
            values={"format": "{{ read('conf.txt') }}"},
            forced=True,
        )
    ]
    defaulted = load_flow(text, default_registries(), global_defaults=server)
    assert defaulted.may_read_files is True


def test_what_loading_sets_is_not_offered_as_yaml() -> None:
    from engine.plugin_schema import flow_schema

    schema = flow_schema(default_registries())
    offered = schema["definitions"]["io.kestra.core.models.flows.Flow"]["properties"]
    assert not set(NOT_YAML) & offered.keys()
    with pytest.raises(FlowDefinitionError) as raised:
        load_flow("id: f\nnamespace: n\nmay_read_file: x\ntasks: []\n", default_registries())
    assert "unknown property 'may_read_file'" in str(raised.value)
    assert "may_read_files" not in str(raised.value)  # no "did you mean"
