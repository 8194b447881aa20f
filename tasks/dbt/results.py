"""What dbt prints and writes, read for Podium.

- `--log-format json` lines: `{"info": {"level": "warn", "msg": …}, "data": …}` become log
  lines at their level (a warning makes the task end in WARNING, as in Kestra); other
  lines go to the script collector as usual.
- `target/run_results.json`: one output per node (`outputs.<task>.runResults`) with its
  status and timing, and the names of the nodes that failed for the task's error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.plugin import RunContext
from tasks.scripts.protocol import OutputCollector, Stream

__all__ = ["DbtLogCollector", "failures", "read_run_results"]

_LEVELS = {"debug": "DEBUG", "info": "INFO", "warn": "WARN", "error": "ERROR"}
FAILED_STATUSES = ("error", "fail", "runtime error")


class DbtLogCollector(OutputCollector):
    """dbt's structured log lines at their level; anything else as script output."""

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._run_ctx = ctx

    def __call__(self, stream: Stream, line: str) -> None:
        if line.startswith('{"info"'):
            try:
                event = json.loads(line)
                info = event["info"]
                level = _LEVELS.get(str(info.get("level", "info")).lower(), "INFO")
                message = str(info["msg"])
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
            else:
                self.counts[stream] += 1
                if level == "WARN":  # Kestra's warningDetected: the task ends in WARNING
                    self._run_ctx.warn()
                if message.strip():
                    self._run_ctx.logger.log(level, self._run_ctx.mask(message))
                return
        super().__call__(stream, line)


def read_run_results(project: Path) -> list[dict[str, Any]] | None:
    """Every node of the last run: uniqueId, status, timing, message, or None if dbt
    wrote no run_results.json (deps, compile of nothing, an early failure)."""
    path = project / "target" / "run_results.json"
    if not path.is_file():
        return None
    document = json.loads(path.read_text(encoding="utf-8"))
    results = []
    for result in document.get("results", []):
        timing = {t.get("name"): t for t in result.get("timing", [])}
        execute = timing.get("execute", {})
        results.append(
            {
                "uniqueId": result.get("unique_id"),
                "status": result.get("status"),
                "executionTime": result.get("execution_time"),
                "startedAt": execute.get("started_at"),
                "completedAt": execute.get("completed_at"),
                "message": result.get("message"),
                "failures": result.get("failures"),
                "adapterResponse": result.get("adapter_response") or {},
            }
        )
    return results


def failures(results: list[dict[str, Any]]) -> list[str]:
    return [
        f"{r['uniqueId']} ({r['status']})"
        for r in results
        if str(r.get("status")).lower() in FAILED_STATUSES
    ]
