"""The SQLite tasks through the whole embedded pipeline: every fetchType, parameters,
databases from internal storage and namespace files, the database file as an output,
and the paths a flow must not reach."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine import ion
from tests.conftest import Harness


def stored_rows(harness: Harness, uri: str) -> list[dict[str, object]]:
    return ion.loads(harness.podium.storage.read(uri).decode())


async def test_queries_query_and_the_database_file_between_tasks(harness: Harness) -> None:
    flow = """
id: lite
namespace: tests.jdbc
pluginDefaults:
  - type: io.kestra.plugin.jdbc
    values:
      url: jdbc:sqlite:shop.db
tasks:
  - id: setup
    type: io.kestra.plugin.jdbc.sqlite.Queries
    outputDbFile: true
    sql: |
      CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL, data BLOB);
      INSERT INTO products VALUES (1, 'pen; blue', 2.5, x'00ff'), (2, 'ink', 10, NULL);
      INSERT INTO products VALUES (3, 'pad', 4.25, NULL);
  - id: read
    type: io.kestra.plugin.jdbc.sqlite.Queries
    sqliteFile: "{{ outputs.setup.databaseUri }}"
    fetchType: FETCH
    parameters: {low: 2}
    sql: |
      SELECT id, name FROM products WHERE id >= :low ORDER BY id;
      SELECT count(*) AS n FROM products;
  - id: one
    type: io.kestra.plugin.jdbc.sqlite.Query
    sqliteFile: "{{ outputs.setup.databaseUri }}"
    fetchType: FETCH_ONE
    sql: SELECT * FROM products WHERE id = 1
  - id: stored
    type: io.kestra.plugin.jdbc.sqlite.Query
    sqliteFile: "{{ outputs.setup.databaseUri }}"
    fetchType: STORE
    fetchSize: 2
    sql: SELECT id, price FROM products ORDER BY id
"""
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    setup = outcome.run("setup").outputs
    assert setup["outputs"] == [] and setup["databaseUri"].endswith("/shop.db")
    assert outcome.run("read").outputs == {
        "outputs": [
            {"rows": [{"id": 2, "name": "ink"}, {"id": 3, "name": "pad"}], "size": 2},
            {"rows": [{"n": 3}], "size": 1},
        ]
    }
    row = outcome.run("one").outputs["row"]
    assert row["name"] == "pen; blue" and row["price"] == 2.5 and row["data"]
    stored = outcome.run("stored").outputs
    assert stored["size"] == 3
    assert stored_rows(harness, stored["uri"]) == [
        {"id": 1, "price": 2.5},
        {"id": 2, "price": 10.0},
        {"id": 3, "price": 4.25},
    ]


async def test_a_database_from_the_namespace_files(harness: Harness, tmp_path: Path) -> None:
    source = tmp_path / "app.db"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.execute("INSERT INTO users VALUES ('ada'), ('grace')")
    db.close()
    await harness.podium.namespace_files.put("tests.jdbc", {"/data/app.db": source.read_bytes()})
    flow = """
id: from_nsfiles
namespace: tests.jdbc
tasks:
  - id: users
    type: io.kestra.plugin.jdbc.sqlite.Query
    url: jdbc:sqlite:app.db
    sqliteFile: nsfile:///data/app.db
    fetchType: FETCH
    sql: SELECT name FROM users ORDER BY name
"""
    outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.run("users").outputs == {"rows": [{"name": "ada"}, {"name": "grace"}], "size": 2}


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ("url: jdbc:sqlite:/etc/passwd", "must be a file name in the working directory"),
        ("url: jdbc:sqlite:../../podium.db", "must be a file name in the working directory"),
        ("url: jdbc:postgresql://h/db", "not a SQLite JDBC URL"),
        ("sql: ATTACH DATABASE '/tmp/podium-attack.db' AS evil", "not authorized"),
        ("sql: VACUUM INTO '/tmp/podium-attack.db'", "authorization denied"),
        ("url: jdbc:sqlite:x.db\n    sqliteFile: 'kestra:///../../etc/passwd'", "escapes"),
    ],
)
async def test_files_outside_the_working_directory_are_out_of_reach(
    harness: Harness, properties: str, message: str
) -> None:
    defaults = {"url": "url: jdbc:sqlite:x.db", "sql": "sql: SELECT 1"}
    for key in list(defaults):
        if properties.startswith(f"{key}:"):
            defaults.pop(key)
    lines = "\n    ".join([properties, *defaults.values()])
    flow = f"""
id: attack
namespace: tests.jdbc
tasks:
  - id: q
    type: io.kestra.plugin.jdbc.sqlite.Query
    {lines}
"""
    outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    assert message in (outcome.run("q").error or "")
    assert not Path("/tmp/podium-attack.db").exists()
