"""io.kestra.plugin.jdbc.duckdb.Queries and .Query: SQL on an embedded DuckDB.

DuckDB is a library that blocks, so a task's whole database session (connect, run the
statements, fetch, close) happens in one worker thread; the event loop only waits. If the
task is cancelled (killed, timed out) the connection is interrupted, which stops DuckDB
mid-query, and the worker gets a few seconds to close before the working directory goes.

As in Kestra:
- `inputFiles` (name → inline text or a `kestra:///` URI) are written into the task's
  working directory before the SQL is rendered, and `{{ workingDir }}` names that folder;
  relative paths in the SQL resolve there too (`file_search_path`). Names never leave it.
- `outputFiles` lists files (or globs) the SQL writes in the working directory; they are
  put in internal storage as `outputs.<task>.outputFiles[name]`, and a plain name is also
  a template variable: `COPY t TO '{{ outputFiles.out }}'`.
- A relative file the SQL *writes* (`COPY … TO 'out.csv'`, EXPORT DATABASE, ATTACH) is
  put in the working directory too; DuckDB alone would write it in the server's folder.
- `url` is `jdbc:duckdb:` (in memory, the default), `jdbc:duckdb:/abs/file.db` or
  `jdbc:duckdb:md:…`; `databaseUri` opens a database file from internal storage, and
  `outputDbFile: true` stores the database file afterwards (`outputs.<task>.databaseUri`).
- `fetchType` shapes rows as for PostgreSQL (`results.py`); `parameters` bind `:name`.

`INSTALL x` for an extension that is statically linked into the installed DuckDB (json,
parquet, icu … see `duckdb_extensions()`) does nothing but try to download it again, and
fails without a network; Podium skips it and says so in the logs. Other extensions are
installed as DuckDB does, into a cache folder kept between executions.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from pydantic import field_validator

from engine.durations import is_template
from engine.errors import StorageError, TaskFailed
from engine.plugin import RunContext, Task, lazy_import, plugin
from tasks.jdbc.results import FETCH_TYPES, Fetching, Result, RowFile, fetching_of
from tasks.jdbc.sql import bind_named, shorten
from tasks.properties import (
    masks_failures,
    render_flag,
    render_mapping,
    render_strings,
    render_text,
)

if TYPE_CHECKING:
    import duckdb
else:  # imported when a task first uses it: the catalog stays fast
    duckdb = lazy_import("duckdb")

__all__ = ["DuckDbQueryTask", "Queries", "Query", "builtin_extensions", "database_of"]

DEFAULT_URL = "jdbc:duckdb:"
INTERRUPT_GRACE_SECONDS = 10.0
_INSTALL = re.compile(
    r"^\s*(?:FORCE\s+)?INSTALL\s+['\"]?([A-Za-z0-9_]+)['\"]?(?:\s+FROM\s+\S+)?\s*;?\s*$",
    re.IGNORECASE,
)
# Where a statement names a file DuckDB will write: the last `TO '…'` of a COPY, the
# folder of EXPORT DATABASE, the file of ATTACH.
_WRITE_TARGETS = {
    "COPY": re.compile(r"(\bTO\s+)'((?:[^']|'')*)'", re.IGNORECASE),
    "EXPORT": re.compile(r"(\bDATABASE\s+(?:\w+\s+TO\s+)?)'((?:[^']|'')*)'", re.IGNORECASE),
    "ATTACH": re.compile(
        r"(\bATTACH\s+(?:DATABASE\s+)?(?:IF\s+NOT\s+EXISTS\s+)?)'((?:[^']|'')*)'",
        re.IGNORECASE,
    ),
}
_ROW_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA", "CALL", "EXECUTE", "RELATION"}
_STATUS_COLUMNS = (["Count"], ["Success"])


class DuckDbQueryTask(Task):
    """Properties of Kestra's DuckDB query tasks."""

    sql: str
    url: str = DEFAULT_URL
    username: str | None = None  # DuckDB has no users; accepted for pluginDefaults
    password: str | None = None
    timeZoneId: str | None = None
    fetchType: str = "NONE"
    fetch: bool | str = False
    fetchOne: bool | str = False
    store: bool | str = False
    fetchSize: int | str = 10_000
    parameters: dict[str, Any] | str | None = None
    inputFiles: dict[str, str] | str | None = None
    outputFiles: list[str] | str | None = None
    databaseUri: str | None = None
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
        """Run the SQL; returns the row results and the file outputs."""
        folder = ctx.working_dir()  # first: `{{ workingDir }}` exists from here on
        await _write_inputs(ctx, folder, render_mapping(ctx, self.inputFiles, "inputFiles"))
        patterns = render_strings(ctx, self.outputFiles, "outputFiles")
        named = {p: str(_inside(folder, p)) for p in patterns if not _is_glob(p)}
        sql = ctx.render(self.sql, extra={"outputFiles": named})
        keep_db = bool(render_flag(ctx, self.outputDbFile, "outputDbFile"))
        database, settings = await self._database(ctx, folder, keep_db)
        loop = asyncio.get_running_loop()
        job = DuckDbJob(
            run_id=ctx.task_run_id,
            database=database,
            settings=settings,
            folder=folder,
            sql=str(sql),
            after_sql=after_sql,
            parameters=render_mapping(ctx, self.parameters, "parameters"),
            fetching=fetching_of(ctx, self),
            transaction=transaction,
            time_zone=render_text(ctx, self.timeZoneId, "timeZoneId"),
            extension_dir=ctx.cache_dir("duckdb-extensions"),
            log=lambda message: loop.call_soon_threadsafe(ctx.logger.info, message),
        )
        results = await _in_thread(job)
        for result in results:
            if result.kind == "STORE" and result.uri:
                # Stored and removed before outputFiles are matched, so no glob takes them.
                path = Path(result.uri)
                name = path.name.removeprefix(f"{ctx.task_run_id}_")
                result.uri = await asyncio.to_thread(ctx.storage.put_file, name, path)
                await asyncio.to_thread(path.unlink)
        matched = await asyncio.to_thread(_matching_outputs, folder, patterns, database)
        outputs: dict[str, Any] = {"outputFiles": {}}
        for key, path in matched.items():
            name = key.replace("/", "_")
            outputs["outputFiles"][key] = await asyncio.to_thread(ctx.storage.put_file, name, path)
        if keep_db:
            path = Path(database)
            outputs["databaseUri"] = await asyncio.to_thread(ctx.storage.put_file, path.name, path)
        total = sum(r.size for r in results)
        kind = job.fetching.kind
        ctx.metric(
            "fetch.size",
            total,
            tags={
                "fetch": str(kind in ("FETCH", "FETCH_ONE")).lower(),
                "store": str(kind == "STORE").lower(),
            },
        )
        return results, outputs

    async def _database(
        self, ctx: RunContext, folder: Path, keep_db: bool
    ) -> tuple[str, dict[str, str]]:
        return await database_of(ctx, self.url, self.databaseUri, folder, keep_db)


