"""git.* tasks against a real git server on loopback (`git http-backend` behind Basic
auth, tests/support/git_server.py): sync, re-sync, delete, dry run, push, clone, wrong
credentials, and the password never in logs or outputs."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Harness, running_podium
from tests.support.git_server import PASSWORD, USER, GitServer, running_git_server


@pytest.fixture
async def podium_and_git(tmp_path: Path) -> AsyncIterator[tuple[Harness, GitServer]]:
    secret = base64.b64encode(PASSWORD.encode()).decode()
    (tmp_path / "git").mkdir()
    async with (
        running_git_server(tmp_path / "git") as server,
        running_podium(tmp_path / "data", environ={"SECRET_GIT_PASSWORD": secret}) as podium,
    ):
        yield Harness(podium, None), server


SYNC_FILES = """
id: sync_files
namespace: team
tasks:
  - id: sync
    type: io.kestra.plugin.git.SyncNamespaceFiles
    url: {url}
    username: {user}
    password: "{{{{ secret('GIT_PASSWORD') }}}}"
    branch: main
    namespace: team
    gitDirectory: dbt
    delete: {delete}
    dryRun: {dry_run}
    gitConfig: {{core.autocrlf: false}}
    readTimeout: 30000
"""


def _sync_files(server: GitServer, *, delete: bool = False, dry_run: bool = False) -> str:
    return SYNC_FILES.format(
        url=server.url("project"),
        user=USER,
        delete=str(delete).lower(),
        dry_run=str(dry_run).lower(),
    )


def _diff(harness: Harness, uri: str) -> list[dict[str, object]]:
    text = harness.podium.storage.read(uri).decode()
    return [json.loads(line) for line in text.splitlines()]


def _never_shows_the_password(outcome: object) -> None:
    text = json.dumps([m for m in outcome.messages()])  # type: ignore[attr-defined]
    text += json.dumps([r.outputs for r in outcome.task_runs], default=str)  # type: ignore[attr-defined]
    text += json.dumps([r.error for r in outcome.task_runs], default=str)  # type: ignore[attr-defined]
    assert PASSWORD not in text
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in text


async def test_sync_namespace_files_sync_resync_dry_run_and_delete(
    podium_and_git: tuple[Harness, GitServer],
) -> None:
    harness, server = podium_and_git
    files = harness.podium.namespace_files
    server.create(
        "project",
        {"dbt/dbt_project.yml": "name: p\n", "dbt/models/a.sql": "select 1\n", "README": "x"},
    )
    await files.write("team", {"local_only.txt": b"mine"})

    outcome = await harness.run(_sync_files(server))
    assert outcome.state == "SUCCESS", outcome.messages()
    _never_shows_the_password(outcome)
    assert [f.path for f in await files.files("team")] == [
        "/dbt_project.yml",
        "/local_only.txt",
        "/models/a.sql",
    ]
    states = {
        r["kestraPath"]: r["syncState"]
        for r in _diff(harness, outcome.run("sync").outputs["files"])
    }
    assert states == {"/dbt_project.yml": "ADDED", "/models/a.sql": "ADDED"}

    server.commit("project", {"dbt/models/a.sql": "select 2\n", "dbt/models/b.sql": "select 3\n"})
    dry = await harness.run(_sync_files(server, delete=True, dry_run=True))
    assert dry.state == "SUCCESS", dry.messages()
    states = {
        r["kestraPath"]: r["syncState"] for r in _diff(harness, dry.run("sync").outputs["files"])
    }
    assert states == {
        "/dbt_project.yml": "UNCHANGED",
        "/models/a.sql": "OVERWRITTEN",
        "/models/b.sql": "ADDED",
        "/local_only.txt": "DELETED",
    }
    assert "/local_only.txt would be deleted" in " ".join(dry.messages("sync"))
    assert (await files.get("team", "models/a.sql"))[1] == b"select 1\n"  # dry: unchanged

    outcome = await harness.run(_sync_files(server, delete=True))
    assert outcome.state == "SUCCESS", outcome.messages()
    assert [f.path for f in await files.files("team")] == [
        "/dbt_project.yml",
        "/models/a.sql",
        "/models/b.sql",
    ]
    assert (await files.get("team", "models/a.sql"))[1] == b"select 2\n"


async def test_wrong_credentials_fail_clearly_and_change_nothing(
    podium_and_git: tuple[Harness, GitServer],
) -> None:
    harness, server = podium_and_git
    files = harness.podium.namespace_files
    server.create("project", {"dbt/a.sql": "select 1\n"})
    await files.write("team", {"keep.txt": b"k"})
    flow = _sync_files(server, delete=True).replace(
        "{{ secret('GIT_PASSWORD') }}", "wrong-password"
    )
    outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    error = outcome.run("sync").error or ""
    assert "the server refused the credentials" in error, error
    assert [f.path for f in await files.files("team")] == ["/keep.txt"]

    # credentials written into the URL are masked in what is shown
    in_url = _sync_files(server).replace(
        server.url("project"), server.url("nothing", userinfo=f"{USER}:hidden-in-url@")
    )
    outcome = await harness.run(in_url.replace("    username: podium\n", ""))
    assert outcome.state == "FAILED"
    shown = (outcome.run("sync").error or "") + " ".join(outcome.messages())
    assert "hidden-in-url" not in shown and "***@127.0.0.1" in shown


SYNC_FLOWS = """
id: sync_flows
namespace: prod
tasks:
  - id: sync
    type: io.kestra.plugin.git.SyncFlows
    url: {url}
    username: podium
    password: "{{{{ secret('GIT_PASSWORD') }}}}"
    targetNamespace: prod
    gitDirectory: flows
    includeChildNamespaces: true
    delete: true
