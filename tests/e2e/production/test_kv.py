"""The KV store on the production path: each role its own process on Kafka and
PostgreSQL. A value set by the CLI, by the API (in the webserver) or by a task (in an
executor) is read by `kv()` in the next task; a large value travels through internal
storage; a change published while the projector is down is applied, whole, once it is
back; a TTL expires."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.production.cluster import ADMIN, Cluster, state_of
from tests.e2e.production.test_roles import deploy

pytestmark = pytest.mark.e2e

SETTER = """
id: setter
namespace: prod.team
tasks:
  - id: set
    type: io.kestra.plugin.core.kv.Set
    key: from_task
    value: "{{ kv('from_cli') }}-and-task"
  - id: set_big
    type: io.kestra.plugin.core.kv.Set
    key: big
    value: "{{ kv('seed') * 30000 }}"
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('from_task') }}|{{ kv('from_api').n }}|{{ kv('big') | length }}"
"""

CHILD = """
id: child
namespace: prod.team.data
tasks:
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('from_task') }}|{{ kv('short', errorOnMissing=false) ?? 'expired' }}"
"""


def put(
    cluster: Cluster, namespace: str, key: str, body: str, timeout: float = 10, **headers: str
) -> None:
    webserver = next(r for r in cluster.roles.values() if r.role == "webserver")
    token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{webserver.port}/api/v1/namespaces/{namespace}/kv/{key}",
        data=body.encode(),
        method="PUT",
        headers={"Content-Type": "text/plain", "Authorization": f"Basic {token}", **headers},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        assert response.status == 200


def get(cluster: Cluster, namespace: str, key: str) -> tuple[int, Any]:
    try:
        return 200, cluster.api("GET", f"/api/v1/namespaces/{namespace}/kv/{key}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def run(cluster: Cluster, namespace: str, flow_id: str) -> dict[str, Any]:
    [done] = cluster.wait_all([cluster.execute(namespace, flow_id)])
    assert state_of(done) == "SUCCESS", done
    return {r["taskId"]: r["outputs"] for r in done["taskRunList"]}


def test_kv_through_cli_api_and_tasks_on_kafka_and_postgres(
    cluster: Cluster, tmp_path: Path
) -> None:
    deploy(cluster, tmp_path, {"setter": SETTER, "child": CHILD})
    cluster.start("projector", "projector", wait=False)
    cluster.start("executor", "executor", wait=False)
    cluster.start("webserver", "webserver", wait=False)
    for role in list(cluster.roles.values()):
        cluster.wait_up(role)

    assert "prod/from_cli = cli (STRING)" in cluster.cli("kv", "set", "prod", "from_cli", "cli")
    put(cluster, "prod.team", "from_api", '{"n": 7}')
    put(cluster, "prod.team", "seed", '"abcdefgh"')
    got = run(cluster, "prod.team", "setter")
    assert got["read"] == {"value": f"cli-and-task|7|{8 * 30000}"}
    status, big = get(cluster, "prod.team", "big")
    assert status == 200 and len(big["value"]) == 240000
    assert list((tmp_path / "data" / "storage" / "kv" / "prod.team" / "big").glob("*.json"))

    # The projector dies: a PUT waits for it (nothing half applied meanwhile), and
    # completes once a new projector applies the change.
    cluster.kill("projector")
    outcome: dict[str, Any] = {}

    def slow_put() -> None:
        try:
            put(cluster, "prod.team", "big", json.dumps("z" * 300_000), timeout=120)
            outcome["ok"] = True
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    writer = threading.Thread(target=slow_put)
    writer.start()
    folder = tmp_path / "data" / "storage" / "kv" / "prod.team" / "big"
    deadline = time.monotonic() + 30
    while len(list(folder.glob("*.json"))) < 2:  # the new value is written, then published
        assert time.monotonic() < deadline, "the PUT never wrote its value"
        time.sleep(0.1)
    status, before = get(cluster, "prod.team", "big")
    assert status == 200 and before["value"] == "abcdefgh" * 30000 and before["revision"] == 1
    cluster.start("projector-2", "projector")
    writer.join(timeout=120)
    assert outcome == {"ok": True}
    status, after = get(cluster, "prod.team", "big")
    assert status == 200 and after["value"] == "z" * 300_000 and after["revision"] == 2

    put(cluster, "prod.team.data", "short", "1", ttl="PT1S")
    assert run(cluster, "prod.team.data", "child")["read"]["value"].startswith("cli-and-task|")
    deadline = time.monotonic() + 30
    while get(cluster, "prod.team.data", "short")[0] != 410:
        assert time.monotonic() < deadline, "the TTL never expired"
        time.sleep(0.2)
    assert run(cluster, "prod.team.data", "child")["read"] == {"value": "cli-and-task|expired"}
    listed = cluster.api("GET", "/api/v1/namespaces/prod.team.data/kv/inheritance")
    assert [(e["namespace"], e["key"]) for e in listed] == [
        ("prod.team", "big"), ("prod.team", "from_api"), ("prod.team", "from_task"),
        ("prod.team", "seed"), ("prod", "from_cli"),
    ]  # fmt: skip
