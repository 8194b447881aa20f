"""The production store: PostgreSQL through asyncpg.

The same contract as `SqliteStore` (tests/engine/test_store_contract.py runs over both):
the projection is written in batches, one transaction per batch, with upserts guarded by
each row's sequence number and never out of a terminal state; logs and metrics are keyed
by event id. The schema is migrated on start (`schema_migrations` records what ran).

asyncpg errors are translated here, once: a lost connection, a restarting server, a
deadlock or a serialization failure become `TransientError` (the projector retries),
anything else is a bug and propagates. The API's searches live in postgres_reads.py
(a mixin of `PostgresStore`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

import asyncpg
import orjson

from engine.errors import TransientError
from engine.events import PURGE_KINDS, EventDocument, ExecutionChanged, LogLine, TaskRunChanged
from engine.fencing import Fence
from engine.states import State
from engine.store.base import (
    LEVELS,
    Applied,
    FlowRecord,
    Journal,
    UnfinishedExecution,
)
from engine.store.postgres_kv import KV_MIGRATION, PostgresKv
from engine.store.postgres_metrics import PostgresMetrics
from engine.store.postgres_nsfiles import NSFILES_MIGRATION, PostgresNamespaceFiles
from engine.store.postgres_projection import prepare_connection, write_events
from engine.store.postgres_purge import CLEAR_STAGING, PostgresPurge, purge_rows
from engine.store.postgres_reads import PostgresReads, flow_record
from engine.store.purge import purge_segments

__all__ = ["PostgresStore"]

T = TypeVar("T")

_TERMINAL = [s.value for s in State if s.is_terminal]

_MIGRATIONS: list[str] = [
    """
    CREATE TABLE flows (
        namespace text NOT NULL, id text NOT NULL, revision integer NOT NULL,
        source text NOT NULL, deleted boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (namespace, id, revision)
    );
    CREATE TABLE executions (
        id text PRIMARY KEY, namespace text NOT NULL, flow_id text NOT NULL,
        state text NOT NULL, seq bigint NOT NULL, created_at timestamptz NOT NULL,
        ended_at timestamptz, data bytea NOT NULL
    );
    CREATE INDEX executions_by_flow ON executions (namespace, flow_id, created_at DESC);
    CREATE INDEX executions_by_created ON executions (created_at DESC);
    CREATE INDEX executions_by_state ON executions (state, created_at DESC);
    CREATE INDEX executions_unfinished ON executions (created_at)
        WHERE state NOT IN ('SUCCESS', 'WARNING', 'FAILED', 'KILLED', 'CANCELLED', 'SKIPPED');
    CREATE TABLE task_runs (
        id text PRIMARY KEY, execution_id text NOT NULL, seq bigint NOT NULL,
        state text NOT NULL, position bigserial, data bytea NOT NULL
    );
    CREATE INDEX task_runs_by_execution ON task_runs (execution_id, position);
    CREATE TABLE logs (
        event_id text NOT NULL, idx integer NOT NULL, execution_id text NOT NULL,
        task_run_id text, task_id text, attempt integer, at timestamptz NOT NULL,
        level smallint NOT NULL, level_name text NOT NULL, message text NOT NULL,
        position bigserial,
        PRIMARY KEY (event_id, idx)
    );
    CREATE INDEX logs_by_execution ON logs (execution_id, at, position);
    CREATE TABLE metrics (
        event_id text PRIMARY KEY, execution_id text NOT NULL, task_run_id text,
        task_id text, name text NOT NULL, kind text NOT NULL, value double precision NOT NULL,
        tags jsonb NOT NULL, at timestamptz NOT NULL
    );
    CREATE INDEX metrics_by_execution ON metrics (execution_id);
    CREATE TABLE trigger_state (
        scope text PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL
    );
    CREATE TABLE trigger_claims (
        scope text NOT NULL, item text NOT NULL, claimed_at timestamptz NOT NULL,
        PRIMARY KEY (scope, item)
    );
    """,
    # 2: what the REST API searches on (labels, logs by flow) and state histories.
    """
    ALTER TABLE executions ADD COLUMN labels jsonb NOT NULL DEFAULT '{}';
    UPDATE executions SET labels = coalesce(convert_from(data, 'UTF8')::jsonb -> 'labels', '{}');
    CREATE INDEX executions_by_labels ON executions USING gin (labels jsonb_path_ops);
    CREATE INDEX executions_by_ended ON executions (ended_at DESC);
    ALTER TABLE logs ADD COLUMN namespace text NOT NULL DEFAULT '',
                     ADD COLUMN flow_id text NOT NULL DEFAULT '';
    UPDATE logs l SET namespace = e.namespace, flow_id = e.flow_id
        FROM executions e WHERE e.id = l.execution_id;
    CREATE INDEX logs_by_flow ON logs (namespace, flow_id, at);
    CREATE TABLE state_changes (
        execution_id text NOT NULL, task_run_id text NOT NULL, seq bigint NOT NULL,
        attempt integer NOT NULL, state text NOT NULL, at timestamptz NOT NULL,
        PRIMARY KEY (execution_id, task_run_id, seq)
    );
    INSERT INTO state_changes
        SELECT id, '', seq, 1, state, (convert_from(data, 'UTF8')::jsonb ->> 'at')::timestamptz
        FROM executions ON CONFLICT DO NOTHING;
    INSERT INTO state_changes
        SELECT execution_id, id, seq,
               coalesce((convert_from(data, 'UTF8')::jsonb ->> 'attempt')::int, 1), state,
               (convert_from(data, 'UTF8')::jsonb ->> 'at')::timestamptz
        FROM task_runs ON CONFLICT DO NOTHING;
    """,
    # 3: owner epochs claimed (engine/fencing.py); only executions that changed owner.
    """
    CREATE TABLE execution_epochs (execution_id text PRIMARY KEY, epoch bigint NOT NULL);
    """,
    # 4: namespace key/value entries (engine/kv/__init__.py)
    KV_MIGRATION,
    # 5: namespace files, a row per revision (postgres_nsfiles.py)
    NSFILES_MIGRATION,
]


_EPOCHS = "SELECT execution_id, epoch FROM execution_epochs WHERE execution_id = ANY($1::text[])"

_RAISE_EPOCHS = """
INSERT INTO execution_epochs AS c (execution_id, epoch)
SELECT * FROM unnest($1::text[], $2::bigint[])
ON CONFLICT (execution_id) DO UPDATE SET epoch = greatest(c.epoch, excluded.epoch)
"""

_TRANSIENT = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    # A connection the server ended while it sat idle in the pool (pg_terminate_backend,
    # a restart) can be handed out between the server's FATAL message and the socket's
    # close: asyncpg then refuses the next query with "another operation is in
    # progress". The pool drops that connection; the next try gets a fresh one.
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    OSError,
    TimeoutError,
)


class PostgresStore(
    PostgresReads, PostgresKv, PostgresNamespaceFiles, PostgresPurge, PostgresMetrics
):
    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, command_timeout: float = 60.0
    ) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        where = self.url.rsplit("@", 1)[-1]  # never print credentials
        return f"<PostgresStore {where}>"

    async def __aenter__(self) -> Self:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                command_timeout=self.command_timeout,
                timeout=30,
                init=prepare_connection,
            )
        except _TRANSIENT as exc:
            raise TransientError(f"postgresql: cannot connect: {exc}") from exc
        await self.migrate()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        return self._pool

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        try:
            async with self.pool.acquire() as connection:
                return await fn(connection)
        except _TRANSIENT as exc:
            raise TransientError(f"postgresql: {type(exc).__name__}: {exc}") from exc

    async def migrate(self) -> int:
        """Apply the migrations not yet applied; returns the schema version."""

        async def run(db: asyncpg.Connection) -> int:
            async with db.transaction():
                # one migrator at a time, whichever role starts first
                await db.execute("SELECT pg_advisory_xact_lock(4242001)")
                await db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)"
                )
                current = await db.fetchval(
                    "SELECT coalesce(max(version), 0) FROM schema_migrations"
                )
                for version, script in enumerate(_MIGRATIONS, start=1):
                    if version > current:
                        await db.execute(script)
                        await db.execute(
                            "INSERT INTO schema_migrations VALUES ($1, now())", version
                        )
                return len(_MIGRATIONS)

        return await self._run(run)

    # -- the projection -------------------------------------------------------------

    async def apply(self, events: Sequence[EventDocument]) -> Applied:
        ids = list({e.doc["execution_id"] for e in events if e.doc["kind"] not in PURGE_KINDS})

        async def write(db: asyncpg.Connection) -> Applied:
            async with db.transaction():
                fence = Fence({r[0]: r[1] for r in await db.fetch(_EPOCHS, ids)})
                admitted = fence.admitted(events)
                changed = 0
                for written, purge in purge_segments(admitted):
                    changed += await write_events(db, written)
                    if purge is not None:
                        await db.execute(CLEAR_STAGING)  # what follows is staged anew
                        changed += await purge_rows(db, purge.doc)
                if fence.raised:
                    await db.execute(_RAISE_EPOCHS, *_columns(fence.raised.items(), 2))
            return Applied(admitted, changed)

        return await self._run(write)

    # -- flows ----------------------------------------------------------------------------

    async def save_flow(self, namespace: str, flow_id: str, source: str) -> FlowRecord:
        async def write(db: asyncpg.Connection) -> FlowRecord:
            async with db.transaction():
                await db.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"{namespace}/{flow_id}"
                )
                current = await self._latest_flow(db, namespace, flow_id)
                if current is not None and current.source == source and not current.is_deleted:
                    return current
                revision = current.revision + 1 if current else 1
                now = datetime.now(UTC)
                await db.execute(
                    "INSERT INTO flows (namespace, id, revision, source, deleted, updated_at) VALUES ($1, $2, $3, $4, false, $5)",
                    namespace, flow_id, revision, source, now,
                )  # fmt: skip
                return FlowRecord(namespace, flow_id, revision, source, now)

        return await self._run(write)

    @staticmethod
    async def _latest_flow(
        db: asyncpg.Connection, namespace: str, flow_id: str
    ) -> FlowRecord | None:
        row = await db.fetchrow(
            "SELECT namespace, id, revision, source, updated_at, deleted FROM flows "
            "WHERE namespace = $1 AND id = $2 ORDER BY revision DESC LIMIT 1",
            namespace, flow_id,
        )  # fmt: skip
        return flow_record(row) if row else None

    async def get_flow(
        self, namespace: str, flow_id: str, revision: int | None = None
    ) -> FlowRecord | None:
        async def read(db: asyncpg.Connection) -> FlowRecord | None:
            if revision is None:
                found = await self._latest_flow(db, namespace, flow_id)
                return None if found is None or found.is_deleted else found
            row = await db.fetchrow(
                "SELECT namespace, id, revision, source, updated_at, deleted FROM flows "
                "WHERE namespace = $1 AND id = $2 AND revision = $3",
                namespace, flow_id, revision,
            )  # fmt: skip
            return flow_record(row) if row else None

        return await self._run(read)

    async def list_flows(self) -> list[FlowRecord]:
        async def read(db: asyncpg.Connection) -> list[FlowRecord]:
            rows = await db.fetch(
                "SELECT DISTINCT ON (namespace, id) namespace, id, revision, source, updated_at, deleted "
                "FROM flows ORDER BY namespace, id, revision DESC"
            )
            return [flow_record(r) for r in rows if not r["deleted"]]

        return await self._run(read)

    async def delete_flow(self, namespace: str, flow_id: str) -> bool:
        async def write(db: asyncpg.Connection) -> bool:
            async with db.transaction():
                await db.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"{namespace}/{flow_id}"
                )
                current = await self._latest_flow(db, namespace, flow_id)
                if current is None or current.is_deleted:
                    return False
                await db.execute(
                    "INSERT INTO flows (namespace, id, revision, source, deleted, updated_at) VALUES ($1, $2, $3, $4, true, $5)",
                    namespace, flow_id, current.revision + 1, current.source, datetime.now(UTC),
                )  # fmt: skip
                return True

        return await self._run(write)

    # -- reads ------------------------------------------------------------------------------

    async def get_execution(self, execution_id: str) -> ExecutionChanged | None:
        async def read(db: asyncpg.Connection) -> ExecutionChanged | None:
            data = await db.fetchval("SELECT data FROM executions WHERE id = $1", execution_id)
            return ExecutionChanged.model_validate_json(data) if data is not None else None

        return await self._run(read)

    async def existing_executions(
        self, execution_ids: Sequence[str]
    ) -> dict[str, ExecutionChanged]:
        async def read(db: asyncpg.Connection) -> dict[str, ExecutionChanged]:
            rows = await db.fetch(
                "SELECT data FROM executions WHERE id = ANY($1::text[])", list(execution_ids)
            )
            found = (ExecutionChanged.model_validate_json(r["data"]) for r in rows)
            return {e.execution_id: e for e in found}

        return await self._run(read)

    async def list_executions(
        self,
        *,
        namespace: str | None = None,
        flow_id: str | None = None,
        states: Sequence[State] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> list[ExecutionChanged]:
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("namespace", namespace), ("flow_id", flow_id)):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} = ${len(args)}")
        if states:
            args.append([s.value for s in states])
            clauses.append(f"state = ANY(${len(args)}::text[])")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        args += [limit, offset]
        sql = f"SELECT data FROM executions {where} ORDER BY created_at DESC, id LIMIT ${len(args) - 1} OFFSET ${len(args)}"

        async def read(db: asyncpg.Connection) -> list[ExecutionChanged]:
            return [
                ExecutionChanged.model_validate_json(r["data"]) for r in await db.fetch(sql, *args)
            ]

        return await self._run(read)

    async def task_runs(self, execution_id: str) -> list[TaskRunChanged]:
        return await self._run(lambda db: self._task_runs(db, execution_id))

    @staticmethod
    async def _task_runs(db: asyncpg.Connection, execution_id: str) -> list[TaskRunChanged]:
        rows = await db.fetch(
            "SELECT data FROM task_runs WHERE execution_id = $1 ORDER BY position", execution_id
        )
        return [TaskRunChanged.model_validate_json(r["data"]) for r in rows]

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
        args: list[Any] = [execution_id, LEVELS.get(min_level.upper(), 0)]
        clauses = ["execution_id = $1", "level >= $2"]
        if task_ids:
            args.append(list(task_ids))
            clauses.append(f"task_id = ANY(${len(args)}::text[])")
        if task_run_id:
            args.append(task_run_id)
            clauses.append(f"task_run_id = ${len(args)}")
        args += [limit, offset]
        sql = (
            "SELECT at, level_name, message, task_run_id, task_id, attempt FROM logs "
            f"WHERE {' AND '.join(clauses)} ORDER BY at, position LIMIT ${len(args) - 1} OFFSET ${len(args)}"
        )

        async def read(db: asyncpg.Connection) -> list[LogLine]:
            return [
                LogLine(
                    at=r[0], level=r[1], message=r[2], task_run_id=r[3], task_id=r[4], attempt=r[5]
                )
                for r in await db.fetch(sql, *args)
            ]

        return await self._run(read)

    async def unfinished_executions(self) -> list[UnfinishedExecution]:
        async def read(db: asyncpg.Connection) -> list[UnfinishedExecution]:
            rows = await db.fetch(
                "SELECT data FROM executions WHERE NOT (state = ANY($1::text[])) ORDER BY created_at",
                _TERMINAL,
            )
            out = []
            for row in rows:
                execution = ExecutionChanged.model_validate_json(row["data"])
                runs = await self._task_runs(db, execution.execution_id)
                last = max([execution.seq, *(r.seq for r in runs)])
                out.append(UnfinishedExecution(execution, tuple(runs), last))
            return out

        return await self._run(read)

    # -- trigger state ------------------------------------------------------------------------

    async def get_trigger_state(self, scope: str) -> dict[str, Any] | None:
        async def read(db: asyncpg.Connection) -> dict[str, Any] | None:
            data = await db.fetchval("SELECT data::text FROM trigger_state WHERE scope = $1", scope)
            return orjson.loads(data) if data is not None else None

        return await self._run(read)

    async def set_trigger_state(self, scope: str, state: dict[str, Any]) -> None:
        async def write(db: asyncpg.Connection) -> None:
            await db.execute(_SET_TRIGGER_STATE, scope, orjson.dumps(state).decode())

        await self._run(write)

    async def claim(
        self, scope: str, items: Sequence[str], *, journal: Journal | None = None
    ) -> list[str]:
        async def insert(db: asyncpg.Connection) -> list[str]:
            rows = await db.fetch(
                "INSERT INTO trigger_claims (scope, item, claimed_at) "
                "SELECT $1, item, now() FROM unnest($2::text[]) AS u(item) "
                "ON CONFLICT DO NOTHING RETURNING item",
                scope, list(items),
            )  # fmt: skip
            recorded = {r["item"] for r in rows}
            return [item for item in items if item in recorded]

        async def journaled(db: asyncpg.Connection) -> list[str]:
            assert journal is not None
            async with db.transaction():
                # The journaled claims of one scope take turns, its first included (a row
                # lock would not hold a row that does not exist yet).
                await db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _JOURNALS, scope)
                data = await db.fetchval(
                    "SELECT data::text FROM trigger_state WHERE scope = $1", scope
                )
                won = await insert(db)
                state = journal(orjson.loads(data) if data is not None else None, won)
                if state is not None:
                    await db.execute(_SET_TRIGGER_STATE, scope, orjson.dumps(state).decode())
            return won

        return await self._run(insert if journal is None else journaled)

    async def release(self, scope: str, items: Sequence[str]) -> None:
        async def write(db: asyncpg.Connection) -> None:
            await db.execute(
                "DELETE FROM trigger_claims WHERE scope = $1 AND item = ANY($2::text[])",
                scope,
                list(items),
            )

        await self._run(write)


_JOURNALS = 4242002  # the advisory locks' class for journaled claims (migrations: 4242001)

_SET_TRIGGER_STATE = (
    "INSERT INTO trigger_state (scope, data, updated_at) VALUES ($1, $2::jsonb, now()) "
    "ON CONFLICT (scope) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at"
)


def _columns(rows: Any, width: int) -> list[list[Any]]:
    """Rows to one list per column, as unnest() takes them."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns
