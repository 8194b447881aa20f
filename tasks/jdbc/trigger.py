"""Kestra's `jdbc.*.Trigger`: run a query every `interval`; fire when it returns rows.

The generic polling runner (triggers/polling.py) does the timing, claiming and firing;
this module says what one poll finds. As in Kestra, each poll whose query returns rows
starts one execution (the same rows fire again at the next poll: a flow marks what it
handled, or the query filters on time); `fetchType` says what the execution gets:
`trigger.row` (FETCH_ONE), `trigger.rows` (FETCH) or `trigger.uri` (STORE, an Ion file
in the execution's storage), and `trigger.size`. With NONE, Kestra's default, the rows
are counted and nothing else is kept.

The rows of one poll travel in the runner's journal until the execution is requested,
so a poll keeps at most MAX_TRIGGER_ROWS of them; past that the poll fails and says to
narrow the query (a trigger that must move millions of rows should start a flow that
queries them itself). Values are kept as JSON (timestamps ISO-8601, decimals as numbers).
The query runs with the database task's own connection code through `PollingRunContext`,
the few `RunContext` calls it makes answered from the poll's context.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import field_validator

from engine.durations import is_template
from engine.errors import TaskFailed
from engine.ion import write_rows
from engine.plugin import PollContext, PolledItem, PolledTrigger, RunContext, plugin
from engine.values import jsonable
from tasks.jdbc import postgresql
from tasks.jdbc.postgres_connection import connect
from tasks.jdbc.results import FETCH_TYPES, Fetching, fetching_of
from tasks.polling import PollingRunContext

__all__ = ["MAX_TRIGGER_ROWS", "PollingRunContext", "PostgresTrigger", "QueryTrigger"]

MAX_TRIGGER_ROWS = 10_000


class QueryTrigger(PolledTrigger):
    """The properties of Kestra's JDBC triggers besides the connection's."""

    batch: ClassVar[bool] = True

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

    async def query(self, ctx: RunContext, fetching: Fetching) -> list[Mapping[str, Any]]:
        """Every row of the query (FETCH), on the database's own connection code."""
        raise NotImplementedError

    def task_properties(self, names: Sequence[str]) -> dict[str, Any]:
        """The trigger's properties a query task of the same database takes."""
        values = self.model_dump(include=set(names), exclude_none=True)
        return {"id": self.id, "sql": self.sql, "parameters": self.parameters, **values}

    async def poll(self, ctx: PollContext) -> Sequence[PolledItem]:
        run_ctx = PollingRunContext(ctx)
        try:
            as_run = run_ctx.as_run_context()
            batch = fetching_of(as_run, self).batch
            rows = await self.query(as_run, Fetching("FETCH", batch))
        finally:
            run_ctx.close()
        check_bound(len(rows))
        if not rows:
            return []
        # A new id per poll: rows that are still there fire again, as in Kestra.
        return [PolledItem(f"poll-{secrets.token_hex(8)}", {"rows": jsonable(rows)})]

    async def variables(
        self, ctx: PollContext, execution_id: str, items: Sequence[PolledItem]
    ) -> Mapping[str, Any]:
        rows = [row for item in items for row in item.data["rows"]]
        kind = fetching_of(PollingRunContext(ctx).as_run_context(), self).kind
        if kind == "FETCH_ONE":
            return {"row": rows[0], "size": 1}
        if kind == "FETCH":
            return {"rows": rows, "size": len(rows)}
        if kind == "STORE":
            path, uri = ctx.download_target(execution_id, items[0].id, "rows.ion")
            write_rows(path, rows)
            return {"uri": uri, "size": len(rows)}
        return {"size": len(rows)}


def check_bound(count: int) -> None:
    if count > MAX_TRIGGER_ROWS:
        raise TaskFailed(
            f"the trigger's query returned more than {MAX_TRIGGER_ROWS} rows; narrow it "
            "(a LIMIT, a filter on what is new) and let the flow read the rest"
        )


# -- PostgreSQL ------------------------------------------------------------------------

_POSTGRES_CONNECTION = (
    "url",
    "username",
    "password",
    "ssl",
    "sslMode",
    "sslRootCert",
    "sslCert",
    "sslKey",
    "sslKeyPassword",
    "timeZoneId",
)


@plugin("io.kestra.plugin.jdbc.postgresql.Trigger")
class PostgresTrigger(QueryTrigger):
    """Run a query on PostgreSQL every `interval`; start the flow when it returns rows."""

    url: str
    username: str | None = None
    password: str | None = None
    ssl: bool | str | None = None
    sslMode: str | None = None
    sslRootCert: str | None = None
    sslCert: str | None = None
    sslKey: str | None = None
    sslKeyPassword: str | None = None
    timeZoneId: str | None = None

    async def query(self, ctx: RunContext, fetching: Fetching) -> list[Mapping[str, Any]]:
        task = postgresql.Query.model_validate(
            {"type": postgresql.Query.type_name, **self.task_properties(_POSTGRES_CONNECTION)}
        )
        statements, _, parameters = task.prepare(ctx)
        async with connect(ctx, task) as connection:
            runner = postgresql.StatementRunner(ctx, connection, fetching, parameters)
            results = await runner.run_all(statements)
        return list(results[-1].rows or []) if results else []
