"""io.kestra.plugin.jdbc.mysql.Queries, .Query and .Batch on MySQL and MariaDB (asyncmy).

Behind the `mysql` extra. The tasks behave as their PostgreSQL twins (postgresql.py):
`Queries` runs a script in one transaction by default and lists each row-returning
statement's result; `Query` returns the last one's (`row`, `rows`, `uri`, `size`) and runs
`afterSQL` in the same transaction; `:name` parameters are bound by the driver, never
pasted into the text. Rows are read with an unbuffered cursor, so STORE streams a result
of any size in `fetchSize` slices.

URLs are Connector/J's: `jdbc:mysql://host:3306/db?user=…&password=…&connectTimeout=ms`
(`jdbc:mariadb://` too). Properties a Java driver tunes itself by (`useSSL`,
`serverTimezone`, `allowPublicKeyRetrieval`…) have no meaning here: they are named in a
warning and otherwise left alone. `LOAD DATA LOCAL INFILE` is off: the server could
otherwise ask Podium for any file it can read. `~/.my.cnf` is never read.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import orjson
from pydantic import field_validator

from engine.durations import is_template
from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, lazy_import, plugin
from tasks.jdbc.batch import BatchTask, RowChunk
from tasks.jdbc.results import FETCH_TYPES, Fetching, Result, fetching_of
from tasks.jdbc.sql import bind_named, number_question_marks, shorten, split_statements
from tasks.jdbc.stored import StoredRows
from tasks.jdbc.trigger import QueryTrigger
from tasks.properties import masks_failures, render_flag, render_mapping, render_text

if TYPE_CHECKING:
    import asyncmy
    from asyncmy import cursors, errors
else:  # the driver is imported when a task first uses it: the catalog stays fast
    asyncmy = lazy_import("asyncmy")
    cursors = lazy_import("asyncmy.cursors")
    errors = lazy_import("asyncmy.errors")

__all__ = [
    "TASKS",
    "TRIGGERS",
    "Batch",
    "MySqlTarget",
    "Queries",
    "Query",
    "Trigger",
    "parse_mysql_url",
]

DEFAULT_PORT = 3306
DEFAULT_CONNECT_SECONDS = 10.0
_JSON_TYPE = 245  # MySQL's JSON column type code (MariaDB sends JSON as text)
_KNOWN_PARAMS = {"user", "password", "connectTimeout", "socketTimeout"}


@dataclass(frozen=True)
class MySqlTarget:
    host: str = "localhost"
    port: int = DEFAULT_PORT
    database: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<MySqlTarget {self.host}:{self.port}/{self.database or ''}>"


def parse_mysql_url(url: str) -> MySqlTarget:
    """Read `jdbc:mysql://host:port/db?k=v` (or `jdbc:mariadb://`)."""
    text = url.strip()
    lowered = text.lower()
    for scheme in ("jdbc:mysql://", "jdbc:mariadb://"):
        if lowered.startswith(scheme):
            rest = text[len(scheme) :]
            break
    else:
        raise TaskFailed(f"not a MySQL JDBC URL (jdbc:mysql://host:port/db): {url!r}")
    rest, _, query = rest.partition("?")
    authority, _, path = rest.partition("/")
    if "," in authority:
        raise TaskFailed("several hosts in a MySQL URL (fail-over) are not supported")
    if authority.startswith("["):
        host, _, tail = authority[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = authority.partition(":")
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise TaskFailed(f"invalid port {port_text!r} in MySQL URL {url!r}") from None
    if not 0 < port < 65536:
        raise TaskFailed(f"invalid port {port} in MySQL URL {url!r}")
    return MySqlTarget(
        host=unquote(host) or "localhost",
        port=port,
        database=unquote(path) or None,
        params=dict(parse_qsl(query, keep_blank_values=True)),
    )


class MySqlConnection(Task):
    """Kestra's connection properties of the MySQL tasks."""

    url: str
    username: str | None = None
    password: str | None = None
    timeZoneId: str | None = None


def _milliseconds(params: Mapping[str, str], name: str) -> float | None:
    text = params.get(name)
    if not text:
        return None
    try:
        value = float(text) / 1000  # Connector/J counts in milliseconds
    except ValueError:
        raise TaskFailed(f"URL property {name}={text!r} is not a number of milliseconds") from None
    return value if value > 0 else None


