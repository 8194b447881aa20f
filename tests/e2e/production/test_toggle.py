"""trigger.Toggle on the production path: the task runs in an executor process, the
schedule it switches off (and on again) in a scheduler process, on Kafka and PostgreSQL.
The switch is the triggers API's, kept in the store: the scheduler applies it at its
next reconcile (every 0.5 s here)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.production.cluster import Cluster, state_of
from tests.e2e.production.test_roles import deploy, start_roles

pytestmark = pytest.mark.e2e

TICKING = """
id: ticking
namespace: prod.toggle
tasks:
  - {id: tick, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.date }}"}
triggers:
  - id: every_second
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * * *"
    withSeconds: true
"""

SWITCH = """
id: switch
namespace: prod.toggle
inputs:
  - {id: enabled, type: BOOLEAN}
tasks:
  - id: toggle
    type: io.kestra.plugin.core.trigger.Toggle
    flowId: ticking
    trigger: every_second
    enabled: "{{ inputs.enabled }}"
"""


def ticks(cluster: Cluster) -> int:
    found = cluster.api("GET", "/api/v1/executions/search?flowId=ticking&size=1")
    return int(found["total"])


def wait_ticks(cluster: Cluster, more_than: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while ticks(cluster) <= more_than:
        assert time.monotonic() < deadline, "the schedule never fired"
        time.sleep(0.2)


def switch(cluster: Cluster, enabled: bool) -> None:
    [done] = cluster.wait_all([cluster.execute("prod.toggle", "switch", {"enabled": enabled})])
    assert state_of(done) == "SUCCESS", done
    found = cluster.api("GET", "/api/v1/triggers/search?flowId=ticking")
    assert found["results"][0]["disabled"] is (not enabled)


def test_toggle_switches_a_schedule_across_processes(cluster: Cluster, tmp_path: Path) -> None:
    deploy(cluster, tmp_path, {"ticking": TICKING, "switch": SWITCH})
    start_roles(cluster, executors=1)
    cluster.start("scheduler", "scheduler")
    wait_ticks(cluster, 1)
    switch(cluster, enabled=False)
    time.sleep(2.0)  # the scheduler's next reconcile, and a firing in flight landing
    stopped_at = ticks(cluster)
    time.sleep(3.0)
    assert ticks(cluster) == stopped_at
    switch(cluster, enabled=True)
    wait_ticks(cluster, stopped_at)
