"""The MySQL tasks against the machine's MariaDB, through the whole embedded pipeline:
Queries and Query with every fetchType, parameters, transactions, errors, and Batch
from a stored result; connection properties from pluginDefaults by the jdbc prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine import ion
from tests.conftest import Harness
from tests.support.mariadb import HOST, PORT, admin, fresh_database


@pytest.fixture(scope="module")
def mysql_url() -> Iterator[str]:
    with fresh_database() as name:
        yield f"jdbc:mysql://{HOST}:{PORT}/{name}?useSSL=false"


def header(url: str, flow_id: str = "f") -> str:
    return f"""id: {flow_id}
namespace: tests.jdbc
pluginDefaults:
  - type: io.kestra.plugin.jdbc
    values:
      url: {url}
      username: root
      password: ""
"""


def stored_rows(harness: Harness, uri: str) -> list[dict[str, object]]:
    return ion.loads(harness.podium.storage.read(uri).decode())


async def test_queries_and_query_with_each_fetch_type(harness: Harness, mysql_url: str) -> None:
    flow = (
        header(mysql_url)
        + """
tasks:
  - id: setup
    type: io.kestra.plugin.jdbc.mysql.Queries
    sql: |
      CREATE TABLE products (
        id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(6, 2), at DATETIME(3),
        doc JSON, ok BOOLEAN, note TEXT
      );
      INSERT INTO products VALUES
        (1, 'pen', 2.50, '2019-01-01 10:00:00', '{"k": [1, 2]}', true, 'it\\'s; fine # not a comment'),
        (2, 'ink', 10.00, NULL, NULL, false, '100%'),
        (3, 'pad', 4.25, '2019-01-03 00:00:00.5', '[]', NULL, NULL);
      SELECT count(*) AS n FROM products;  # NONE keeps nothing
  - id: each
    type: io.kestra.plugin.jdbc.mysql.Queries
    fetchType: FETCH
    parameters: {low: "2", word: "p%"}
    sql: |
      SELECT id, name FROM products WHERE id >= :low AND name LIKE :word ORDER BY id;
      UPDATE products SET name = upper(name) WHERE id = :low;
      SELECT sum(price) AS total, count(*) AS n FROM products WHERE note LIKE '%\\%';
  - id: one
    type: io.kestra.plugin.jdbc.mysql.Query
    fetchType: FETCH_ONE
    sql: SELECT * FROM products WHERE id = 1
  - id: stored
    type: io.kestra.plugin.jdbc.mysql.Query
    fetchType: STORE
    fetchSize: 2
    sql: SELECT id, name, price FROM products ORDER BY id
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.run("setup").outputs == {"outputs": []}
    assert outcome.run("each").outputs == {
        "outputs": [
            {"rows": [{"id": 3, "name": "pad"}], "size": 1},
            {"rows": [{"total": 10, "n": 1}], "size": 1},
        ]
    }
    row = outcome.run("one").outputs["row"]
    # MariaDB's JSON is text with a check (MySQL's own JSON type comes back as a value)
    assert row["doc"] == '{"k": [1, 2]}' and row["price"] == 2.5
    assert row["note"] == "it's; fine # not a comment"
    assert row["at"].startswith("2019-01-01T10:00:00")
    stored = outcome.run("stored").outputs
    assert stored["size"] == 3
    assert stored_rows(harness, stored["uri"]) == [
        {"id": 1, "name": "pen", "price": 2.5},
        {"id": 2, "name": "INK", "price": 10},
        {"id": 3, "name": "pad", "price": 4.25},
    ]


async def test_a_failing_statement_rolls_the_script_back(harness: Harness, mysql_url: str) -> None:
    flow = (
        header(mysql_url, "rollback")
        + """
tasks:
  - id: setup
    type: io.kestra.plugin.jdbc.mysql.Query
    sql: CREATE TABLE accounts (id INT PRIMARY KEY, balance INT) ENGINE=InnoDB
  - id: move
    type: io.kestra.plugin.jdbc.mysql.Queries
    sql: |
      INSERT INTO accounts VALUES (1, 100);
      INSERT INTO accounts VALUES (1, 200);
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    error = outcome.run("move").error or ""
    assert "1062: Duplicate entry '1'" in error and "statement 2" in error
    database = mysql_url.rsplit("/", 1)[1].split("?")[0]
    assert await admin("SELECT count(*) FROM accounts", database) == [(0,)]


async def test_batch_inserts_a_stored_result_in_chunks(harness: Harness, mysql_url: str) -> None:
    flow = (
        header(mysql_url, "batch")
        + """
tasks:
  - id: source
    type: io.kestra.plugin.jdbc.duckdb.Query
    url: "jdbc:duckdb:"  # its own: the defaults of the jdbc prefix name MySQL
    fetchType: STORE
    sql: SELECT i AS id, 'item ' || i AS label, i * 1.5 AS weight FROM range(1, 2501) t(i)
  - id: target
    type: io.kestra.plugin.jdbc.mysql.Query
    sql: CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(30), weight DOUBLE)
  - id: insert
    type: io.kestra.plugin.jdbc.mysql.Batch
    from: "{{ outputs.source.uri }}"
    table: items
    chunk: 1000
  - id: check
    type: io.kestra.plugin.jdbc.mysql.Query
    fetchType: FETCH_ONE
    sql: SELECT count(*) AS n, sum(weight) AS w, max(label) AS last FROM items
"""
    )
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.run("insert").outputs == {"rowCount": 2500, "updatedCount": 2500}
    assert outcome.run("check").outputs["row"] == {"n": 2500, "w": 4689375, "last": "item 999"}


async def test_bad_urls_and_credentials_fail_clearly(harness: Harness, mysql_url: str) -> None:
    flow = f"""id: bad
namespace: tests.jdbc
tasks:
  - id: wrong_password
    type: io.kestra.plugin.jdbc.mysql.Query
    url: {mysql_url}
    username: nobody
    password: "{{{{ secret('API_KEY') }}}}"
    sql: SELECT 1
    allowFailure: true
  - id: not_mysql
    type: io.kestra.plugin.jdbc.mysql.Query
    url: jdbc:postgresql://127.0.0.1/x
    sql: SELECT 1
"""
    outcome = await harness.run(flow)
    assert "Access denied for user 'nobody'" in (outcome.run("wrong_password").error or "")
    assert "secret-value" not in str(outcome.task_runs)
    assert "not a MySQL JDBC URL" in (outcome.run("not_mysql").error or "")
