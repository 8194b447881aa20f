"""io.kestra.plugin.jdbc.postgresql.Queries and .Query, on asyncpg.

`Queries` runs a script statement by statement, by default in one transaction
(`transaction: false` commits each on its own), and returns Kestra's per-statement
outputs: `outputs` is a list with one entry per statement that returned rows, shaped
by `fetchType` (see `results.py`); with NONE it is empty (Kestra lists an empty map per
such statement), as the rows are skipped without being read. `Query` runs one statement and returns that shape at
the top level (`row`, `rows`, `uri`, `size`); `afterSQL` runs after it in the same
transaction. Kestra 1.x refuses several statements in `Query`; Podium runs them all
and keeps the rows of the last one that returned any, as older Kestra releases did.

Named parameters are Kestra's: `parameters: {id: 3}` with `:id` in the SQL. They are
sent as bound values, never pasted into the text, converted to the type the server
expects for each placeholder (a rendered "3" goes to an integer column as 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import field_validator

from engine.durations import is_template, parse_duration
from engine.errors import TaskFailed
from engine.plugin import RunContext, lazy_import, plugin
from tasks.jdbc.postgres_connection import PostgresConnection, connect, describe_error
from tasks.jdbc.results import FETCH_TYPES, Fetching, Result, RowFile, fetching_of
from tasks.jdbc.sql import bind_named, shorten, split_statements
from tasks.properties import masks_failures, render_flag, render_mapping, render_text

if TYPE_CHECKING:
    import asyncpg
else:  # imported when a task first uses it: the catalog stays fast
    asyncpg = lazy_import("asyncpg")

__all__ = ["PostgresQueryTask", "Queries", "Query", "StatementRunner", "coerce_parameter"]


class PostgresQueryTask(PostgresConnection):
    """Properties Kestra's query tasks share."""

    sql: str
    fetchType: str = "NONE"
    fetch: bool | str = False  # deprecated by Kestra for fetchType: FETCH
    fetchOne: bool | str = False  # … FETCH_ONE
    store: bool | str = False  # … STORE
    fetchSize: int | str = 10_000
    parameters: dict[str, Any] | str | None = None

    @field_validator("fetchType")
    @classmethod
    def _known_fetch_type(cls, value: str) -> str:
        if not is_template(value) and value.strip().upper() not in FETCH_TYPES:
            raise ValueError(f"fetchType must be one of {', '.join(FETCH_TYPES)}")
        return value

    def prepare(self, ctx: RunContext) -> tuple[list[str], Fetching, dict[str, Any]]:
        statements = split_statements(render_text(ctx, self.sql, "sql") or "")
        if not statements:
            raise TaskFailed("property 'sql' holds no statement")
        return (
            statements,
            fetching_of(ctx, self),
            render_mapping(ctx, self.parameters, "parameters"),
        )


@plugin("io.kestra.plugin.jdbc.postgresql.Queries")
class Queries(PostgresQueryTask):
    """Run several SQL statements against PostgreSQL, in one transaction by default."""

    transaction: bool | str = True

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        statements, fetching, parameters = self.prepare(ctx)
        is_transaction = render_flag(ctx, self.transaction, "transaction")
        async with connect(ctx, self) as connection:
            runner = StatementRunner(ctx, connection, fetching, parameters)
            scope = connection.transaction() if is_transaction else contextlib.nullcontext()
            async with scope:
                results = await runner.run_all(statements)
        runner.report()
        return {"outputs": [r.as_output() for r in results]}


@plugin("io.kestra.plugin.jdbc.postgresql.Query")
class Query(PostgresQueryTask):
    """Run one SQL statement against PostgreSQL and keep its rows as `fetchType` says."""

    afterSQL: str | None = None
    autoCommit: bool | str = True  # accepted as Kestra 1.x does, which ignores it too

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        statements, fetching, parameters = self.prepare(ctx)
        after = split_statements(render_text(ctx, self.afterSQL, "afterSQL") or "")
        async with connect(ctx, self) as connection:
            runner = StatementRunner(ctx, connection, fetching, parameters)
            scope = connection.transaction() if after else contextlib.nullcontext()
            async with scope:
                results = await runner.run_all(statements)
                await StatementRunner(ctx, connection, Fetching(), parameters).run_all(after)
        runner.report()
        return results[-1].as_output() if results else {}


