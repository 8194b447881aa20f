"""`read()`: namespace files of the flow's namespace or another named one, `nsfile://`,
an execution's own files and its parent's (a subflow), and nothing else."""

from __future__ import annotations

from tests.conftest import Harness

READS = """
id: reads
namespace: team.a
variables:
  where: "{{ read('conf/where.txt') }}"
tasks:
  - id: own
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('conf/where.txt') }}|{{ read('/conf/where.txt') }}|{{ read('nsfile:///conf/where.txt') }}"
  - id: other
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('conf/where.txt', namespace='team.b') }}|{{ read('nsfile://team.b/conf/where.txt') }}"
  - id: variables
    type: io.kestra.plugin.core.debug.Return
    format: "{{ render(vars.where) }}"
"""


async def test_namespace_files_by_path_namespace_and_scheme(real_time_harness: Harness) -> None:
    files = real_time_harness.podium.namespace_files
    await files.write("team.a", {"conf/where.txt": b"A"})
    await files.write("team.b", {"conf/where.txt": b"B"})
    outcome = await real_time_harness.run(READS)
    assert outcome.state == "SUCCESS", outcome.messages()
    assert outcome.run("own").outputs["value"] == "A|A|A"
    assert outcome.run("other").outputs["value"] == "B|B"
    assert outcome.run("variables").outputs["value"] == "A"


async def test_what_read_refuses(real_time_harness: Harness) -> None:
    files = real_time_harness.podium.namespace_files
    await files.write("team.a", {"a.txt": b"a"})
    cases = {
        "missing": ("read('nope.txt')", "no such file in namespace team.a"),
        "traversal": ("read('../b/a.txt')", "'..' parts"),
        "version": ("read('a.txt', version=1)", "earlier revisions"),
        "escape": ("read('kestra:///../etc/passwd')", "escapes the storage root"),
        "dynamic_namespace": ("read('a.txt', namespace=vars.ns)", "name the namespace literally"),
    }
    tasks = "\n".join(
        f"  - {{id: {name}, type: io.kestra.plugin.core.debug.Return, allowFailure: true, "
        f'format: "{{{{ {expression} }}}}"}}'
        for name, (expression, _) in cases.items()
    )
    outcome = await real_time_harness.run(
        f"id: refused\nnamespace: team.a\nvariables: {{ns: team.b}}\ntasks:\n{tasks}\n"
    )
    for name, (_, message) in cases.items():
        assert message in (outcome.run(name).error or ""), (name, outcome.run(name).error)


PARENT = """
id: parent
namespace: team.a
tasks:
  - id: write
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    outputFiles: [data.txt]
    commands: [echo from-the-parent > data.txt]
  - id: child
    type: io.kestra.plugin.core.flow.Subflow
    namespace: team.b
    flowId: child
    inputs: {file: "{{ outputs.write.outputFiles['data.txt'] }}"}
"""

CHILD = """
id: child
namespace: team.b
inputs:
  - {id: file, type: STRING}
tasks:
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(inputs.file) | trim }}"
outputs:
  - {id: text, type: STRING, value: "{{ outputs.read.value }}"}
"""


async def test_a_subflow_reads_its_parents_file_and_no_one_else_does(
    real_time_harness: Harness,
) -> None:
    await real_time_harness.deploy(CHILD)
    parent = await real_time_harness.run(PARENT)
    assert parent.state == "SUCCESS", parent.messages()
    assert parent.run("child").outputs["outputs"]["text"] == "from-the-parent"
    uri = parent.run("write").outputs["outputFiles"]["data.txt"]
    alone = await real_time_harness.run(CHILD, inputs={"file": uri})
    assert alone.state == "FAILED"
    assert "does not belong to this execution" in (alone.run("read").error or "")
