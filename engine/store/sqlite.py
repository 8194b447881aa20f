"""The embedded store: one SQLite file, written from one thread.

sqlite3 blocks, so every call runs on a single worker thread (SQLite serialises writers
anyway). WAL journaling lets readers go on while the projector writes; `synchronous=NORMAL`
keeps commits durable across a process kill, which is what embedded mode promises.
The API's searches live in sqlite_reads.py (a mixin of `SqliteStore`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import orjson

from engine.errors import TransientError
from engine.events import (
    PURGE_KINDS,
    EventDocument,
    ExecutionChanged,
    LogLine,
    TaskRunChanged,
)
from engine.fencing import Fence
from engine.states import TERMINAL_STATES, State
from engine.store.base import (
    LEVELS,
    TERMINAL_SQL,
    Applied,
    FlowRecord,
    Journal,
    UnfinishedExecution,
)
from engine.store.purge import purge_segments
from engine.store.sqlite_kv import KV_MIGRATION, SqliteKv
from engine.store.sqlite_metrics import SqliteMetrics
from engine.store.sqlite_nsfiles import NSFILES_MIGRATION, SqliteNamespaceFiles
from engine.store.sqlite_purge import SqlitePurge
from engine.store.sqlite_reads import SqliteReads, flow_record

__all__ = ["SqliteStore"]

T = TypeVar("T")


_MIGRATIONS: list[str] = [
    f"""
    CREATE TABLE flows (
        namespace TEXT NOT NULL, id TEXT NOT NULL, revision INTEGER NOT NULL,
        source TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,
        PRIMARY KEY (namespace, id, revision)
    );
    CREATE TABLE executions (
        id TEXT PRIMARY KEY, namespace TEXT NOT NULL, flow_id TEXT NOT NULL,
        state TEXT NOT NULL, seq INTEGER NOT NULL, created_at TEXT NOT NULL,
        ended_at TEXT, data BLOB NOT NULL
    );
    CREATE INDEX executions_by_flow ON executions (namespace, flow_id, created_at);
    CREATE INDEX executions_by_created ON executions (created_at);
    CREATE INDEX executions_unfinished ON executions (state) WHERE state NOT IN ({TERMINAL_SQL});
    CREATE TABLE task_runs (
        id TEXT PRIMARY KEY, execution_id TEXT NOT NULL, seq INTEGER NOT NULL,
        state TEXT NOT NULL, data BLOB NOT NULL
    );
    CREATE INDEX task_runs_by_execution ON task_runs (execution_id);
    CREATE TABLE logs (
        event_id TEXT NOT NULL, idx INTEGER NOT NULL, execution_id TEXT NOT NULL,
        task_run_id TEXT, task_id TEXT, attempt INTEGER, at TEXT NOT NULL,
        level INTEGER NOT NULL, level_name TEXT NOT NULL, message TEXT NOT NULL,
        PRIMARY KEY (event_id, idx)
    );
    CREATE INDEX logs_by_execution ON logs (execution_id, at);
    CREATE TABLE metrics (
        event_id TEXT PRIMARY KEY, execution_id TEXT NOT NULL, task_run_id TEXT,
        task_id TEXT, name TEXT NOT NULL, kind TEXT NOT NULL, value REAL NOT NULL,
        tags TEXT NOT NULL, at TEXT NOT NULL
    );
    CREATE INDEX metrics_by_execution ON metrics (execution_id);
    """,
    """
    CREATE TABLE trigger_state (
        scope TEXT PRIMARY KEY, data BLOB NOT NULL, updated_at TEXT NOT NULL
    );
    CREATE TABLE trigger_claims (
        scope TEXT NOT NULL, item TEXT NOT NULL, claimed_at TEXT NOT NULL,
        PRIMARY KEY (scope, item)
    );
    """,
    # 3: what the REST API searches on (labels, logs by flow) and state histories.
    """
    ALTER TABLE executions ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
    UPDATE executions SET labels = coalesce(json_extract(CAST(data AS TEXT), '$.labels'), '{}');
    CREATE INDEX executions_by_state ON executions (state, created_at);
    CREATE INDEX executions_by_ended ON executions (ended_at);
    ALTER TABLE logs ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
    ALTER TABLE logs ADD COLUMN flow_id TEXT NOT NULL DEFAULT '';
    UPDATE logs SET
        namespace = coalesce((SELECT e.namespace FROM executions e WHERE e.id = logs.execution_id), ''),
        flow_id = coalesce((SELECT e.flow_id FROM executions e WHERE e.id = logs.execution_id), '');
    CREATE INDEX logs_by_flow ON logs (namespace, flow_id, at);
    CREATE TABLE state_changes (
        execution_id TEXT NOT NULL, task_run_id TEXT NOT NULL, seq INTEGER NOT NULL,
        attempt INTEGER NOT NULL, state TEXT NOT NULL, at TEXT NOT NULL,
        PRIMARY KEY (execution_id, task_run_id, seq)
    );
    INSERT OR IGNORE INTO state_changes
        SELECT id, '', seq, 1, state, json_extract(CAST(data AS TEXT), '$.at') FROM executions;
    INSERT OR IGNORE INTO state_changes
        SELECT execution_id, id, seq, coalesce(json_extract(CAST(data AS TEXT), '$.attempt'), 1),
               state, json_extract(CAST(data AS TEXT), '$.at') FROM task_runs;
    """,
    # 4: owner epochs claimed (engine/fencing.py); only executions that changed owner.
    """
    CREATE TABLE execution_epochs (execution_id TEXT PRIMARY KEY, epoch INTEGER NOT NULL);
    """,
    # 5: namespace key/value entries (engine/kv/__init__.py)
    KV_MIGRATION,
    # 6: namespace files, a row per revision (sqlite_nsfiles.py)
    NSFILES_MIGRATION,
]


_UPSERT_EXECUTION = f"""
INSERT INTO executions (id, namespace, flow_id, state, seq, created_at, ended_at, data, labels)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    state = excluded.state, seq = excluded.seq, ended_at = excluded.ended_at, data = excluded.data,
    labels = excluded.labels