class StatementRunner:
    """Runs statements on one connection and shapes the rows of those that return any."""

    def __init__(
        self,
        ctx: RunContext,
        connection: asyncpg.Connection,
        fetching: Fetching,
        parameters: Mapping[str, Any],
    ) -> None:
        self.ctx = ctx
        self.connection = connection
        self.fetching = fetching
        self.parameters = parameters
        self.total = 0
        self._stored = 0

    def __repr__(self) -> str:
        return f"<StatementRunner {self.fetching.kind} rows={self.total}>"

    async def run_all(self, statements: Sequence[str]) -> list[Result]:
        results = []
        for index, statement in enumerate(statements, 1):
            number = index if len(statements) > 1 else None
            result = await self.run_one(statement, number)
            if result is not None:
                results.append(result)
        return results

    async def run_one(self, statement: str, number: int | None) -> Result | None:
        sql, names = bind_named(statement, self.parameters, "numbered")
        self.ctx.logger.debug(f"running statement {number or 1}: {shorten(statement, 300)}")
        try:
            if not self.fetching.keeps_rows and not names:
                # The simple protocol: one round trip, and rows nobody asked for are skipped.
                self._log_status(await self.connection.execute(sql), number)
                return None
            prepared = await self.connection.prepare(sql)
            kinds = prepared.get_parameters()
            args = [
                coerce_parameter(self.parameters[name], kind.name, name)
                for name, kind in zip(names, kinds, strict=True)
            ]
            columns = prepared.get_attributes()
            if not columns or not self.fetching.keeps_rows:
                await prepared.fetch(*args)
                self._log_status(prepared.get_statusmsg(), number)
                return None
            return await self._collect(prepared, args, columns, number)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise TaskFailed(describe_error(exc, statement, number)) from None

    async def _collect(
        self,
        prepared: asyncpg.prepared_stmt.PreparedStatement,
        args: list[Any],
        columns: Sequence[Any],
        number: int | None,
    ) -> Result:
        labels = [c.name for c in columns]
        as_json = {i for i, c in enumerate(columns) if c.type.name in ("json", "jsonb")}

        def to_map(record: asyncpg.Record) -> dict[str, Any]:
            if not as_json:
                return dict(zip(labels, record, strict=True))
            return {
                label: _json(value) if i in as_json else value
                for i, (label, value) in enumerate(zip(labels, record, strict=True))
            }

        result = Result(self.fetching.kind)
        if result.kind == "FETCH_ONE":
            record = await prepared.fetchrow(*args)
            result.row = to_map(record) if record is not None else None
            result.size = 0 if record is None else 1
        else:
            # A server-side cursor keeps one batch in memory at a time; it needs a
            # transaction, which `transaction: false` does not give us.
            is_open = self.connection.is_in_transaction()
            async with contextlib.nullcontext() if is_open else self.connection.transaction():
                cursor = await prepared.cursor(*args)
                if result.kind == "FETCH":
                    while batch := await cursor.fetch(self.fetching.batch):
                        result.add_rows([to_map(r) for r in batch])
                else:
                    result.uri, result.size = await self._store(cursor, to_map)
        self.total += result.size
        where = f"statement {number}" if number else "the statement"
        self.ctx.logger.info(f"{where} returned {result.size} row(s) ({result.kind})")
        return result

    async def _store(self, cursor: Any, to_map: Any) -> tuple[str, int]:
        self._stored += 1
        name = f"rows_{self._stored}.ion"
        # Named by run locally: tasks in one WorkingDirectory share the folder.
        path = self.ctx.working_dir() / f"{self.ctx.task_run_id}_{name}"
        rows = RowFile(path)
        handle = await asyncio.to_thread(path.open, "wb")
        try:
            while batch := await cursor.fetch(self.fetching.batch):
                chunk = rows.add(to_map(r) for r in batch)
                if chunk:
                    await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.write, rows.take())
        finally:
            await asyncio.to_thread(handle.close)
        uri = await asyncio.to_thread(self.ctx.storage.put_file, name, path)
        await asyncio.to_thread(path.unlink)
        return uri, rows.size

    def _log_status(self, status: str | None, number: int | None) -> None:
        where = f"statement {number}" if number else "statement"
        self.ctx.logger.info(f"{where}: {status or 'done'}")

    def report(self) -> None:
        kind = self.fetching.kind
        tags = {
            "fetch": str(kind in ("FETCH", "FETCH_ONE")).lower(),
            "store": str(kind == "STORE").lower(),
        }
        self.ctx.metric("fetch.size", self.total, tags=tags)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


_INTEGERS = {"int2", "int4", "int8", "oid", "smallint", "integer", "bigint"}
_FLOATS = {"float4", "float8", "real", "double precision"}
_TEXTS = {"text", "varchar", "bpchar", "name", "char", "citext", "unknown", "xml"}


def coerce_parameter(value: Any, type_name: str, name: str) -> Any:
    """`value` (as rendered: often text) as the Python value asyncpg sends for
    `type_name`; asyncpg itself accepts nothing looser than the exact type."""
    if value is None:
        return None
    try:
        return _coerce(value, type_name)
    except (ValueError, TypeError, InvalidOperation, orjson.JSONDecodeError) as exc:
        raise TaskFailed(
            f"parameter '{name}' cannot be sent as {type_name}: {value!r} ({exc})"
        ) from None


def _coerce(value: Any, kind: str) -> Any:
    if kind.endswith("[]"):
        items = orjson.loads(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("expected a list")
        return [None if v is None else _coerce(v, kind[:-2]) for v in items]
    text = value if isinstance(value, str) else None
    if kind in _INTEGERS:
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise ValueError("not a whole number")
        return int(text.strip()) if text is not None else int(value)
    if kind in _FLOATS:
        return float(text) if text is not None else float(value)
    if kind == "numeric":
        return Decimal(text.strip() if text is not None else str(value))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word not in ("true", "false", "t", "f", "1", "0", "yes", "no"):
            raise ValueError("not a boolean")
        return word in ("true", "t", "1", "yes")
    if text is not None:
        return _from_text(text, kind)
    if kind in ("json", "jsonb"):
        return json.dumps(value)
    if kind in _TEXTS:
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    return value


def _from_text(text: str, kind: str) -> Any:
    if kind == "date":
        return date.fromisoformat(text.strip()[:10])
    if kind in ("timestamp", "timestamptz"):
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if kind == "timestamp":
            return moment.replace(tzinfo=None)
        return moment  # a naive value is sent as UTC, as asyncpg does
    if kind in ("time", "timetz"):
        return time.fromisoformat(text.strip())
    if kind == "interval":
        return parse_duration(text.strip())
    if kind == "uuid":
        return uuid.UUID(text.strip())
    if kind == "bytea":
        return text.encode()
    return text
