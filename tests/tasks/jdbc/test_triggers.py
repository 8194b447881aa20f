"""`jdbc.postgresql.Trigger` and `jdbc.mysql.Trigger` on the polling runner, through the
whole embedded pipeline: the flow starts when the query returns rows, with them as
`trigger.rows` / `trigger.uri`; a poll with no rows starts nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from engine import ion
from tests.conftest import Harness
from tests.support.mariadb import HOST, PORT, fresh_database
from tests.support.postgres import admin as pg_admin


async def _executions(harness: Harness, flow_id: str, count: int) -> list:
    clock = harness.clock
    assert clock is not None
    # The trigger polls once as it starts, then every minute of the test clock. The clock
    # moves on only once a new run has appeared since it last moved and every run so far
    # ended (rows still there fire again): moving it while a run is requested but not yet
    # stored would fire a second one for the same rows.
    seen_when_advanced = 0
    for _ in range(2000):
        await harness.podium.projector.caught_up()
        found = await harness.podium.store.list_executions(flow_id=flow_id)
        ended = all(e.state.is_terminal for e in found)
        if len(found) >= count and ended:
            return sorted(found, key=lambda e: e.created_at)
        if clock.sleepers and ended and len(found) > seen_when_advanced:
            seen_when_advanced = len(found)
            await clock.advance(60)
        await asyncio.sleep(0.005)
    raise AssertionError(f"{flow_id}: {len(found)} executions")


async def test_postgresql_trigger_fires_for_new_rows_until_the_flow_marks_them(
    harness: Harness, pg_url: str, postgres_database: str, table: str
) -> None:
    await pg_admin(
        f"CREATE TABLE {table} (id int, name text, done bool DEFAULT false)", postgres_database
    )
    await pg_admin(f"INSERT INTO {table} (id, name) VALUES (1, 'a'), (2, 'b')", postgres_database)
    flow = f"""
id: on_rows
namespace: tests.jdbc
pluginDefaults:
  - type: io.kestra.plugin.jdbc.postgresql
    values: {{url: "{pg_url}", username: postgres}}
tasks:
  - id: seen
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ trigger.size }}}} {{{{ trigger.rows | jq('map(.name)') | first }}}}"
  - id: mark
    type: io.kestra.plugin.jdbc.postgresql.Query
    sql: UPDATE {table} SET done = true WHERE NOT done
triggers:
  - id: new_rows
    type: io.kestra.plugin.jdbc.postgresql.Trigger
    interval: PT1M
    fetchType: FETCH
    sql: SELECT id, name FROM {table} WHERE NOT done ORDER BY id
"""
    await harness.deploy(flow)
    [first] = await _executions(harness, "on_rows", 1)
    outcome = await harness.outcome(first.execution_id)
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.messages("seen") == ['2 ["a","b"]']
    await pg_admin(f"INSERT INTO {table} (id, name) VALUES (3, 'c')", postgres_database)
    runs = await _executions(harness, "on_rows", 2)
    assert (await harness.outcome(runs[1].execution_id)).messages("seen") == ['1 ["c"]']


@pytest.fixture(scope="module")
def mysql_database() -> Iterator[str]:
    with fresh_database() as name:
        yield name


async def test_mysql_trigger_stores_the_rows_for_the_execution(
    harness: Harness, mysql_database: str
) -> None:
    from tests.support.mariadb import admin

    await admin("CREATE TABLE jobs (id INT, state VARCHAR(10))", mysql_database)
    await admin("INSERT INTO jobs VALUES (1, 'new'), (2, 'new')", mysql_database)
    flow = f"""
id: on_jobs
namespace: tests.jdbc
tasks:
  - id: read
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ trigger.size }}}} {{{{ trigger.uri }}}}"
  - id: take
    type: io.kestra.plugin.jdbc.mysql.Query
    url: jdbc:mysql://{HOST}:{PORT}/{mysql_database}
    username: root
    sql: UPDATE jobs SET state = 'taken'
triggers:
  - id: jobs
    type: io.kestra.plugin.jdbc.mysql.Trigger
    url: jdbc:mysql://{HOST}:{PORT}/{mysql_database}
    username: root
    interval: PT1M
    fetchType: STORE
    sql: SELECT id, state FROM jobs WHERE state = 'new' ORDER BY id
"""
    await harness.deploy(flow)
    [run] = await _executions(harness, "on_jobs", 1)
    outcome = await harness.outcome(run.execution_id)
    assert outcome.state == "SUCCESS", outcome.task_runs
    [message] = outcome.messages("read")
    size, uri = message.split(" ")
    assert size == "2"
    rows = ion.loads(harness.podium.storage.read(uri).decode())
    assert rows == [{"id": 1, "state": "new"}, {"id": 2, "state": "new"}]
