"""io.kestra.plugin.jdbc.postgresql.CopyIn and .CopyOut: PostgreSQL's COPY, streamed.

CopyIn sends a file from internal storage (`from`) into a table with asyncpg's
`copy_to_table`, which reads the file in 512 KiB pieces off the event loop: the file is
never held in memory. CopyOut writes a query's (`sql`) or a table's rows to a file the
same way and puts it in internal storage. Both take Kestra's COPY options — `format`
(TEXT, CSV, BINARY), `header`, `delimiter`, `quote`, `escape`, `nullString`,
`columns`, `forceQuote`/`forceNotNull`/`forceNull`, `encoding`, `freeze` — and output
`rowCount` (CopyOut also `uri`).

Table and column names are read as PostgreSQL reads them in a COPY statement, which is
how Kestra sends them: `VendorID` means the column `vendorid`, `"VendorID"` keeps its
case, `public.trips` names a schema and a table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from engine.durations import is_template
from engine.errors import StorageError, TaskFailed
from engine.plugin import RunContext, lazy_import, plugin
from tasks.jdbc.postgres_connection import PostgresConnection, connect, describe_error
from tasks.jdbc.sql import fold_identifier, qualified_name, split_statements
from tasks.properties import (
    masks_failures,
    render_choice,
    render_flag,
    render_integer,
    render_strings,
    render_text,
)

if TYPE_CHECKING:
    import asyncpg
else:  # imported when a task first uses it: the catalog stays fast
    asyncpg = lazy_import("asyncpg")

__all__ = ["CopyIn", "CopyOut", "PostgresCopy"]

FORMATS = ("TEXT", "CSV", "BINARY")
_EXTENSIONS = {"TEXT": "txt", "CSV": "csv", "BINARY": "bin"}
_ESCAPED = {"\\t": "\t", "\\n": "\n", "\\r": "\r", "\\\\": "\\"}


class PostgresCopy(PostgresConnection):
    """Kestra's AbstractCopy properties."""

    table: str | None = None
    columns: list[str] | str | None = None
    format: str = "TEXT"
    oids: bool | str | None = None
    freeze: bool | str | None = None
    delimiter: str | None = None
    nullString: str | None = None
    header: bool | str | None = None
    quote: str | None = None
    escape: str | None = None
    forceQuote: list[str] | str | None = None
    forceNotNull: list[str] | str | None = None
    forceNull: list[str] | str | None = None
    encoding: str | None = None
    socketTimeout: int | str | None = None

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if not is_template(value) and value.strip().upper() not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        return value

    def target(self, ctx: RunContext) -> tuple[str | None, str]:
        text = render_text(ctx, self.table, "table")
        if not text:
            raise TaskFailed("property 'table' is required")
        try:
            return qualified_name(text)
        except ValueError as exc:
            raise TaskFailed(f"property 'table': {exc}") from None

    def column_names(self, ctx: RunContext, prop: str, value: Any) -> list[str] | None:
        names = render_strings(ctx, value, prop)
        try:
            return [fold_identifier(n) for n in names] or None
        except ValueError:
            raise TaskFailed(f"property '{prop}' holds an empty column name") from None

    def options(self, ctx: RunContext, *, is_input: bool) -> dict[str, Any]:
        """asyncpg's COPY keyword arguments; only what the flow set is sent."""
        kind = render_choice(ctx, self.format, "format", FORMATS) or "TEXT"
        out: dict[str, Any] = {
            "format": kind.lower(),
            "oids": render_flag(ctx, self.oids, "oids"),
            "delimiter": self._char(ctx, self.delimiter, "delimiter"),
            "null": render_text(ctx, self.nullString, "nullString"),
            "header": render_flag(ctx, self.header, "header"),
            "quote": self._char(ctx, self.quote, "quote"),
            "escape": self._char(ctx, self.escape, "escape"),
            "encoding": render_text(ctx, self.encoding, "encoding"),
        }
        quoted = render_strings(ctx, self.forceQuote, "forceQuote")
        if quoted and not is_input:
            out["force_quote"] = (
                True if quoted == ["*"] else self.column_names(ctx, "forceQuote", quoted)
            )
        if is_input:
            out["freeze"] = render_flag(ctx, self.freeze, "freeze")
            out["force_not_null"] = self.column_names(ctx, "forceNotNull", self.forceNotNull)
            out["force_null"] = self.column_names(ctx, "forceNull", self.forceNull)
        out["timeout"] = render_integer(ctx, self.socketTimeout, "socketTimeout", minimum=0) or None
        return {k: v for k, v in out.items() if v is not None}

    @staticmethod
    def _char(ctx: RunContext, value: str | None, prop: str) -> str | None:
        text = render_text(ctx, value, prop)
        if text is None:
            return None
        text = _ESCAPED.get(text, text)
        if len(text) != 1:
            raise TaskFailed(f"property '{prop}' must be one character, not {text!r}")
        return text


@plugin("io.kestra.plugin.jdbc.postgresql.CopyIn")
class CopyIn(PostgresCopy):
    """Copy a file from internal storage into a PostgreSQL table (COPY … FROM STDIN)."""

    from_: str = Field(alias="from")

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri = render_text(ctx, self.from_, "from") or ""
        try:
            path = ctx.storage.local_path(uri)
        except StorageError as exc:
            raise TaskFailed(f"property 'from': {exc}") from None
        if not await asyncio.to_thread(path.is_file):
            raise TaskFailed(f"property 'from': no file in internal storage at {uri!r}")
        schema, table = self.target(ctx)
        columns = self.column_names(ctx, "columns", self.columns)
        options = self.options(ctx, is_input=True)
        shown = f"COPY {_name(schema, table)} FROM {uri}"
        async with connect(ctx, self) as connection:
            try:
                status = await connection.copy_to_table(
                    table, schema_name=schema, source=path, columns=columns, **options
                )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                raise TaskFailed(describe_error(exc, shown)) from None
        rows = _row_count(status)
        ctx.metric("rows", rows)
        ctx.logger.info(f"copied {rows} row(s) into {_name(schema, table)}")
        return {"rowCount": rows}


@plugin("io.kestra.plugin.jdbc.postgresql.CopyOut")
class CopyOut(PostgresCopy):
    """Copy a query's or a table's rows into a file in internal storage (COPY … TO)."""

    sql: str | None = None

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        options = self.options(ctx, is_input=False)
        path = ctx.working_dir() / f"{ctx.task_run_id}.{_EXTENSIONS[options['format'].upper()]}"
        query = render_text(ctx, self.sql, "sql")
        async with connect(ctx, self) as connection:
            if query:
                statements = split_statements(query)
                if len(statements) != 1:
                    raise TaskFailed("property 'sql' must hold exactly one query")
                shown = statements[0]
                copy = connection.copy_from_query(statements[0], output=path, **options)
            else:
                schema, table = self.target(ctx)
                shown = f"COPY {_name(schema, table)} TO STDOUT"
                copy = connection.copy_from_table(
                    table,
                    schema_name=schema,
                    columns=self.column_names(ctx, "columns", self.columns),
                    output=path,
                    **options,
                )
            try:
                status = await copy
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                raise TaskFailed(describe_error(exc, shown)) from None
        rows = _row_count(status)
        uri = await asyncio.to_thread(ctx.storage.put_file, path.name, path)
        ctx.metric("rows", rows)
        ctx.logger.info(f"copied {rows} row(s) out to {uri}")
        return {"uri": uri, "rowCount": rows}


def _name(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _row_count(status: str) -> int:
    # asyncpg returns the command tag, e.g. "COPY 1000000".
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