"""

HELLO = """id: hello
namespace: prod
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: {message}
"""


async def test_sync_flows_validates_everything_first_then_saves_and_deletes(
    podium_and_git: tuple[Harness, GitServer],
) -> None:
    harness, server = podium_and_git
    flows = harness.podium.flows
    await flows.save(HELLO.replace("id: hello", "id: old_one").format(message="old"))
    server.create(
        "flows",
        {
            "flows/hello.yml": HELLO.format(message="v1"),
            # the folder decides the namespace, whatever the file says (as in Kestra)
            "flows/sub/child.yml": HELLO.replace("namespace: prod", "namespace: dev.x").format(
                message="child"
            ),
        },
    )
    sync = SYNC_FLOWS.format(url=server.url("flows"))
    outcome = await harness.run(sync)
    assert outcome.state == "SUCCESS", outcome.messages()
    ids = sorted((r.namespace, r.id) for r in await flows.list() if not r.is_deleted)
    assert ids == [("prod", "hello"), ("prod", "sync_flows"), ("prod.sub", "hello")]
    hello = await flows.get("prod", "hello")
    assert hello is not None and hello.tasks[0].message == "v1"  # type: ignore[attr-defined]
    diff = _diff(harness, outcome.run("sync").outputs["flows"])
    assert {(r["namespace"], r["flowId"], r["syncState"]) for r in diff} == {
        ("prod", "hello", "ADDED"),
        ("prod.sub", "hello", "ADDED"),
        ("prod", "old_one", "DELETED"),
    }
    assert all(r["revision"] == 1 for r in diff)

    # one invalid flow: nothing of the change is saved
    server.commit(
        "flows",
        {
            "flows/hello.yml": HELLO.format(message="v2"),
            "flows/bad.yml": "id: bad\nnamespace: prod\ntasks: []\nnope: 1\n",
        },
    )
    outcome = await harness.run(sync)
    assert outcome.state == "FAILED"
    assert "no flow was synced" in (outcome.run("sync").error or "")
    assert "flows/bad.yml" in (outcome.run("sync").error or "")
    hello = await flows.get("prod", "hello")
    assert hello is not None and hello.tasks[0].message == "v1"  # type: ignore[attr-defined]


PUSH = """
id: push
namespace: team
tasks:
  - id: flows
    type: io.kestra.plugin.git.PushFlows
    url: {url}
    username: podium
    password: "{{{{ secret('GIT_PASSWORD') }}}}"
    branch: {branch}
    gitDirectory: _flows
    commitMessage: "flows of {{{{ flow.namespace }}}}"
    authorName: Ada
    authorEmail: ada@example.com
  - id: files
    type: io.kestra.plugin.git.PushNamespaceFiles
    url: {url}
    username: podium
    password: "{{{{ secret('GIT_PASSWORD') }}}}"
    branch: {branch}
    namespace: team
    files: ["**.sql"]
    commitMessage: files
  - id: clone
    type: io.kestra.plugin.git.Clone
    url: {url}
    username: podium
    password: "{{{{ secret('GIT_PASSWORD') }}}}"
    branch: {branch}
    directory: checkout
