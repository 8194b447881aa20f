"""How `PostgresStore` writes a batch of events: binary COPY into staging tables, then
one statement that moves the rows to where they belong.

Each batch is first reduced in Python to the newest event per execution and per task
run (a row may not be upserted twice in one statement; a row that changes again after a
RESTARTED in the batch takes a second round, `_Rows`). The rows then go to the
connection's temporary staging tables with `COPY … FROM STDIN (FORMAT binary)`, and a
single statement of data-modifying CTEs upserts them: sequence-guarded, never out of a
terminal state but to RESTARTED, log lines and metrics keyed by event id. It returns how
many rows changed.

Why not one `INSERT … SELECT FROM unnest($1::text[], …)` per table, as before: asyncpg
encodes array parameters element by element, with several `isinstance` checks against
`collections.abc` for each one (about 16 array elements per event), and PostgreSQL then
parses the arrays again. COPY sends each row as it is encoded, and PostgreSQL reads it
straight into a heap. Measured applying the 14,000 events of bench/production.py's
concurrent phase (its "store alone" phase does the same): the Python time went from
0.13 s to 0.065 s, and the batches' statements from 0.24 s to 0.14 s.

Times are staged as their text and cast by that statement (`_time` says why).

The staging tables are created once per connection (`prepare_connection`, the pool's
`init`); `ON COMMIT DELETE ROWS` empties them at each commit, and a rolled-back batch
leaves nothing behind either.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from engine.events import EventDocument
from engine.store.base import LEVELS, TERMINAL_SQL

__all__ = ["prepare_connection", "write_events"]

# name → columns, in the order the rows below are built
_STAGING: dict[str, str] = {
    "podium_stage_executions": (
        "id text, namespace text, flow_id text, state text, seq bigint, "
        "created_at text, ended_at text, data bytea, labels text"
    ),
    "podium_stage_task_runs": "id text, execution_id text, seq bigint, state text, data bytea",
    "podium_stage_logs": (
        "event_id text, idx integer, execution_id text, task_run_id text, task_id text, "
        "attempt integer, at text, level smallint, level_name text, message text, "
        "namespace text, flow_id text"
    ),
    "podium_stage_metrics": (
        "event_id text, execution_id text, task_run_id text, task_id text, name text, "
        "kind text, value double precision, tags text, at text"
    ),
    "podium_stage_state_changes": (
        "execution_id text, task_run_id text, seq bigint, attempt integer, state text, at text"
    ),
}

_CREATE_STAGING = "\n".join(
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DELETE ROWS;"
    for name, columns in _STAGING.items()
)

# Every CTE runs whether or not its staging table has rows; an empty one costs a scan of
# nothing. Histories are a by-product of the rows above: not counted as changes.
_MOVE_STAGED = f"""
WITH executions_changed AS (
    INSERT INTO executions AS e (id, namespace, flow_id, state, seq, created_at, ended_at, data, labels)
    SELECT id, namespace, flow_id, state, seq, created_at::timestamptz, ended_at::timestamptz,
           data, labels::jsonb
    FROM podium_stage_executions
    ON CONFLICT (id) DO UPDATE SET
        state = excluded.state, seq = excluded.seq, ended_at = excluded.ended_at,
        data = excluded.data, labels = excluded.labels
    WHERE excluded.seq > e.seq AND (
        e.state NOT IN ({TERMINAL_SQL}) OR excluded.state IN ('RESTARTED', e.state)
        -- change-status: the one event that says so (ExecutionChanged.status_changed_seq)
        OR (convert_from(excluded.data, 'UTF8')::jsonb ->> 'status_changed_seq')::bigint
           = excluded.seq
    )
    RETURNING 1
), task_runs_changed AS (
    INSERT INTO task_runs AS t (id, execution_id, seq, state, data)
    SELECT id, execution_id, seq, state, data FROM podium_stage_task_runs
    ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, state = excluded.state, data = excluded.data
    WHERE excluded.seq > t.seq AND (t.state NOT IN ({TERMINAL_SQL}) OR excluded.state = 'RESTARTED')
    RETURNING 1
), logs_added AS (
    INSERT INTO logs (event_id, idx, execution_id, task_run_id, task_id, attempt, at, level,
                      level_name, message, namespace, flow_id)
    SELECT event_id, idx, execution_id, task_run_id, task_id, attempt, at::timestamptz, level,
           level_name, message, namespace, flow_id
    FROM podium_stage_logs
    ON CONFLICT DO NOTHING
    RETURNING 1
), metrics_added AS (
    INSERT INTO metrics (event_id, execution_id, task_run_id, task_id, name, kind, value, tags, at)
    SELECT event_id, execution_id, task_run_id, task_id, name, kind, value, tags::jsonb,
           at::timestamptz
    FROM podium_stage_metrics
    ON CONFLICT DO NOTHING
    RETURNING 1
), histories AS (
    INSERT INTO state_changes (execution_id, task_run_id, seq, attempt, state, at)
    SELECT execution_id, task_run_id, seq, attempt, state, at::timestamptz
    FROM podium_stage_state_changes
    ON CONFLICT DO NOTHING
)
SELECT (SELECT count(*) FROM executions_changed) + (SELECT count(*) FROM task_runs_changed)
     + (SELECT count(*) FROM logs_added) + (SELECT count(*) FROM metrics_added)