WHERE excluded.seq > executions.seq AND (
    executions.state NOT IN ({TERMINAL_SQL})
    OR excluded.state IN ('RESTARTED', executions.state)  -- a restart; new labels
    -- change-status: the one event that says so (events.ExecutionChanged.status_changed_seq)
    OR json_extract(CAST(excluded.data AS TEXT), '$.status_changed_seq') = excluded.seq
)
"""

_UPSERT_TASK_RUN = f"""
INSERT INTO task_runs (id, execution_id, seq, state, data) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, state = excluded.state, data = excluded.data
WHERE excluded.seq > task_runs.seq AND (
    task_runs.state NOT IN ({TERMINAL_SQL}) OR excluded.state = 'RESTARTED'
)
"""

_INSERT_LOG = """
INSERT OR IGNORE INTO logs
    (event_id, idx, execution_id, task_run_id, task_id, attempt, at, level, level_name, message,
     namespace, flow_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_INSERT_STATE_CHANGE = """
INSERT OR IGNORE INTO state_changes (execution_id, task_run_id, seq, attempt, state, at)
VALUES (?, ?, ?, ?, ?, ?)
"""

_INSERT_METRIC = """
INSERT OR IGNORE INTO metrics (event_id, execution_id, task_run_id, task_id, name, kind, value, tags, at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# An ExecutionDeleted: every row the projection keeps about the execution but its epoch,
# which fences its later events (engine/fencing.py).
_DELETE_EXECUTION = (
    "DELETE FROM executions WHERE id = ?",
    "DELETE FROM task_runs WHERE execution_id = ?",
    "DELETE FROM state_changes WHERE execution_id = ?",
)
_DELETE_LOGS = "DELETE FROM logs WHERE execution_id = ?"
_DELETE_METRICS = "DELETE FROM metrics WHERE execution_id = ?"

_RAISE_EPOCH = """
INSERT INTO execution_epochs (execution_id, epoch) VALUES (?, ?)
ON CONFLICT (execution_id) DO UPDATE SET epoch = max(epoch, excluded.epoch)
"""


def _is_superseded(row: tuple[str, str, int, str, bytes], later_seq: int) -> bool:
    """Whether upserting `row` and then a later change of the same task run (seq
    `later_seq`) leaves what the later change alone leaves, so `row` need not be written
    (a task run that starts and ends within one batch: one row written, not two).

    True when the later change is newer and `row` is neither terminal nor RESTARTED: if
    `row` applies, the later change applies over it (newer, over a state that is not
    terminal); if it does not, the row is as before. Its history is inserted all the same.
    """
    seq, state = row[2], row[3]
    return later_seq > seq and state not in TERMINAL_STATES and state != State.RESTARTED


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class SqliteStore(SqliteReads, SqliteKv, SqliteNamespaceFiles, SqlitePurge, SqliteMetrics):
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="podium-sqlite")
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path}>"

    async def __aenter__(self) -> Self:
        await self._call(self._open)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._db is not None:
            await self._call(self._close)
        self._thread.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, fn, *args)
        except sqlite3.OperationalError as exc:  # locked, busy, disk I/O
            raise TransientError(f"sqlite: {exc}") from exc

    def _open(self) -> None:
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] or 0
        for version, script in enumerate(_MIGRATIONS, start=1):
            if version > current:
                db.execute("BEGIN")
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                db.execute("COMMIT")
        self._db = db

    def _close(self) -> None:
        assert self._db is not None
        self._db.close()
        self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    # -- the projection -------------------------------------------------------

    async def apply(self, events: Sequence[EventDocument]) -> Applied:
        return await self._call(self._apply, events)

    def _apply(self, events: Sequence[EventDocument]) -> Applied:
        db = self.db
        db.execute("BEGIN")
        try:
            fence = Fence(
                self._epochs(
                    {e.doc["execution_id"] for e in events if e.doc["kind"] not in PURGE_KINDS}
                )
            )
            admitted = fence.admitted(events)
            changed = 0
            for written, purge in purge_segments(admitted):
                changed += self._write(written)
                if purge is not None:
                    changed += self._purge(purge.doc)
            if fence.raised:
                db.executemany(_RAISE_EPOCH, fence.raised.items())
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Applied(admitted, changed)

    def _epochs(self, execution_ids: set[str]) -> dict[str, int]:
        """The epochs claimed so far of these executions (the few that changed owner)."""
        ids = list(execution_ids)
        epochs: dict[str, int] = {}
        for start in range(0, len(ids), 500):  # SQLite's bound on parameters
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            epochs.update(
                self.db.execute(
                    f"SELECT execution_id, epoch FROM execution_epochs WHERE execution_id IN ({marks})",
                    chunk,
                ).fetchall()
            )
        return epochs

    def _write(self, events: Sequence[EventDocument]) -> int:
        executions, logs, metrics, changes = [], [], [], []
        task_runs: list[tuple[str, str, int, str, bytes]] = []
        latest: dict[str, int] = {}  # task run id -> where its latest row is in task_runs
        deleted: list[tuple[str]] = []
        deleted_logs: list[tuple[str]] = []
        deleted_metrics: list[tuple[str]] = []
        for event in events:
            doc = event.doc
            kind = doc["kind"]
            if kind == "ExecutionDeleted":
                # the fence admits no event of it after this one: deleting once the rows
                # of the batch are written leaves nothing of it
                deleted.append((doc["execution_id"],))
                if doc.get("delete_logs", True):
                    deleted_logs.append((doc["execution_id"],))
                if doc.get("delete_metrics", True):
                    deleted_metrics.append((doc["execution_id"],))
            elif kind == "TaskRunChanged":
                run_id, seq = doc["task_run_id"], doc["seq"]
                row = (run_id, doc["execution_id"], seq, doc["state"], event.raw)
                earlier = latest.get(run_id)
                if earlier is not None and _is_superseded(task_runs[earlier], seq):
                    # the later change leaves the same row, and in the earlier one's place
                    # (task runs are listed in the order their rows were inserted)
                    task_runs[earlier] = row
                else:
                    latest[run_id] = len(task_runs)
                    task_runs.append(row)
                changes.append(
                    (
                        doc["execution_id"],
                        doc["task_run_id"],
                        doc["seq"],
                        doc.get("attempt") or 1,
                        doc["state"],
                        doc.get("at") or doc.get("created_at") or "",
                    )
                )
            elif kind == "ExecutionChanged":
                changes.append(
                    (
                        doc["execution_id"],
                        "",
                        doc["seq"],
                        1,
                        doc["state"],
                        doc.get("at") or doc["created_at"],
                    )
                )
                executions.append(
                    (
                        doc["execution_id"],
                        doc["namespace"],
                        doc["flow_id"],
                        doc["state"],
                        doc["seq"],
                        doc["created_at"],
                        doc.get("ended_at"),
                        event.raw,
                        orjson.dumps(doc.get("labels") or {}).decode(),
                    )
                )
            elif kind == "LogsEmitted":
                for idx, line in enumerate(doc["lines"]):
                    level = line["level"]
                    logs.append(
                        (
                            doc["event_id"],
                            idx,
                            doc["execution_id"],
                            line.get("task_run_id"),
                            line.get("task_id"),
                            line.get("attempt"),
                            line["at"],
                            LEVELS.get(level, 2),
                            level,
                            line["message"],
                            doc.get("namespace") or "",
                            doc.get("flow_id") or "",
                        )
                    )
            elif kind == "MetricEmitted":
                metrics.append(
                    (
                        doc["event_id"],
                        doc["execution_id"],
                        doc.get("task_run_id"),
                        doc.get("task_id"),
                        doc["name"],
                        doc["metric_kind"],
                        doc["value"],
                        encode_tags(doc.get("tags") or {}),
                        doc["at"],
                    )
                )
        db = self.db
        before = db.total_changes
        if executions:
            db.executemany(_UPSERT_EXECUTION, executions)
        if task_runs:
            db.executemany(_UPSERT_TASK_RUN, task_runs)
        if logs:
            db.executemany(_INSERT_LOG, logs)
        if metrics:
            db.executemany(_INSERT_METRIC, metrics)
        changed = db.total_changes - before
        # histories are a by-product of the rows above: not counted as changes
        if changes:
            db.executemany(_INSERT_STATE_CHANGE, changes)
        if deleted:
            before = db.total_changes
            for statement in _DELETE_EXECUTION:
                db.executemany(statement, deleted)
            db.executemany(_DELETE_LOGS, deleted_logs)
            db.executemany(_DELETE_METRICS, deleted_metrics)
            changed += db.total_changes - before
        return changed

    # -- flows ------------------------------------------------------------------

    async def save_flow(self, namespace: str, flow_id: str, source: str) -> FlowRecord:
        return await self._call(self._save_flow, namespace, flow_id, source)

    def _save_flow(self, namespace: str, flow_id: str, source: str) -> FlowRecord:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            current = self._latest_flow(namespace, flow_id)
            if current is not None and current.source == source and not current.is_deleted:
                db.execute("COMMIT")
                return current
            revision = (current.revision + 1) if current else 1
            now = datetime.now(UTC)
            db.execute(
                "INSERT INTO flows (namespace, id, revision, source, deleted, updated_at) VALUES (?, ?, ?, ?, 0, ?)",
                (namespace, flow_id, revision, source, now.isoformat()),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return FlowRecord(namespace, flow_id, revision, source, now)

    def _latest_flow(self, namespace: str, flow_id: str) -> FlowRecord | None:
        row = self.db.execute(
            "SELECT namespace, id, revision, source, updated_at, deleted FROM flows "
            "WHERE namespace = ? AND id = ? ORDER BY revision DESC LIMIT 1",
            (namespace, flow_id),
        ).fetchone()
        return flow_record(row) if row else None

    async def get_flow(
        self, namespace: str, flow_id: str, revision: int | None = None
    ) -> FlowRecord | None:
        def read() -> FlowRecord | None:
            if revision is None:
                found = self._latest_flow(namespace, flow_id)
                return None if found is None or found.is_deleted else found
            row = self.db.execute(
                "SELECT namespace, id, revision, source, updated_at, deleted FROM flows "
                "WHERE namespace = ? AND id = ? AND revision = ?",
                (namespace, flow_id, revision),
            ).fetchone()
            return flow_record(row) if row else None

        return await self._call(read)

    async def list_flows(self) -> list[FlowRecord]:
        def read() -> list[FlowRecord]:
            rows = self.db.execute(
                "SELECT f.namespace, f.id, f.revision, f.source, f.updated_at, f.deleted FROM flows f "
                "JOIN (SELECT namespace, id, max(revision) AS revision FROM flows GROUP BY namespace, id) m "
                "USING (namespace, id, revision) WHERE f.deleted = 0 ORDER BY f.namespace, f.id"
            ).fetchall()
            return [flow_record(r) for r in rows]

        return await self._call(read)

    async def delete_flow(self, namespace: str, flow_id: str) -> bool:
        def write() -> bool:
            current = self._latest_flow(namespace, flow_id)
            if current is None or current.is_deleted:
                return False
            self.db.execute(
                "INSERT INTO flows (namespace, id, revision, source, deleted, updated_at) VALUES (?, ?, ?, ?, 1, ?)",
                (
                    namespace,
                    flow_id,
                    current.revision + 1,
                    current.source,
                    datetime.now(UTC).isoformat(),
                ),
            )
            return True

        return await self._call(write)

    # -- reads ------------------------------------------------------------------

    async def get_execution(self, execution_id: str) -> ExecutionChanged | None:
        def read() -> ExecutionChanged | None:
            row = self.db.execute(
                "SELECT data FROM executions WHERE id = ?", (execution_id,)
            ).fetchone()
            return ExecutionChanged.model_validate_json(row[0]) if row else None

        return await self._call(read)

    async def existing_executions(
        self, execution_ids: Sequence[str]
    ) -> dict[str, ExecutionChanged]:
        def read() -> dict[str, ExecutionChanged]:
            found: dict[str, ExecutionChanged] = {}
            for start in range(0, len(execution_ids), 500):
                chunk = list(execution_ids[start : start + 500])
                rows = self.db.execute(
                    f"SELECT data FROM executions WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                for (data,) in rows:
                    execution = ExecutionChanged.model_validate_json(data)
                    found[execution.execution_id] = execution
            return found

        return await self._call(read)

    async def list_executions(
        self,
        *,
        namespace: str | None = None,
        flow_id: str | None = None,
        states: Sequence[State] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> list[ExecutionChanged]:
        clauses, args = [], []
        if namespace is not None:
            clauses.append("namespace = ?")
            args.append(namespace)
        if flow_id is not None:
            clauses.append("flow_id = ?")
            args.append(flow_id)
        if states:
            clauses.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(s.value for s in states)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT data FROM executions {where} ORDER BY created_at DESC LIMIT ? OFFSET ?"

        def read() -> list[ExecutionChanged]:
            rows = self.db.execute(sql, (*args, limit, offset)).fetchall()
            return [ExecutionChanged.model_validate_json(r[0]) for r in rows]

        return await self._call(read)

    async def task_runs(self, execution_id: str) -> list[TaskRunChanged]:
        return await self._call(self._task_runs, execution_id)

    def _task_runs(self, execution_id: str) -> list[TaskRunChanged]:
        rows = self.db.execute(
            "SELECT data FROM task_runs WHERE execution_id = ? ORDER BY rowid", (execution_id,)
        ).fetchall()
        return [TaskRunChanged.model_validate_json(r[0]) for r in rows]

    async def logs(
        self,
        execution_id: str,
        *,
        min_level: str = "TRACE",
        task_ids: Sequence[str] = (),
        task_run_id: str | None = None,
        limit: int = 10_000,
        offset: int = 0,
    ) -> list[LogLine]:
        clauses = ["execution_id = ?", "level >= ?"]
        args: list[Any] = [execution_id, LEVELS.get(min_level.upper(), 0)]
        if task_ids:
            clauses.append(f"task_id IN ({','.join('?' * len(task_ids))})")
            args.extend(task_ids)
        if task_run_id:
            clauses.append("task_run_id = ?")
            args.append(task_run_id)
        sql = (
            "SELECT at, level_name, message, task_run_id, task_id, attempt FROM logs "
            f"WHERE {' AND '.join(clauses)} ORDER BY at, rowid LIMIT ? OFFSET ?"
        )

        def read() -> list[LogLine]:
            rows = self.db.execute(sql, (*args, limit, offset)).fetchall()
            return [
                LogLine(
                    at=r[0], level=r[1], message=r[2], task_run_id=r[3], task_id=r[4], attempt=r[5]
                )
                for r in rows
            ]

        return await self._call(read)

    async def unfinished_executions(self) -> list[UnfinishedExecution]:
        def read() -> list[UnfinishedExecution]:
            rows = self.db.execute(
                f"SELECT data FROM executions WHERE state NOT IN ({TERMINAL_SQL}) ORDER BY created_at"
            ).fetchall()
            out = []
            for (data,) in rows:
                execution = ExecutionChanged.model_validate_json(data)
                runs = self._task_runs(execution.execution_id)
                last = max([execution.seq, *(r.seq for r in runs)])
                out.append(UnfinishedExecution(execution, tuple(runs), last))
            return out

        return await self._call(read)

    # -- trigger state ------------------------------------------------------------------

    async def get_trigger_state(self, scope: str) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            row = self.db.execute(
                "SELECT data FROM trigger_state WHERE scope = ?", (scope,)
            ).fetchone()
            return orjson.loads(row[0]) if row else None

        return await self._call(read)

    async def set_trigger_state(self, scope: str, state: dict[str, Any]) -> None:
        await self._call(self._set_trigger_state, scope, state)

    def _set_trigger_state(self, scope: str, state: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO trigger_state (scope, data, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (scope) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
            (scope, orjson.dumps(state), datetime.now(UTC).isoformat()),
        )

    async def claim(
        self, scope: str, items: Sequence[str], *, journal: Journal | None = None
    ) -> list[str]:
        def write() -> list[str]:
            now = datetime.now(UTC).isoformat()
            won = []
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                for item in items:
                    cursor = db.execute(
                        "INSERT OR IGNORE INTO trigger_claims (scope, item, claimed_at) VALUES (?, ?, ?)",
                        (scope, item, now),
                    )
                    if cursor.rowcount:
                        won.append(item)
                if journal is not None:
                    row = db.execute(
                        "SELECT data FROM trigger_state WHERE scope = ?", (scope,)
                    ).fetchone()
                    state = journal(orjson.loads(row[0]) if row else None, won)
                    if state is not None:
                        self._set_trigger_state(scope, state)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return won

        return await self._call(write)

    async def release(self, scope: str, items: Sequence[str]) -> None:
        def write() -> None:
            self.db.executemany(
                "DELETE FROM trigger_claims WHERE scope = ? AND item = ?",
                [(scope, i) for i in items],
            )

        await self._call(write)


def encode_tags(tags: dict[str, str]) -> str:
    return orjson.dumps(tags).decode()
