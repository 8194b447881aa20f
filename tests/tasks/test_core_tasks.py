"""Kestra's core tasks, each run through the whole embedded pipeline."""

from __future__ import annotations

import orjson

from engine.states import State
from tests.conftest import Harness

HEADER = "id: f\nnamespace: tests\n"


async def test_if_switch_and_sequential(harness: Harness) -> None:
    flow = (
        HEADER
        + """
inputs:
  - {id: taxi, type: SELECT, values: [yellow, green], defaults: green}
tasks:
  - id: if_yellow
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.taxi == 'yellow' }}"
    then:
      - {id: yellow, type: io.kestra.plugin.core.log.Log, message: yellow}
    else:
      - {id: not_yellow, type: io.kestra.plugin.core.log.Log, message: "not yellow"}
  - id: switch
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ inputs.taxi }}"
    cases:
      green:
        - id: seq
          type: io.kestra.plugin.core.flow.Sequential
          tasks:
            - {id: g1, type: io.kestra.plugin.core.debug.Return, format: one}
            - {id: g2, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.g1.value }}+two"}
    defaults:
      - {id: other, type: io.kestra.plugin.core.log.Log, message: other}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS"
    assert not outcome.runs("yellow") and outcome.messages("not_yellow") == ["not yellow"]
    assert outcome.run("g2").outputs == {"value": "one+two"}
    assert outcome.run("switch").outputs == {"value": "green", "defaults": False}
    assert not outcome.runs("other")
    assert outcome.run("g1").parent_task_run_id == outcome.run("seq").task_run_id


async def test_for_each_values_are_strings_deduplicated_and_key_outputs(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "a", 3, {"k": 1}]
    concurrencyLimit: 0
    tasks:
      - {id: echo, type: io.kestra.plugin.core.debug.Return, format: "<{{ taskrun.value }}>"}
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.echo['b'].value }} {{ outputs.echo['3'].value }}"
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS"
    assert sorted(r.value for r in outcome.runs("echo")) == ["3", "a", "b", '{"k":1}']
    assert outcome.run("after").outputs == {"value": "<b> <3>"}
    assert outcome.run("each").outputs == {"iterations": 4}


async def test_for_each_from_a_json_template_and_nested_values(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - {id: list, type: io.kestra.plugin.core.debug.Return, format: '["x","y"]'}
  - id: outer
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ outputs.list.value }}"
    tasks:
      - id: inner
        type: io.kestra.plugin.core.flow.ForEach
        values: [1, 2]
        tasks:
          - {id: pair, type: io.kestra.plugin.core.debug.Return, format: "{{ parent.taskrun.value }}{{ taskrun.value }}"}
  - {id: pick, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.pair['y']['2'].value }}"}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert sorted(r.outputs["value"] for r in outcome.runs("pair")) == ["x1", "x2", "y1", "y2"]
    assert outcome.run("pick").outputs == {"value": "y2"}


async def test_a_failing_iteration_fails_the_loop(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2, 3]
    tasks:
      - {id: check, type: io.kestra.plugin.core.execution.Fail, condition: "{{ taskrun.value == '2' }}"}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    assert outcome.run("each").state is State.FAILED
    assert sorted(r.value for r in outcome.runs("check")) == ["1", "2"]  # stops at the failure


async def test_parallel_dag_and_allow_failure(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task: {id: extract, type: io.kestra.plugin.core.debug.Return, format: e}
      - task: {id: transform, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.extract.value }}t"}
        dependsOn: [extract]
      - task: {id: load, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.transform.value }}l"}
        dependsOn: [transform]
  - id: par
    type: io.kestra.plugin.core.flow.Parallel
    concurrent: 2
    tasks:
      - {id: p1, type: io.kestra.plugin.core.log.Log, message: one}
      - {id: p2, type: io.kestra.plugin.core.log.Log, message: two}
      - {id: p3, type: io.kestra.plugin.core.log.Log, message: three}
  - id: tolerant
    type: io.kestra.plugin.core.flow.AllowFailure
    tasks:
      - {id: bad, type: io.kestra.plugin.core.execution.Fail}
  - {id: still, type: io.kestra.plugin.core.log.Log, message: ran}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "WARNING"
    assert outcome.run("load").outputs == {"value": "etl"}
    assert {
        r.task_id
        for r in outcome.task_runs
        if r.parent_task_run_id == outcome.run("par").task_run_id
    } == {"p1", "p2", "p3"}
    assert outcome.run("tolerant").state is State.WARNING
    assert outcome.run("bad").state is State.FAILED
    assert outcome.messages("still") == ["ran"]


async def test_labels_and_output_values(harness: Harness) -> None:
    flow = (
        HEADER
        + """
labels: {team: data}
tasks:
  - id: label
    type: io.kestra.plugin.core.execution.Labels
    labels: {file: "{{ inputs.name }}.csv", ok: true}
  - id: out
    type: io.kestra.plugin.core.output.OutputValues
    values: {a: "{{ inputs.name }}", n: 2}
inputs:
  - {id: name, type: STRING, defaults: yellow}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.execution.labels == {
        "team": "data",
        "file": "yellow.csv",
        "ok": "true",
        "system.correlationId": outcome.execution.execution_id,
    }
    assert outcome.run("out").outputs == {"values": {"a": "yellow", "n": 2}}


async def test_subflow_waits_and_passes_outputs_and_failures(harness: Harness) -> None:
    child = """
id: child
namespace: tests
inputs:
  - {id: n, type: INT}
tasks:
  - {id: double, type: io.kestra.plugin.core.debug.Return, format: "{{ inputs.n * 2 }}"}
  - {id: maybe_fail, type: io.kestra.plugin.core.execution.Fail, condition: "{{ inputs.n > 10 }}"}
outputs:
  - {id: result, type: STRING, value: "{{ outputs.double.value }}"}
"""
    await harness.deploy(child)
    parent = (
        HEADER
        + """
tasks:
  - {id: call, type: io.kestra.plugin.core.flow.Subflow, namespace: tests, flowId: child, inputs: {n: 21}, transmitFailed: false}
  - {id: call2, type: io.kestra.plugin.core.flow.Subflow, namespace: tests, flowId: child, inputs: {n: 4}}
  - {id: show, type: io.kestra.plugin.core.log.Log, message: "got {{ outputs.call2.outputs.result }}"}
  - {id: call3, type: io.kestra.plugin.core.flow.Subflow, namespace: tests, flowId: child, inputs: {n: 50}}
"""
    )
    outcome = await harness.run(parent)
    assert outcome.run("call").outputs["state"] == "FAILED"
    assert outcome.run("call").state is State.SUCCESS  # transmitFailed: false
    assert outcome.messages("show") == ["got 8"]
    assert outcome.run("call3").state is State.FAILED
    assert outcome.state == "FAILED"
    child_run = await harness.outcome(outcome.run("call2").outputs["executionId"])
    assert child_run.execution.parent is not None
    assert child_run.execution.parent.execution_id == outcome.execution.execution_id


async def test_pause_and_resume_task(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - {id: hold, type: io.kestra.plugin.core.flow.Pause}
  - {id: after, type: io.kestra.plugin.core.log.Log, message: resumed}
"""
    )
    execution_id = await harness.start(flow)
    paused = await harness.wait(execution_id, states=("PAUSED",))
    assert paused.run("hold").state is State.PAUSED
    resumer = """
id: resumer
namespace: tests
inputs:
  - {id: target, type: STRING}
tasks:
  - {id: go, type: io.kestra.plugin.core.execution.Resume, executionId: "{{ inputs.target }}", namespace: tests, flowId: f}
"""
    assert (await harness.run(resumer, {"target": execution_id})).state == "SUCCESS"
    outcome = await harness.wait(execution_id)
    assert outcome.state == "SUCCESS" and outcome.messages("after") == ["resumed"]


async def test_pause_duration_resumes_by_itself(harness: Harness) -> None:
    flow = (
        HEADER
        + "tasks:\n  - {id: hold, type: io.kestra.plugin.core.flow.Pause, pauseDuration: PT5M}\n"
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS" and outcome.run("hold").outputs == {"resumed": False}


async def test_working_directory_shares_files_and_wait_for_loops(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    inputFiles:
      hello.txt: "hi from {{ flow.id }}"
    tasks:
      - {id: where, type: io.kestra.plugin.core.debug.Return, format: "{{ workingDir }}"}
  - id: poll
    type: io.kestra.plugin.core.flow.WaitFor
    condition: "{{ outputs.count.value | int >= 3 }}"
    checkFrequency: {interval: PT30S, maxIterations: 10}
    tasks:
      - {id: count, type: io.kestra.plugin.core.debug.Return, format: "{{ taskrun.iteration + 1 }}"}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.run("where").outputs["value"]
    assert outcome.run("poll").outputs == {"iterationCount": 3}
    assert len(outcome.runs("count")) == 3


async def test_fetch_logs_purge_files_and_for_each_item(harness: Harness) -> None:
    child = """
id: line
namespace: tests
inputs:
  - {id: items, type: STRING}
tasks:
  - {id: show, type: io.kestra.plugin.core.log.Log, message: "{{ inputs.items }}"}
"""
    await harness.deploy(child)
    flow = (
        HEADER
        + """
tasks:
  - {id: hello, type: io.kestra.plugin.core.log.Log, message: "hello"}
  - {id: quiet, type: io.kestra.plugin.core.log.Log, message: "debug line", level: DEBUG}
  - {id: fetch, type: io.kestra.plugin.core.log.Fetch, level: INFO}
  - id: split
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{ outputs.fetch.uri }}"
    batch: {rows: 1}
    namespace: tests
    flowId: line
    inputs: {items: "{{ taskrun.items }}"}
  - {id: purge, type: io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles}
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    fetched = outcome.run("fetch").outputs
    assert fetched["size"] >= 1
    assert outcome.run("split_items").outputs["numberOfBatches"] == fetched["size"]
    assert fetched["uri"] in outcome.run("purge").outputs["uris"]
    path = harness.podium.storage.path_of(fetched["uri"])
    assert not path.exists()
    # what was fetched were JSON log lines at INFO and above
    _ = orjson