"""


# An ExecutionDeleted: every row the projection keeps about the executions but their
# epochs, which fence their later events (engine/fencing.py); logs ($2) and metrics ($3)
# unless the deletion keeps them.
_DELETE_EXECUTIONS = """
WITH gone AS (DELETE FROM executions WHERE id = ANY($1::text[]) RETURNING 1),
runs AS (DELETE FROM task_runs WHERE execution_id = ANY($1::text[]) RETURNING 1),
history AS (DELETE FROM state_changes WHERE execution_id = ANY($1::text[])),
lines AS (DELETE FROM logs WHERE execution_id = ANY($2::text[]) RETURNING 1),
measures AS (DELETE FROM metrics WHERE execution_id = ANY($3::text[]) RETURNING 1)
SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM runs)
     + (SELECT count(*) FROM lines) + (SELECT count(*) FROM measures)
"""


async def prepare_connection(connection: asyncpg.Connection) -> None:
    """The pool's `init`: this connection's staging tables."""
    await connection.execute(_CREATE_STAGING)


def _time(text: str | None) -> str | None:
    """A time as its staging column takes it: text, cast by the statement that moves the
    rows (`::timestamptz`). As Podium's writers put it (UTC as `Z`, at most microseconds)
    the text goes as it is; any other form is normalised here to UTC with its offset, as
    the binary COPY of `datetime.fromisoformat(text)` read it (a time without an offset
    is this process's local time, whatever the session's TimeZone).

    Why text: parsing in Python and encoding the datetime for a binary COPY (asyncpg:
    `astimezone`, a subtraction, a timedelta) cost some 8,700 instructions a time, 148k
    per execution of bench/production.py's 5-task flow (17 times each). Measured on
    100,000 times, COPY and INSERT … SELECT: this process 0.86 → 0.17 µs a time,
    PostgreSQL's backend 0.44 → 0.93 µs (its `timestamptz_in`): less in all, and less
    where issue #22 counts it."""
    if not text:
        return None
    if text[-1] == "Z" and len(text) <= _LONGEST_UTC:
        return text
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


# "2026-12-04T15:22:53.883696Z": longer is more than microseconds, which Python truncates
# and PostgreSQL rounds
_LONGEST_UTC = 27


# the events that change a row, and the field naming the row
_CHANGES = {"TaskRunChanged": "task_run_id", "ExecutionChanged": "execution_id"}