async def database_of(
    ctx: RunContext, url: str, database_uri: str | None, folder: Path, keep_db: bool
) -> tuple[str, dict[str, str]]:
    """The database DuckDB opens, and settings the URL adds (`?access_mode=…`)."""
    if database_uri:
        uri = render_text(ctx, database_uri, "databaseUri") or ""
        target = folder / f"{ctx.task_run_id}.duckdb"
        await asyncio.to_thread(shutil.copyfile, _local(ctx, uri, "databaseUri"), target)
        return str(target), {}
    url = (render_text(ctx, url, "url") or DEFAULT_URL).strip()
    if not url.lower().startswith(DEFAULT_URL):
        raise TaskFailed(f"not a DuckDB JDBC URL (jdbc:duckdb:…): {url!r}")
    rest = url[len(DEFAULT_URL) :]
    path, _, query = rest.partition("?")
    settings = dict(parse_qsl(query))
    if path in ("", ":memory:", "memory:"):
        # In memory, unless the database file itself is wanted as an output.
        in_folder = str(folder / f"{ctx.task_run_id}.duckdb")
        return (in_folder if keep_db else ":memory:"), settings
    if path.startswith("md:"):
        return rest, {}  # MotherDuck reads its token from the URL itself
    if not Path(path).is_absolute():
        raise TaskFailed("the database file path in 'url' must be absolute")
    await asyncio.to_thread(Path(path).parent.mkdir, parents=True, exist_ok=True)
    return path, settings


@plugin("io.kestra.plugin.jdbc.duckdb.Queries")
class Queries(DuckDbQueryTask):
    """Run several SQL statements on DuckDB, in one transaction by default."""

    transaction: bool | str = True

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        is_transaction = bool(render_flag(ctx, self.transaction, "transaction"))
        results, outputs = await self.execute(ctx, transaction=is_transaction)
        return {"outputs": [r.as_output() for r in results], **outputs}