@contextlib.asynccontextmanager
async def connect(ctx: RunContext, task: MySqlConnection) -> AsyncIterator[Any]:
    """One connection for the task run, closed whatever happens."""
    target = parse_mysql_url(render_text(ctx, task.url, "url") or "")
    ignored = sorted(set(target.params) - _KNOWN_PARAMS)
    if ignored:
        ctx.logger.warning(f"URL properties without effect here: {', '.join(ignored)}")
    user = render_text(ctx, task.username, "username") or target.params.get("user") or "root"
    password = render_text(ctx, task.password, "password") or target.params.get("password", "")
    time_zone = render_text(ctx, task.timeZoneId, "timeZoneId")
    connect_seconds = _milliseconds(target.params, "connectTimeout") or DEFAULT_CONNECT_SECONDS
    where = f"{target.host}:{target.port}/{target.database or ''} as {user}"
    try:
        connection = await asyncmy.connect(
            host=target.host,
            port=target.port,
            user=user,
            password=password,
            database=target.database,
            connect_timeout=connect_seconds,
            read_timeout=_milliseconds(target.params, "socketTimeout"),
            autocommit=True,
            local_infile=False,
            charset="utf8mb4",
            init_command=f"SET time_zone = '{time_zone.replace(chr(39), '')}'"
            if time_zone
            else None,
        )
    except (errors.MySQLError, OSError, TimeoutError) as exc:
        raise TaskFailed(f"cannot connect to MySQL at {where}: {_message(exc)}") from None
    try:
        yield connection
    finally:
        connection.close()  # no round trip: the socket goes, the server rolls back


def _message(exc: BaseException) -> str:
    if isinstance(exc, errors.MySQLError) and len(exc.args) >= 2:
        return f"{exc.args[0]}: {exc.args[1]}"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__


class MySqlQueryTask(MySqlConnection):
    sql: str
    fetchType: str = "NONE"
    fetch: bool | str = False
    fetchOne: bool | str = False
    store: bool | str = False
    fetchSize: int | str = 10_000
    parameters: dict[str, Any] | str | None = None

    @field_validator("fetchType")
    @classmethod
    def _known_fetch_type(cls, value: str) -> str:
        if not is_template(value) and value.strip().upper() not in FETCH_TYPES:
            raise ValueError(f"fetchType must be one of {', '.join(FETCH_TYPES)}")
        return value

    def prepare(self, ctx: RunContext) -> tuple[list[str], Fetching, dict[str, Any]]:
        statements = split_statements(render_text(ctx, self.sql, "sql") or "", "mysql")
        if not statements:
            raise TaskFailed("property 'sql' holds no statement")
        return (
            statements,
            fetching_of(ctx, self),
            render_mapping(ctx, self.parameters, "parameters"),
        )


@plugin("io.kestra.plugin.jdbc.mysql.Queries")
class Queries(MySqlQueryTask):
    """Run several SQL statements against MySQL, in one transaction by default."""

    transaction: bool | str = True

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        statements, fetching, parameters = self.prepare(ctx)
        in_transaction = bool(render_flag(ctx, self.transaction, "transaction"))
        async with connect(ctx, self) as connection:
            runner = Runner(ctx, connection, fetching, parameters)
            results = await runner.run_all(statements, in_transaction=in_transaction)
        runner.report()
        return {"outputs": [r.as_output() for r in results]}


@plugin("io.kestra.plugin.jdbc.mysql.Query")
class Query(MySqlQueryTask):
    """Run one SQL statement against MySQL and keep its rows as `fetchType` says."""

    afterSQL: str | None = None
    autoCommit: bool | str = True  # accepted as Kestra 1.x does, which ignores it too

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        statements, fetching, parameters = self.prepare(ctx)
        after = split_statements(render_text(ctx, self.afterSQL, "afterSQL") or "", "mysql")
        async with connect(ctx, self) as connection:
            runner = Runner(ctx, connection, fetching, parameters)
            results = await runner.run_all(statements, in_transaction=bool(after), after=after)
        runner.report()
        return results[-1].as_output() if results else {}