class _Rows:
    """One batch of events as the staging tables' rows."""

    __slots__ = (
        "changes", "deleted", "executions", "logs", "metrics", "restarted", "taken", "task_runs"
    )  # fmt: skip
    deleted: list[tuple[str, bool, bool]]  # execution id, its logs too, its metrics too

    def __init__(self, events: Sequence[EventDocument]) -> None:
        """Takes the events up to the first change of a row that follows a RESTARTED of
        the same row (`taken` says how many): only a row's newest change is staged, and
        RESTARTED is what lets a change over an ended row, so the changes after it are
        staged in the next round, over the restarted row."""
        self.executions: dict[str, tuple[Any, ...]] = {}
        self.task_runs: dict[str, tuple[Any, ...]] = {}
        self.logs: list[tuple[Any, ...]] = []
        self.metrics: list[tuple[Any, ...]] = []
        self.changes: dict[tuple[str, str, int], tuple[Any, ...]] = {}
        self.deleted = []
        self.restarted: set[str] = set()  # execution and task-run ids
        self.taken = len(events)
        for index, event in enumerate(events):
            doc = event.doc
            kind = doc["kind"]
            if self.restarted and kind in _CHANGES and doc[_CHANGES[kind]] in self.restarted:
                self.taken = index
                break
            if kind == "ExecutionDeleted":
                # the fence admits no later event of it: deleted after the batch's rows
                self.deleted.append(
                    (doc["execution_id"], doc.get("delete_logs", True),
                     doc.get("delete_metrics", True))
                )  # fmt: skip
            elif kind == "TaskRunChanged":
                self._task_run(doc, event.raw)
            elif kind == "ExecutionChanged":
                self._execution(doc, event.raw)
            elif kind == "LogsEmitted":
                self._logs(doc)
            elif kind == "MetricEmitted":
                self._metric(doc)

    def _task_run(self, doc: dict[str, Any], raw: bytes) -> None:
        key, execution_id, seq = doc["task_run_id"], doc["execution_id"], doc["seq"]
        known = self.task_runs.get(key)
        if known is None or known[2] < seq:
            self.task_runs[key] = (key, execution_id, seq, doc["state"], raw)
        if doc["state"] == "RESTARTED":
            self.restarted.add(key)
        self.changes[(execution_id, key, seq)] = (
            execution_id, key, seq, doc.get("attempt") or 1, doc["state"],
            _time(doc.get("at") or doc.get("created_at")),
        )  # fmt: skip

    def _execution(self, doc: dict[str, Any], raw: bytes) -> None:
        key, seq = doc["execution_id"], doc["seq"]
        known = self.executions.get(key)
        if known is None or known[4] < seq:
            self.executions[key] = (
                key, doc["namespace"], doc["flow_id"], doc["state"], seq,
                _time(doc["created_at"]), _time(doc.get("ended_at")), raw,
                orjson.dumps(doc.get("labels") or {}).decode(),
            )  # fmt: skip
        if doc["state"] == "RESTARTED":
            self.restarted.add(key)
        self.changes[(key, "", seq)] = (
            key, "", seq, 1, doc["state"], _time(doc.get("at") or doc["created_at"]),
        )  # fmt: skip

    def _logs(self, doc: dict[str, Any]) -> None:
        for idx, line in enumerate(doc["lines"]):
            message = line["message"]
            if "\x00" in message:  # PostgreSQL text cannot hold NUL
                message = message.replace("\x00", "\ufffd")
            self.logs.append(
                (
                    doc["event_id"], idx, doc["execution_id"], line.get("task_run_id"),
                    line.get("task_id"), line.get("attempt"), _time(line["at"]),
                    LEVELS.get(line["level"], 2), line["level"], message,
                    doc.get("namespace") or "", doc.get("flow_id") or "",
                )
            )  # fmt: skip

    def _metric(self, doc: dict[str, Any]) -> None:
        self.metrics.append(
            (
                doc["event_id"], doc["execution_id"], doc.get("task_run_id"), doc.get("task_id"),
                doc["name"], doc["metric_kind"], float(doc["value"]),
                orjson.dumps(doc.get("tags") or {}).decode(), _time(doc["at"]),
            )
        )  # fmt: skip

    def staged(self) -> list[tuple[str, Sequence[tuple[Any, ...]]]]:
        tables = (
            ("podium_stage_executions", list(self.executions.values())),
            ("podium_stage_task_runs", list(self.task_runs.values())),
            ("podium_stage_logs", self.logs),
            ("podium_stage_metrics", self.metrics),
            ("podium_stage_state_changes", list(self.changes.values())),
        )
        return [(table, rows) for table, rows in tables if rows]


async def write_events(db: asyncpg.Connection, events: Sequence[EventDocument]) -> int:
    """Write a batch inside the caller's transaction; returns how many rows it changed.
    One round of staging and moving, or more when a restarted row changes again after
    its RESTARTED in the batch (`_Rows`)."""
    changed = 0
    while events:
        batch = _Rows(events)
        changed += await _write_rows(db, batch)
        events = events[batch.taken :]
    return changed


async def _write_rows(db: asyncpg.Connection, batch: _Rows) -> int:
    staged = batch.staged()
    changed = 0
    for table, rows in staged:
        await db.copy_records_to_table(table, records=rows)
    if staged:
        changed += await db.fetchval(_MOVE_STAGED)
    if batch.deleted:
        changed += await db.fetchval(
            _DELETE_EXECUTIONS,
            [d[0] for d in batch.deleted],
            [d[0] for d in batch.deleted if d[1]],
            [d[0] for d in batch.deleted if d[2]],
        )
    return changed
