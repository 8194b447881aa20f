"""Static template checks at flow load: each problem at file:line:column, and no false
positives on the templates real flows write."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from engine.catalog import default_registries
from engine.errors import FlowDefinitionError
from engine.flow import load_flow
from engine.templating.checks import analyze

ROOT = Path(__file__).resolve().parents[2]
REGISTRIES = default_registries()

BAD = """\
id: bad
namespace: company.team
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.second.value }} and {{ 'x' | uper }}"
  - id: second
    type: io.kestra.plugin.core.debug.Return
    format: |
      line one
      {{ now() | dat('yyyy') }} {{ outputs.frist.value }}
  - id: third
    type: io.kestra.plugin.core.log.Log
    message: "{{ fromJsn('x') }}{% if x is nul %}{% endif %}"
  - id: fourth
    type: io.kestra.plugin.core.log.Log
    message: |
      ok
      {{ 'a' ~ }}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(text, REGISTRIES, source="flow.yaml")
    return [str(p) for p in caught.value.problems]


def test_each_problem_is_placed_and_explained() -> None:
    assert problems(BAD) == [
        "flow.yaml:6:18: tasks[0].message: 'outputs.second': task 'second' does not run "
        "before this one, so its outputs are not available here",
        "flow.yaml:6:55: tasks[0].message: unknown template filter 'uper'; "
        "did you mean 'upper' or 'number'?",
        "flow.yaml:11:18: tasks[1].format: unknown template filter 'dat'; "
        "did you mean 'date' or 'default'?",
        "flow.yaml:11:36: tasks[1].format: 'outputs.frist': no task has the id 'frist'; "
        "did you mean 'first'?",
        "flow.yaml:14:18: tasks[2].message: unknown template function 'fromJsn'; "
        "did you mean 'fromJson' or 'fromIon'?",
        "flow.yaml:14:44: tasks[2].message: unknown template test 'nul'; did you mean 'null'?",
        "flow.yaml:19:7: tasks[3].message: template syntax error: "
        "unexpected 'end of print statement'",
    ]


