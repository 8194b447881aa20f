"""namespace.UploadFiles / DownloadFiles / DeleteFiles and the `namespaceFiles` pattern
rules, as Kestra has them."""

from __future__ import annotations

import pytest

from tasks.scripts.nsfiles import path_predicate
from tests.conftest import Harness


@pytest.mark.parametrize(
    ("includes", "excludes", "path", "expected"),
    [
        (["main.py"], [], "/main.py", True),  # a word-first pattern gets **/ in front
        (["main.py"], [], "/src/main.py", True),
        (["src/*"], [], "/src/a.py", True),
        (["src/*"], [], "/src/deep/a.py", False),  # * stays in one folder
        (["src/**"], [], "/src/deep/a.py", True),
        (["/src/*.py"], [], "/lib/src/a.py", False),  # a leading / anchors
        (["**.sql"], [], "/q/a.sql", True),
        (["*.{py,sql}"], [], "/x.sql", False),  # starts with *: no **/; * keeps out of /
        (["glob:/*.{py,sql}"], [], "/x.sql", True),
        (["regex:.*\\.csv"], [], "/d/x.csv", True),
        ([], ["**.md"], "/README.md", False),
        ([], ["**.md"], "/a.py", True),
        (["**"], ["tests/**"], "/tests/t.py", False),
    ],
)
def test_kestra_path_patterns(
    includes: list[str], excludes: list[str], path: str, expected: bool
) -> None:
    assert path_predicate(includes, excludes)(path) is expected


FLOW = """
id: ns_tasks
namespace: team
tasks:
  - id: make
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: write
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner: {type: io.kestra.plugin.core.runner.Process}
        commands: ["mkdir -p out/sub && echo a > out/a.txt && echo b > out/sub/b.txt && echo c > c.log"]
      - id: upload_globs
        type: io.kestra.plugin.core.namespace.UploadFiles
        namespace: team
        files: ["out/**"]
        destination: /uploaded
  - id: skip_existing
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: team
    conflict: SKIP
    files:
      /uploaded/out/a.txt: "{{ outputs.write.exitCode }}"
  - id: download
    type: io.kestra.plugin.core.namespace.DownloadFiles
    namespace: team
    files: "/uploaded/**"
  - id: delete
    type: io.kestra.plugin.core.namespace.DeleteFiles
    namespace: team
    files: ["sub/*.txt"]
    deleteParentFolder: true
"""


async def test_upload_download_delete(real_time_harness: Harness) -> None:
    files = real_time_harness.podium.namespace_files
    outcome = await real_time_harness.run(
        FLOW.replace('"{{ outputs.write.exitCode }}"', "kestra:///nowhere")
    )
    # the map form's value must be a file of this execution: kestra:///nowhere is not one
    assert outcome.state == "FAILED"
    assert "skip_existing" in {r.task_id for r in outcome.task_runs}

    await files.write("team", {"keep.txt": b"k", "uploaded/out__a.txt": b"same storage name"})
    flow = FLOW.replace(
        '      /uploaded/out/a.txt: "{{ outputs.write.exitCode }}"',
        '      /uploaded/out/a.txt: "{{ outputs.download.files is defined }}"',
    )
    flow = flow.replace("  - id: skip_existing", "  - id: skip_existing\n    disabled: true")
    outcome = await real_time_harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.messages()
    downloaded = outcome.run("download").outputs["files"]
    assert sorted(downloaded) == [
        "/uploaded/out/a.txt",
        "/uploaded/out/sub/b.txt",
        "/uploaded/out__a.txt",
    ]
    assert len(set(downloaded.values())) == 3  # flattened names that clash stay apart
    assert all(uri.startswith("kestra:///team/ns_tasks/executions/") for uri in downloaded.values())
    assert [r.path for r in await files.files("team")] == [
        "/keep.txt",
        "/uploaded/out/a.txt",
        "/uploaded/out__a.txt",
    ]
    assert [e.name for e in await files.children("team", "/uploaded/out")] == ["a.txt"]


async def test_upload_conflicts(real_time_harness: Harness) -> None:
    files = real_time_harness.podium.namespace_files
    await files.write("team", {"a.txt": b"old"})
    source = """
id: conflicts
namespace: team
tasks:
  - id: write
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    outputFiles: [a.txt]
    commands: ["echo new > a.txt"]
  - id: skip
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: team
    conflict: SKIP
    files: {/a.txt: "{{ outputs.write.outputFiles['a.txt'] }}"}
  - id: error
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: team
    conflict: ERROR
    files: {/a.txt: "{{ outputs.write.outputFiles['a.txt'] }}"}
"""
    outcome = await real_time_harness.run(source)
    assert outcome.state == "FAILED"
    assert outcome.run("skip").state.value == "SUCCESS"
    assert "already exist" in (outcome.run("error").error or "")
    assert (await files.get("team", "a.txt"))[1] == b"old"


async def test_working_directory_loads_namespace_files_per_namespace(
    real_time_harness: Harness,
) -> None:
    files = real_time_harness.podium.namespace_files
    await files.write("team", {"a.txt": b"team's", "skip.md": b"no"})
    await files.write("shared", {"a.txt": b"shared's", "lib/b.txt": b"b"})
    source = """
id: wd
namespace: team
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    namespaceFiles:
      namespaces: [shared, team]
      folderPerNamespace: true
      exclude: ["**.md"]
    tasks:
      - id: look
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner: {type: io.kestra.plugin.core.runner.Process}
        commands: ['echo "$(cat team/a.txt) $(cat shared/a.txt) $(cat shared/lib/b.txt) $(ls team)"']
      - id: clash
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner: {type: io.kestra.plugin.core.runner.Process}
        allowFailure: true
        namespaceFiles: {namespaces: [team], folderPerNamespace: true, ifExists: FAIL}
        commands: ['true']
      - id: keep
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner: {type: io.kestra.plugin.core.runner.Process}
        beforeCommands: ['echo mine > team/a.txt']
        commands: ['true']
      - id: ignore
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner: {type: io.kestra.plugin.core.runner.Process}
        namespaceFiles: {namespaces: [team], folderPerNamespace: true, ifExists: IGNORE}
        commands: ['cat team/a.txt']
  - id: flat
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    namespaceFiles: {namespaces: [shared, team]}
    commands: ['cat a.txt']
"""
    outcome = await real_time_harness.run(source)
    assert outcome.state == "WARNING", outcome.messages()
    assert "team's shared's b a.txt" in outcome.messages("look")
    assert outcome.messages("flat")[-1] == "team's"  # the later namespace wins
    assert outcome.run("clash").state.value == "WARNING"
    assert "already in the working directory" in (outcome.run("clash").error or "")
    assert outcome.messages("ignore")[-1] == "mine"