class Runner:
    """Runs statements on one connection and shapes the rows of those that return any."""

    def __init__(
        self,
        ctx: RunContext,
        connection: Any,
        fetching: Fetching,
        parameters: Mapping[str, Any],
    ) -> None:
        self.ctx = ctx
        self.connection = connection
        self.fetching = fetching
        self.parameters = parameters
        self.total = 0
        self.stored = StoredRows(ctx)

    def __repr__(self) -> str:
        return f"<mysql.Runner {self.fetching.kind} rows={self.total}>"

    async def run_all(
        self, statements: Sequence[str], *, in_transaction: bool, after: Sequence[str] = ()
    ) -> list[Result]:
        results: list[Result] = []
        try:
            if in_transaction:
                await self.connection.begin()
            for index, statement in enumerate(statements, 1):
                number = index if len(statements) > 1 else None
                result = await self.run_one(statement, number, keep=True)
                if result is not None:
                    results.append(result)
            for statement in after:
                await self.run_one(statement, None, keep=False)
            if in_transaction:
                await self.connection.commit()
        except (errors.MySQLError, OSError, TimeoutError) as exc:
            raise TaskFailed(_message(exc)) from None
        return results

    async def run_one(self, statement: str, number: int | None, *, keep: bool) -> Result | None:
        sql, names = bind_named(statement, self.parameters, "format")
        args = [_parameter(self.parameters[name]) for name in names] or None
        where = f"statement {number}" if number else "the statement"
        self.ctx.logger.debug(f"running {where}: {shorten(statement, 300)}")
        cursor = self.connection.cursor(cursors.SSCursor)
        try:
            try:
                await cursor.execute(sql, args)
            except errors.MySQLError as exc:
                raise TaskFailed(f"{_message(exc)}\n  in {where}: {shorten(statement)}") from None
            if not cursor.description:
                self.ctx.logger.info(f"{where}: {max(cursor.rowcount, 0)} row(s) affected")
                return None
            if not keep or not self.fetching.keeps_rows:
                while await cursor.fetchmany(self.fetching.batch):
                    pass  # an unbuffered result must be read before the next statement
                return None
            return await self._collect(cursor, where)
        finally:
            await cursor.close()

    async def _collect(self, cursor: Any, where: str) -> Result:
        labels = [d[0] for d in cursor.description]
        as_json = {i for i, d in enumerate(cursor.description) if d[1] == _JSON_TYPE}

        def to_map(record: Sequence[Any]) -> dict[str, Any]:
            return {
                label: orjson.loads(value) if i in as_json and value is not None else value
                for i, (label, value) in enumerate(zip(labels, record, strict=True))
            }

        async def batches() -> AsyncIterator[list[dict[str, Any]]]:
            while batch := await cursor.fetchmany(self.fetching.batch):
                yield [to_map(r) for r in batch]

        result = Result(self.fetching.kind)
        if result.kind == "FETCH_ONE":
            async for batch in batches():
                if result.row is None and batch:
                    result.row, result.size = batch[0], 1
        elif result.kind == "FETCH":
            async for batch in batches():
                result.add_rows(batch)
        else:
            result.uri, result.size = await self.stored.write(batches())
        self.total += result.size
        self.ctx.logger.info(f"{where} returned {result.size} row(s) ({result.kind})")
        return result

    def report(self) -> None:
        kind = self.fetching.kind
        tags = {
            "fetch": str(kind in ("FETCH", "FETCH_ONE")).lower(),
            "store": str(kind == "STORE").lower(),
        }
        self.ctx.metric("fetch.size", self.total, tags=tags)


def _parameter(value: Any) -> Any:
    """A rendered parameter as the driver sends it: maps and lists as JSON text."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


@plugin("io.kestra.plugin.jdbc.mysql.Batch")
class Batch(BatchTask, MySqlConnection):
    """Insert the rows of a file into MySQL, `chunk` rows per round trip."""

    async def run_batches(self, ctx: RunContext, sql: str, chunks: AsyncIterator[RowChunk]) -> int:
        text, count = number_question_marks(sql, "format")
        updated = 0
        async with connect(ctx, self) as connection:
            try:
                await connection.begin()
                async with connection.cursor() as cursor:
                    async for chunk in chunks:
                        chunk.check_width(count)
                        rows = [[_parameter(v) for v in row] for row in chunk.rows]
                        updated += max(await cursor.executemany(text, rows) or 0, 0)
                await connection.commit()
            except errors.MySQLError as exc:
                raise TaskFailed(f"{_message(exc)}\n  in statement: {shorten(sql)}") from None
        return updated


@plugin("io.kestra.plugin.jdbc.mysql.Trigger")
class Trigger(QueryTrigger):
    """Run a query on MySQL every `interval`; start the flow when it returns rows."""

    url: str
    username: str | None = None
    password: str | None = None
    timeZoneId: str | None = None

    async def query(self, ctx: RunContext, fetching: Fetching) -> list[Mapping[str, Any]]:
        names = ("url", "username", "password", "timeZoneId")
        task = Query.model_validate({"type": Query.type_name, **self.task_properties(names)})
        statements, _, parameters = task.prepare(ctx)
        async with connect(ctx, task) as connection:
            runner = Runner(ctx, connection, fetching, parameters)
            results = await runner.run_all(statements, in_transaction=False)
        return list(results[-1].rows or []) if results else []


TASKS: tuple[type, ...] = (Queries, Query, Batch)
TRIGGERS: tuple[type, ...] = (Trigger,)
