"""The flows a chaos run deploys: one of each shape the executor walks, and one for each
kind of trigger. Each is small and quick, so many executions end while faults happen."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

__all__ = [
    "API_FLOWS",
    "CONCURRENCY_LIMITS",
    "NAMESPACE",
    "SCHEDULE_EVERY",
    "SECRET_ENV",
    "SECRET_VALUE",
    "WEBHOOK_KEY",
    "flow_sources",
]

NAMESPACE = "chaos"
SECRET_VALUE = "chaos-s3cr3t-Xq7Zp"
SECRET_ENV = {"SECRET_CHAOS": base64.b64encode(SECRET_VALUE.encode()).decode()}
WEBHOOK_KEY = "chaos-hook-6Ftq2"
SCHEDULE_EVERY = timedelta(seconds=2)
# Flows started through the API, by name; `limited` has a concurrency limit of 2.
API_FLOWS = ("sequential", "parallel", "each", "parent", "retried", "script", "limited")
CONCURRENCY_LIMITS = {f"{NAMESPACE}/limited": 2}


def flow_sources(drop_folder: Path, run_marker: str = "chaos") -> dict[str, str]:
    """`run_marker` is put in the script's environment (CHAOS_RUN): the run finds the
    script's processes by it (to kill their executor, and to find orphans)."""
    ns = f"namespace: {NAMESPACE}"
    return {
        "sequential": f"""
id: sequential
{ns}
inputs:
  - {{id: n, type: INT, defaults: 0}}
tasks:
  - {{id: hello, type: io.kestra.plugin.core.log.Log, message: "start {{{{ execution.id }}}}"}}
  - {{id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.3S}}
  - {{id: value, type: io.kestra.plugin.core.debug.Return, format: "{{{{ inputs.n }}}}"}}
""",
        "parallel": f"""
id: parallel
{ns}
tasks:
  - id: fan
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - {{id: p1, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.5S}}
      - {{id: p2, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.3S}}
      - {{id: p3, type: io.kestra.plugin.core.log.Log, message: parallel}}
""",
        "each": f"""
id: each
{ns}
tasks:
  - id: loop
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2, 3, 4, 5, 6]
    concurrencyLimit: 2
    tasks:
      - {{id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.2S}}
      - {{id: say, type: io.kestra.plugin.core.log.Log, message: "value {{{{ taskrun.value }}}}"}}
""",
        "parent": f"""
id: parent
{ns}
tasks:
  - id: child
    type: io.kestra.plugin.core.flow.Subflow
    namespace: {NAMESPACE}
    flowId: sequential
    wait: true
    inputs: {{n: 7}}
  - {{id: after, type: io.kestra.plugin.core.log.Log, message: "child done"}}
""",
        "retried": f"""
id: retried
{ns}
tasks:
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: always fails
    retry: {{type: constant, interval: PT0.2S, maxAttempts: 3}}
""",
        "script": f"""
id: script
{ns}
tasks:
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    env: {{CHAOS_RUN: {run_marker}}}
    commands:
      - echo "attempt $PODIUM_ATTEMPT_KEY"
      - echo "the token is {{{{ secret('CHAOS') }}}}"
      - sleep 0.5
      - echo '::{{"outputs":{{"done":true}}}}::'
  - {{id: told, type: io.kestra.plugin.core.log.Log, message: "secret {{{{ secret('CHAOS') }}}}"}}
""",
        "limited": f"""
id: limited
{ns}
concurrency: {{limit: 2, behavior: QUEUE}}
tasks:
  - {{id: hold, type: io.kestra.plugin.core.flow.Sleep, duration: PT1S}}
""",
        "hooked": f"""
id: hooked
{ns}
triggers:
  - {{id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: {WEBHOOK_KEY}}}
tasks:
  - {{id: got, type: io.kestra.plugin.core.log.Log, message: "webhook {{{{ trigger.body }}}}"}}
""",
        "ticking": f"""
id: ticking
{ns}
triggers:
  - id: every
    type: io.kestra.plugin.core.trigger.Schedule
    withSeconds: true
    cron: "*/{int(SCHEDULE_EVERY.total_seconds())} * * * * *"
    recoverMissedSchedules: ALL
tasks:
  - {{id: tick, type: io.kestra.plugin.core.log.Log, message: "slot {{{{ trigger.date }}}}"}}
""",
        "dropped": f"""
id: dropped
{ns}
triggers:
  - id: drop
    type: io.kestra.plugin.fs.local.RealtimeTrigger
    from: {drop_folder}
    on: CREATE
tasks:
  - {{id: seen, type: io.kestra.plugin.core.log.Log, message: "a file arrived"}}
""",
    }