def test_the_cli_reports_them(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "flow", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert (
        f"{path}:11:36: tasks[1].format: 'outputs.frist': no task" in result.stdout + result.stderr
    )


ORDER = """\
id: order
namespace: company.team
tasks:
  - id: check
    type: io.kestra.plugin.core.flow.If
    condition: "{{ true }}"
    then:
      - id: yes
        type: io.kestra.plugin.core.debug.Return
        format: "y"
    else:
      - id: no
        type: io.kestra.plugin.core.log.Log
        message: "{{ outputs.yes.value }}"
  - id: main
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.cleanup.value }}"
errors:
  - id: cleanup
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.main }}"
"""


def test_branches_and_error_handlers_do_not_run_before() -> None:
    found = problems(ORDER)
    assert [re.sub(r"^flow.yaml:\d+:\d+: ", "", p).split(":")[0] for p in found] == [
        "tasks[0].else[0].message",
        "tasks[1].message",
    ]
    assert "task 'yes' does not run before this one" in found[0]
    assert "task 'cleanup' does not run before this one" in found[1]


GOOD = """\
id: good
namespace: company.team
description: "{{ this is documentation, not a template }}"
variables:
  file: "{{ outputs.extract.value }}_{{ inputs.year }}.csv"
inputs:
  - id: year
    type: INT
    defaults: 2024
    description: "{{ also documentation"
tasks:
  - id: extract
    type: io.kestra.plugin.core.debug.Return
    format: "{{ render(vars.file) }} {{ kv('KEY') }} {{ read('a.sql') | trim }}"
  - id: raw
    type: io.kestra.plugin.core.log.Log
    message: "{% raw %}{{ outputs.nowhere | nofilter }}{% endraw %} {{ render('{{ outputs.later.value }}') }}"
  - id: pebble
    type: io.kestra.plugin.core.log.Log
    message: >-
      {{ outputs.extract.value ?? 'none' }} {{ outputs.extract ??? 'x' }}
      {{ inputs.year > 2000 ? 'new' : 'old' }} {{ [1, 2] contains 1 }} {{ null }}
      {{ outputs[taskrun.value] ?? '' }} {{ outputs['extract'].value }}
      {% for key, value in outputs.items() %}{{ key }}{% endfor %}
      {% set f = 'x' %}{% macro m(a) %}{{ a }}{% endmacro %}{{ m(f) }}
      {% for i in range(3) %}{{ loop.index }}{% endfor %}{{ 'a' is startsWith('a') }}
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b"]
    tasks:
      - id: inner
        type: io.kestra.plugin.core.debug.Return
        format: "{{ taskrun.value }} {{ outputs.inner2[taskrun.value] ?? '' }}"
      - id: inner2
        type: io.kestra.plugin.core.debug.Return
        format: "{{ currentEachOutput(outputs.inner).value }} {{ parents[0].taskrun.value }}"
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: left
        type: io.kestra.plugin.core.debug.Return
        format: "{{ outputs.right.value ?? '' }}"
      - id: right
        type: io.kestra.plugin.core.debug.Return
        format: "{{ outputs.inner.a.value }}"
  - id: wait
    type: io.kestra.plugin.core.flow.WaitFor
    condition: "{{ outputs.probe.value == 'done' }}"
    tasks:
      - id: probe
        type: io.kestra.plugin.core.debug.Return
        format: "{{ outputs.wait ?? '' }}"
  - id: sub
    type: io.kestra.plugin.core.flow.Subflow
    namespace: company.team
    flowId: child
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.sub.outputs.x ?? '' }} {{ outputs.left.value }}"
errors:
  - id: alert
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.after ?? outputs.extract.value }}"
finally:
  - id: done
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.alert ?? '' }} {{ outputs.extract.value }}"
afterExecution:
  - id: report
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.done ?? '' }}"
outputs:
  - id: result
    type: STRING
    value: "{{ outputs.after ?? outputs.done }}"
"""


def test_legitimate_templates_pass() -> None:
    flow = load_flow(GOOD, REGISTRIES, source="good.yaml")
    assert flow.id == "good"


_DELIBERATELY_BAD = {"test_template_checks.py", "test_flow_template_checks.py"}


def _flow_sources() -> list[tuple[str, str]]:
    found = []
    roots = [ROOT / "tests", ROOT / "docs", ROOT / "README.md", Path("/work/shared/flows")]
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*")) if root.exists() else []
        for path in files:
            if path.suffix in (".yaml", ".yml"):
                found.append((str(path), path.read_text(errors="replace")))
            elif path.suffix == ".py" and path.name not in _DELIBERATELY_BAD:
                found += [
                    (f"{path}:{node.lineno}", node.value)
                    for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and "tasks:" in node.value
                    and "namespace" in node.value
                ]
            elif path.suffix == ".md":
                blocks = re.findall(r"```ya?ml\n(.*?)```", path.read_text(), re.S)
                found += [(f"{path}#{i}", b) for i, b in enumerate(blocks) if "tasks:" in b]
    return found


def test_no_false_positive_on_the_projects_flows() -> None:
    """Every flow of the tests (YAML files and flows written inline), the docs and the
    course that loads without the template checks loads with them too."""
    checked = 0
    for name, text in _flow_sources():
        try:
            load_flow(text, REGISTRIES, source=name, check_templates=False)
        except FlowDefinitionError:
            continue  # fragments and deliberately broken flows
        load_flow(text, REGISTRIES, source=name)
        checked += 1
    assert checked >= 50


def test_analysis_is_cached_and_pure() -> None:
    assert analyze("{{ outputs.a.b | upper }}") is analyze("{{ outputs.a.b | upper }}")
    assert [f.kind for f in analyze("{{ jq }}{{ x | jq('.') }}")] == []


async def test_stored_revisions_are_not_rechecked(tmp_path: Path) -> None:
    """A revision saved before a check existed keeps running; saving it again is refused."""
    from engine.flows import FlowRepository
    from engine.store import open_store

    async with open_store(f"sqlite:///{tmp_path / 'podium.db'}") as store:
        await store.save_flow("company.team", "bad", BAD)  # as an older Podium stored it
        flows = FlowRepository(store, REGISTRIES)
        flow = await flows.get("company.team", "bad")
        assert flow is not None and flow.revision == 1
        with pytest.raises(FlowDefinitionError, match="unknown template filter 'uper'"):
            await flows.save(BAD)


def test_a_disabled_task_is_not_checked() -> None:
    source = """
id: stale
namespace: t
tasks:
  - id: old
    type: io.kestra.plugin.core.log.Log
    disabled: true
    message: "{{ outputs.later.value }} {{ nosuchfunction() }}"
  - id: later
    type: io.kestra.plugin.core.debug.Return
    format: x
"""
    assert load_flow(source, REGISTRIES).id == "stale"


NESTED = """\
id: nested
namespace: company.team
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.deep.value }}"
  - id: group
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: deep
        type: io.kestra.plugin.core.debug.Return
        format: "{{ outputs.first }} {{ outputs.group }}"
      - id: deeper
        type: io.kestra.plugin.core.debug.Return
        format: "{{ outputs.deep.value }} {{ outputs.last }}"
  - id: last
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.deeper.value }} {{ outputs.first }}"
"""


def test_what_ran_before_is_every_earlier_sibling_of_the_task_and_of_its_ancestors() -> None:
    found = problems(NESTED)
    assert [re.sub(r"^flow.yaml:\d+:\d+: ", "", p) for p in found] == [
        "tasks[0].message: 'outputs.deep': task 'deep' does not run before this one, "
        "so its outputs are not available here",
        "tasks[1].tasks[1].format: 'outputs.last': task 'last' does not run before this "
        "one, so its outputs are not available here",
    ]


def test_a_subflows_deprecated_outputs_name_the_subflows_tasks_and_are_checked_for_syntax() -> None:
    flow = """\
id: parent
namespace: company.team
tasks:
  - id: sub
    type: io.kestra.plugin.core.flow.Subflow
    namespace: company.team
    flowId: child
    outputs:
      x: "{{ outputs.inner.value }}"
      y: "{{ outputs.inner.value | uper }}"
    inputs:
      z: "{{ outputs.inner.value }}"
"""
    assert problems(flow) == [
        "flow.yaml:10:36: tasks[0].outputs.y: unknown template filter 'uper'; "
        "did you mean 'upper' or 'number'?",
        "flow.yaml:12:14: tasks[0].inputs.z: 'outputs.inner': no task has the id 'inner'",
    ]
