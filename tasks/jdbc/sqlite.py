"""io.kestra.plugin.jdbc.sqlite.Queries and .Query: SQL on a SQLite file (stdlib sqlite3).

SQLite blocks, so a task's whole session runs in one worker thread, as DuckDB's does;
a cancelled task interrupts the running statement. Rows are shaped by `fetchType` as for
the other databases (`results.py`); Kestra's `:name` parameters are SQLite's own syntax
and are bound by the library.

Where the database is: `url: jdbc:sqlite:name.db` is a file in the task's working
directory (`jdbc:sqlite::memory:`, the default, is in memory). The path may not leave
that folder: an absolute path or `..` is refused, so a flow cannot open the server's
files. To work on an existing database, `sqliteFile` names it: a file of the execution's
internal storage (`kestra:///…`, e.g. a download's `uri`) or a namespace file
(`nsfile:///data/app.db`); it is copied to the URL's file name first. `outputDbFile:
true` stores the database file afterwards (`outputs.<task>.databaseUri`). ATTACH and
VACUUM INTO are refused (they reach other files); extensions cannot be loaded.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import field_validator

from engine.durations import is_template
from engine.errors import PodiumError, TaskFailed
from engine.plugin import RunContext, Task, plugin
from tasks.jdbc.results import FETCH_TYPES, Fetching, Result, RowFile, fetching_of
from tasks.jdbc.sql import shorten, split_statements
from tasks.properties import masks_failures, render_flag, render_mapping, render_text

__all__ = ["Queries", "Query", "database_path"]

PREFIX = "jdbc:sqlite:"
MEMORY = ":memory:"
INTERRUPT_GRACE_SECONDS = 10.0
BUSY_SECONDS = 10.0  # waits this long for a lock another connection holds


def database_path(url: str, folder: Path) -> str:
    """The file a `jdbc:sqlite:` URL names, inside `folder`; `:memory:` stays so."""
    text = url.strip()
    if not text.lower().startswith(PREFIX):
        raise TaskFailed(f"not a SQLite JDBC URL (jdbc:sqlite:name.db): {url!r}")
    name = text[len(PREFIX) :].partition("?")[0]
    if name in ("", MEMORY):
        return MEMORY
    if name.startswith("file:"):
        raise TaskFailed("SQLite URI file names (jdbc:sqlite:file:…) are not supported")
    relative = PurePosixPath(name.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or name.startswith("~"):
        raise TaskFailed(
            f"the SQLite database {name!r} must be a file name in the working directory "
            "(use sqliteFile to bring in an existing database)"
        )
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise TaskFailed(f"the SQLite database {name!r} would leave the working directory")
    return str(target)


class SqliteQueryTask(Task):
    """Properties of Kestra's SQLite query tasks."""

    sql: str
    url: str = f"{PREFIX}{MEMORY}"
    username: str | None = None  # SQLite has no users; accepted for pluginDefaults
    password: str | None = None
    timeZoneId: str | None = None  # accepted as Kestra does; SQLite has no time zones
    fetchType: str = "NONE"
    fetch: bool | str = False
    fetchOne: bool | str = False
    store: bool | str = False
    fetchSize: int | str = 10_000
    parameters: dict[str, Any] | str | None = None
    sqliteFile: str | None = None
    outputDbFile: bool | str = False

    @field_validator("fetchType")
    @classmethod
    def _known_fetch_type(cls, value: str) -> str:
        if not is_template(value) and value.strip().upper() not in FETCH_TYPES:
            raise ValueError(f"fetchType must be one of {', '.join(FETCH_TYPES)}")
        return value

    async def execute(
        self, ctx: RunContext, *, transaction: bool, after_sql: str | None = None
    ) -> tuple[list[Result], dict[str, Any]]:
        folder = ctx.working_dir()
        database = database_path(render_text(ctx, self.url, "url") or "", folder)
        keep = bool(render_flag(ctx, self.outputDbFile, "outputDbFile"))
        if self.sqliteFile:
            if database == MEMORY:
                raise TaskFailed("sqliteFile needs a file name in 'url' (jdbc:sqlite:name.db)")
            await _bring_in(ctx, render_text(ctx, self.sqliteFile, "sqliteFile") or "", database)
        elif keep and database == MEMORY:
            database = str(folder / f"{ctx.task_run_id}.db")
        await asyncio.to_thread(Path(folder).mkdir, parents=True, exist_ok=True)
        if database != MEMORY:
            await asyncio.to_thread(Path(database).parent.mkdir, parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        job = SqliteJob(
            run_id=ctx.task_run_id,
            database=database,
            folder=folder,
            statements=split_statements(render_text(ctx, self.sql, "sql") or ""),
            after=split_statements(after_sql or ""),
            parameters=render_mapping(ctx, self.parameters, "parameters"),
            fetching=fetching_of(ctx, self),
            transaction=transaction,
            log=lambda message: loop.call_soon_threadsafe(ctx.logger.info, message),
        )
        if not job.statements:
            raise TaskFailed("property 'sql' holds no statement")
        results = await _in_thread(job)
        for result in results:
            if result.kind == "STORE" and result.uri:
                path = Path(result.uri)
                name = path.name.removeprefix(f"{ctx.task_run_id}_")
                result.uri = await asyncio.to_thread(ctx.storage.put_file, name, path)
                await asyncio.to_thread(path.unlink)
        outputs: dict[str, Any] = {}
        if keep:
            path = Path(database)
            outputs["databaseUri"] = await asyncio.to_thread(ctx.storage.put_file, path.name, path)
        kind = job.fetching.kind
        ctx.metric(
            "fetch.size",
            sum(r.size for r in results),
            tags={
                "fetch": str(kind in ("FETCH", "FETCH_ONE")).lower(),
                "store": str(kind == "STORE").lower(),
            },
        )
        return results, outputs


async def _bring_in(ctx: RunContext, source: str, database: str) -> None:
    """Copy `sqliteFile` (internal storage or a namespace file) to the database's path."""
    source = source.strip()
    try:
        if source.startswith("nsfile://"):
            data = await ctx.namespace_files.read(ctx.namespace, source[len("nsfile://") :])
            await asyncio.to_thread(Path(database).write_bytes, data)
            return
        path = ctx.storage.local_path(source)
    except PodiumError as exc:
        raise TaskFailed(f"property 'sqliteFile': {exc}") from None
    if not path.is_file():
        raise TaskFailed(f"property 'sqliteFile': no file in internal storage at {source!r}")
    await asyncio.to_thread(Path(database).write_bytes, await asyncio.to_thread(path.read_bytes))


@plugin("io.kestra.plugin.jdbc.sqlite.Queries")
class Queries(SqliteQueryTask):
    """Run several SQL statements on SQLite, in one transaction by default."""

    transaction: bool | str = True

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        is_transaction = bool(render_flag(ctx, self.transaction, "transaction"))
        results, outputs = await self.execute(ctx, transaction=is_transaction)
        return {"outputs": [r.as_output() for r in results], **outputs}


@plugin("io.kestra.plugin.jdbc.sqlite.Query")
class Query(SqliteQueryTask):
    """Run a SQL query on SQLite; the rows of its last result are the outputs."""

    afterSQL: str | None = None
    autoCommit: bool | str = True  # accepted as Kestra 1.x does, which ignores it too

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        after = render_text(ctx, self.afterSQL, "afterSQL")
        results, outputs = await self.execute(ctx, transaction=bool(after), after_sql=after)
        return {**(results[-1].as_output() if results else {}), **outputs}


@dataclass
class SqliteJob:
    """One SQLite session, run start to end by a worker thread."""

    run_id: str
    database: str
    folder: Path = field(repr=False)
    statements: list[str] = field(repr=False)
    after: list[str] = field(repr=False)
    parameters: Mapping[str, Any] = field(repr=False)
    fetching: Fetching
    transaction: bool
    log: Callable[[str], Any] = field(repr=False)
    connection: sqlite3.Connection | None = field(default=None, repr=False)
    is_cancelled: bool = False
    stored: int = 0

    def interrupt(self) -> None:
        """From the event loop: stop whatever the worker is running."""
        self.is_cancelled = True
        if self.connection is not None:
            self.connection.interrupt()

    def run(self) -> list[Result]:
        connection = sqlite3.connect(
            self.database, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
        )
        self.connection = connection
        # ATTACH (and VACUUM INTO, which attaches) would open or create any file the
        # server can reach; the database named by the URL is the only one.
        connection.set_authorizer(_authorize)
        statement: str | None = None
        try:
            if self.transaction:
                connection.execute("BEGIN")
            results = []
            everything = [(s, True) for s in self.statements] + [(s, False) for s in self.after]
            for index, (statement, keep) in enumerate(everything, 1):
                if self.is_cancelled:
                    raise TaskFailed("cancelled")
                number = index if len(everything) > 1 else None
                result = self._run_one(connection, statement, number, keep)
                if result is not None:
                    results.append(result)
            if self.transaction:
                connection.execute("COMMIT")
            return results
        except sqlite3.Error as exc:
            where = f"\n  in statement: {shorten(statement)}" if statement else ""
            raise TaskFailed(f"{exc}{where}") from None
        finally:
            connection.close()

    def _run_one(
        self, connection: sqlite3.Connection, sql: str, number: int | None, keep: bool
    ) -> Result | None:
        where = f"statement {number}" if number else "statement"
        if self.parameters:
            cursor = connection.execute(sql, dict(self.parameters))
        else:
            cursor = connection.execute(sql)
        if cursor.description is None:
            self.log(f"{where}: {max(cursor.rowcount, 0)} row(s) affected")
            return None
        if not keep or not self.fetching.keeps_rows:
            cursor.close()
            self.log(f"{where}: rows not kept (fetchType NONE)")
            return None
        columns = [d[0] for d in cursor.description]
        result = Result(self.fetching.kind)
        if result.kind == "FETCH_ONE":
            row = cursor.fetchone()
            result.row = dict(zip(columns, row, strict=True)) if row is not None else None
            result.size = 0 if row is None else 1
        elif result.kind == "FETCH":
            while batch := cursor.fetchmany(self.fetching.batch):
                result.add_rows([dict(zip(columns, r, strict=True)) for r in batch])
        else:
            self.stored += 1
            path = self.folder / f"{self.run_id}_rows_{self.stored}.ion"
            rows = RowFile(path)
            with path.open("wb") as handle:
                while batch := cursor.fetchmany(self.fetching.batch):
                    if self.is_cancelled:
                        raise TaskFailed("cancelled")
                    rows.write_to(handle, (dict(zip(columns, r, strict=True)) for r in batch))
                handle.write(rows.take())
            result.uri, result.size = str(path), rows.size
        cursor.close()
        self.log(f"{where} returned {result.size} row(s) ({result.kind})")
        return result


def _authorize(action: int, *_: Any) -> int:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


async def _in_thread(job: SqliteJob) -> list[Result]:
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, job.run)
    # If we stop waiting (cancelled), the worker's own outcome must not go unread.
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        job.interrupt()
        await asyncio.wait([future], timeout=INTERRUPT_GRACE_SECONDS)
        raise