@plugin("io.kestra.plugin.jdbc.duckdb.Query")
class Query(DuckDbQueryTask):
    """Run a SQL query on DuckDB; the rows of its last result are the outputs."""

    afterSQL: str | None = None
    autoCommit: bool | str = True  # accepted as Kestra 1.x does, which ignores it too

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        after = render_text(ctx, self.afterSQL, "afterSQL")
        results, outputs = await self.execute(ctx, transaction=bool(after), after_sql=after)
        shaped = results[-1].as_output() if results else {}
        return {**shaped, **outputs}


@dataclass
class DuckDbJob:
    """One DuckDB session, run start to end by a worker thread."""

    run_id: str
    database: str
    settings: dict[str, str] = field(repr=False)
    folder: Path = field(repr=False)
    sql: str = field(repr=False)
    after_sql: str | None = field(repr=False)
    parameters: Mapping[str, Any] = field(repr=False)
    fetching: Fetching
    transaction: bool
    time_zone: str | None = field(repr=False)
    extension_dir: Path = field(repr=False)
    log: Callable[[str], Any] = field(repr=False)
    connection: Any = field(default=None, repr=False)
    is_cancelled: bool = False
    stored: int = 0

    def interrupt(self) -> None:
        """From the event loop: stop whatever the worker is running."""
        self.is_cancelled = True
        connection = self.connection
        if connection is not None:
            connection.interrupt()

    def run(self) -> list[Result]:
        connection = duckdb.connect(
            self.database,
            config={
                **self.settings,
                "file_search_path": str(self.folder),
                "extension_directory": str(self.extension_dir),
            },
        )
        self.connection = connection
        statement: str | None = None
        try:
            self._check_cancelled()
            if self.time_zone:
                connection.execute(f"SET TimeZone = '{self.time_zone.replace(chr(39), '')}'")
            builtin = builtin_extensions(connection)
            # Kestra's `:name` is not DuckDB syntax: bind before DuckDB parses anything.
            main = _parse(bind_named(self.sql, self.parameters, "named")[0])
            after = _parse(bind_named(self.after_sql or "", self.parameters, "named")[0])
            statements = [*main, *after]
            if self.transaction:
                connection.execute("BEGIN TRANSACTION")
            results = []
            for index, parsed in enumerate(statements, 1):
                self._check_cancelled()
                statement = parsed.query
                number = index if len(statements) > 1 else None
                is_after = index > len(main)
                result = self._run_one(connection, parsed, number, builtin, is_after)
                if result is not None:
                    results.append(result)
            if self.transaction:
                connection.execute("COMMIT")
            return results
        except duckdb.Error as exc:
            where = f"\n  in statement: {shorten(statement)}" if statement else ""
            raise TaskFailed(f"{exc}{where}") from None
        finally:
            connection.close()

    def _check_cancelled(self) -> None:
        if self.is_cancelled:
            raise TaskFailed("cancelled")

    def _run_one(
        self,
        connection: Any,
        parsed: Any,
        number: int | None,
        builtin: set[str],
        is_after: bool,
    ) -> Result | None:
        text = parsed.query
        where = f"statement {number}" if number else "statement"
        install = _INSTALL.match(text)
        if install and install.group(1).lower() in builtin:
            self.log(
                f"{where}: extension {install.group(1).lower()} is built into DuckDB "
                f"{duckdb.__version__}; INSTALL skipped"
            )
            return None
        text = _anchor_writes(text, parsed.type.name, self.folder)
        used: set[str] = getattr(parsed, "named_parameters", set())
        arguments = {name: self.parameters[name] for name in used if name in self.parameters}
        if arguments:
            connection.execute(text, arguments)
        else:
            connection.execute(text)
        columns = [d[0] for d in connection.description or []]
        has_rows = parsed.type.name in _ROW_STATEMENTS or (
            bool(columns) and columns not in _STATUS_COLUMNS
        )
        if not has_rows or is_after or not self.fetching.keeps_rows:
            status = connection.fetchone() if columns in _STATUS_COLUMNS else None
            count = f" ({status[0]} rows)" if status and columns == ["Count"] else ""
            self.log(f"{where}: {parsed.type.name}{count}")
            return None
        return self._collect(connection, columns, where)

    def _collect(self, connection: Any, columns: list[str], where: str) -> Result:
        result = Result(self.fetching.kind)
        if result.kind == "FETCH_ONE":
            row = connection.fetchone()
            result.row = dict(zip(columns, row, strict=True)) if row is not None else None
            result.size = 0 if row is None else 1
        elif result.kind == "FETCH":
            while batch := connection.fetchmany(self.fetching.batch):
                result.add_rows([dict(zip(columns, r, strict=True)) for r in batch])
        else:
            self.stored += 1
            path = self.folder / f"{self.run_id}_rows_{self.stored}.ion"
            rows = RowFile(path)
            with path.open("wb") as handle:
                while batch := connection.fetchmany(self.fetching.batch):
                    self._check_cancelled()
                    rows.write_to(handle, (dict(zip(columns, r, strict=True)) for r in batch))
                handle.write(rows.take())
            result.uri, result.size = str(path), rows.size
        self.log(f"{where} returned {result.size} row(s) ({result.kind})")
        return result