"""


async def test_push_flows_and_files_then_clone(podium_and_git: tuple[Harness, GitServer]) -> None:
    harness, server = podium_and_git
    server.create("pushed", {"README.md": "hi\n", "_files/stale.sql": "old\n"})
    await harness.podium.namespace_files.write(
        "team", {"models/a.sql": b"select 1", "notes.txt": b"not pushed"}
    )
    flow = PUSH.format(url=server.url("pushed"), branch="main")
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.messages()
    _never_shows_the_password(outcome)
    assert sorted(server.tree("pushed")) == ["README.md", "_files/models/a.sql", "_flows/push.yml"]
    assert server.read("pushed", "_flows/push.yml") == flow
    commit = outcome.run("files").outputs["commitId"]
    assert len(commit) == 40
    assert outcome.run("files").outputs["commitURL"].endswith(f"/pushed/commit/{commit}")
    diff = _diff(harness, outcome.run("files").outputs["files"])
    assert {r["file"]: (r["additions"], r["deletions"]) for r in diff} == {
        "_files/models/a.sql": ("+1", "-0"),
        "_files/stale.sql": ("+0", "-1"),
    }
    assert outcome.run("clone").outputs["directory"].endswith("/checkout")

    # nothing changed: no commit, as Kestra; a new branch is created from the default one
    again = await harness.run(flow)
    assert again.state == "SUCCESS"
    assert again.run("files").outputs["commitId"] is None
    assert _diff(harness, again.run("files").outputs["files"]) == []
    branch = await harness.run(PUSH.format(url=server.url("pushed"), branch="feature/x"))
    assert branch.state == "SUCCESS", branch.messages()
    assert "_files/models/a.sql" in server.tree("pushed", branch="feature/x")


PUSH_TO_PROD = """
id: release
namespace: dev
tasks:
  - id: push
    type: io.kestra.plugin.git.PushFlows
    url: {url}
    username: podium
    password: "{{{{ secret('GIT_PASSWORD') }}}}"
    sourceNamespace: dev
    targetNamespace: prod
    includeChildNamespaces: true
    flows: "rel*"
    dryRun: {dry_run}
"""


async def test_push_flows_rewrites_the_namespace_and_dry_run_pushes_nothing(
    podium_and_git: tuple[Harness, GitServer],
) -> None:
    harness, server = podium_and_git
    server.create("release", {"README.md": "hi\n"})
    await harness.podium.flows.save(
        HELLO.replace("id: hello", "id: other").replace("prod", "dev.team").format(message="x")
    )
    await harness.podium.flows.save(
        HELLO.replace("id: hello", "id: related").replace("prod", "dev.team").format(message="y")
    )
    dry = await harness.run(PUSH_TO_PROD.format(url=server.url("release"), dry_run="true"))
    assert dry.state == "SUCCESS", dry.messages()
    assert dry.run("push").outputs["commitId"] is None
    assert server.tree("release") == ["README.md"]
    files = {r["file"] for r in _diff(harness, dry.run("push").outputs["flows"])}
    assert files == {"_flows/release.yml", "_flows/team/related.yml"}

    outcome = await harness.run(PUSH_TO_PROD.format(url=server.url("release"), dry_run="false"))
    assert outcome.state == "SUCCESS", outcome.messages()
    assert sorted(server.tree("release")) == [
        "README.md",
        "_flows/release.yml",
        "_flows/team/related.yml",
    ]
    assert "namespace: prod.team\n" in server.read("release", "_flows/team/related.yml")
    assert "namespace: prod\n" in server.read("release", "_flows/release.yml")


async def test_symbolic_links_in_a_repository_never_lead_out(
    podium_and_git: tuple[Harness, GitServer], tmp_path: Path
) -> None:
    harness, server = podium_and_git
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("server file")
    server.create("hostile", {"README.md": "x"})
    server.commit(
        "hostile",
        {"_files/ok.sql": "select 1"},
        links={"dbt": str(outside), "_files/secret.txt": str(outside / "secret.txt")},
    )
    files = harness.podium.namespace_files
    # a linked gitDirectory is refused; a linked file is not read
    outcome = await harness.run(_sync_files(server).replace("project", "hostile"))
    assert outcome.state == "FAILED"
    assert "leads outside the repository" in (outcome.run("sync").error or "")
    flow = (
        _sync_files(server)
        .replace("project", "hostile")
        .replace("gitDirectory: dbt", "gitDirectory: _files")
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.messages()
    assert [f.path for f in await files.files("team")] == ["/ok.sql"]

    # a push through a linked folder writes nothing outside
    await files.write("team", {"new.txt": b"would land outside"})
    push = PUSH.format(url=server.url("hostile"), branch="main").replace("_flows", "dbt")
    outcome = await harness.run(push)
    assert outcome.state == "FAILED"
    assert "leads outside the repository" in (outcome.run("flows").error or "")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]

    # a missing gitDirectory is an error, never "git is empty: delete everything"
    typo = (
        _sync_files(server, delete=True)
        .replace("project", "hostile")
        .replace("gitDirectory: dbt", "gitDirectory: nope")
    )
    outcome = await harness.run(typo)
    assert outcome.state == "FAILED"
    assert "is not a folder of the branch" in (outcome.run("sync").error or "")
    assert [f.path for f in await files.files("team")] == ["/new.txt", "/ok.sql"]
