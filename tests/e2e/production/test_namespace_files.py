"""Namespace files on the production path: each role its own process on Kafka and
PostgreSQL. The CLI pushes flows and files through the webserver; an executor process
loads them into a Python script (`namespaceFiles`) and `read()`, uploads a file back with
a task, and the webserver serves what the executor wrote."""

from __future__ import annotations

import base64
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.production.cluster import ADMIN, Cluster, state_of

pytestmark = pytest.mark.e2e

FLOW = """
id: nsfiles
namespace: prod.files
tasks:
  - id: python
    type: io.kestra.plugin.scripts.python.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    namespaceFiles:
      include: [src/**]
    outputFiles: [answer.txt]
    commands: [python src/main.py]
  - id: config
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('config.txt') | trim }}"
  - id: upload
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: prod.files
    files:
      /results/answer.txt: "{{ outputs.python.outputFiles['answer.txt'] }}"
"""


def download(cluster: Cluster, path: str) -> bytes:
    webserver = cluster.roles["webserver"]
    token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{webserver.port}/api/v1/namespaces/prod.files/files?path={path}",
        headers={"Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()  # type: ignore[no-any-return]


def test_namespace_files_across_processes(cluster: Cluster, tmp_path: Path) -> None:
    cluster.cli("db", "migrate")
    cluster.start("projector", "projector", wait=False)
    cluster.start("executor", "executor", wait=False)
    cluster.start("webserver", "webserver", wait=False)
    for role in list(cluster.roles.values()):
        cluster.wait_up(role)
    url = f"http://127.0.0.1:{cluster.roles['webserver'].port}"
    user = f"{ADMIN[0]}:{ADMIN[1]}"

    files = tmp_path / "project"
    (files / "src").mkdir(parents=True)
    (files / "src/main.py").write_text(
        "from lib import ANSWER\nopen('answer.txt', 'w').write(ANSWER)\n"
    )
    (files / "src/lib.py").write_text("ANSWER = '42 from namespace files'\n")
    (files / "config.txt").write_text("prod config\n")
    (files / "stale.txt").write_text("x")
    cluster.cli(
        "nsfiles", "sync", str(files), "--namespace", "prod.files", "--server", url, "--user", user
    )
    (files / "stale.txt").unlink()
    out = cluster.cli(
        "nsfiles",
        "sync",
        str(files),
        "--namespace",
        "prod.files",
        "--server",
        url,
        "--user",
        user,
        "--delete",
    )
    assert "1 deleted" in out
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "nsfiles.yaml").write_text(FLOW)
    cluster.cli(
        "flow", "deploy", str(flows), "--namespace", "prod.files", "--server", url, "--user", user
    )

    execution_id = cluster.execute("prod.files", "nsfiles")
    [done] = cluster.wait_all([execution_id])
    assert state_of(done) == "SUCCESS", done
    runs = {r["taskId"]: r for r in done["taskRunList"]}
    assert runs["config"]["outputs"]["value"] == "prod config"
    assert download(cluster, "/results/answer.txt") == b"42 from namespace files"
    listing = cluster.api("GET", "/api/v1/namespaces/prod.files/files/search?q=")
    assert sorted(listing) == ["/config.txt", "/results/answer.txt", "/src/lib.py", "/src/main.py"]