def _anchor_writes(sql: str, kind: str, folder: Path) -> str:
    """Make a relative file that DuckDB writes land in the working directory.

    DuckDB reads relative paths through `file_search_path` (the working directory) but
    writes them against the server process's current directory, which is nobody's
    folder; Kestra's docs write `'{{ outputFiles.out }}'` for that reason. A relative
    COPY/EXPORT/ATTACH target is made absolute under the working directory instead."""
    pattern = _WRITE_TARGETS.get(kind)
    matches = list(pattern.finditer(sql)) if pattern else []
    if not matches:
        return sql
    last = matches[-1]
    path = last.group(2).replace("''", "'")
    if not path or Path(path).is_absolute() or path.startswith(("~", ":memory:", "md:")):
        return sql
    if "://" in path or path.lower().startswith(("s3:", "gcs:", "gs:", "az:", "hf:")):
        return sql
    anchored = str(folder / path).replace("'", "''")
    return f"{sql[: last.start()]}{last.group(1)}'{anchored}'{sql[last.end() :]}"


def builtin_extensions(connection: Any) -> set[str]:
    """Extensions compiled into this DuckDB: INSTALL has nothing to fetch for them."""
    try:
        rows = connection.execute(
            "SELECT extension_name FROM duckdb_extensions() "
            "WHERE install_mode = 'STATICALLY_LINKED'"
        ).fetchall()
    except duckdb.Error:  # a DuckDB too old to say: assume nothing is built in
        return set()
    return {str(name).lower() for (name,) in rows}


def _parse(sql: str) -> list[Any]:
    return list(duckdb.extract_statements(sql)) if sql.strip() else []


async def _in_thread(job: DuckDbJob) -> list[Result]:
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, job.run)
    # If we stop waiting (cancelled), the worker's own outcome must not go unread.
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        job.interrupt()
        # Let the worker close the database before the working directory is removed.
        await asyncio.wait([future], timeout=INTERRUPT_GRACE_SECONDS)
        raise


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _inside(folder: Path, name: str) -> Path:
    """`name` under `folder`, refusing anything that would land elsewhere."""
    target = (folder / name).resolve()
    if not name or not target.is_relative_to(folder.resolve()) or target == folder.resolve():
        raise TaskFailed(f"file name {name!r} would leave the working directory")
    return target


def _local(ctx: RunContext, uri: str, prop: str) -> Path:
    try:
        path = ctx.storage.local_path(uri)
    except StorageError as exc:
        raise TaskFailed(f"property '{prop}': {exc}") from None
    if not path.is_file():
        raise TaskFailed(f"property '{prop}': no file in internal storage at {uri!r}")
    return path


async def _write_inputs(ctx: RunContext, folder: Path, files: Mapping[str, Any]) -> None:
    for name, content in files.items():
        target = _inside(folder, name)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        text = content if isinstance(content, str) else str(content)
        if text.startswith("kestra://"):
            await asyncio.to_thread(shutil.copyfile, _local(ctx, text, "inputFiles"), target)
        else:
            await asyncio.to_thread(target.write_text, text)


def _matching_outputs(folder: Path, patterns: list[str], database: str) -> dict[str, Path]:
    """Files of `folder` that `outputFiles` names, by their relative path (a worker runs
    this: globbing a large folder is disk work)."""
    root = folder.resolve()
    skipped = {Path(database).resolve(), Path(f"{database}.wal").resolve()}
    matched: dict[str, Path] = {}
    for pattern in patterns:
        if not _is_glob(pattern):
            path = _inside(folder, pattern)
            if not path.is_file():
                raise TaskFailed(f"output file {pattern!r} was not written by the SQL")
            found = [path]
        else:
            found = sorted(p.resolve() for p in root.glob(pattern) if p.is_file())
        for path in found:
            if path.is_relative_to(root) and path not in skipped:  # no symlink out, no db
                matched[path.relative_to(root).as_posix()] = path
    return matched
