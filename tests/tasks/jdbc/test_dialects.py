"""Unit tests: MySQL's lexical rules, the drivers' placeholder styles, MySQL and SQLite
URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import TaskFailed
from tasks.jdbc.batch import insert_statement
from tasks.jdbc.mysql import parse_mysql_url
from tasks.jdbc.sql import bind_named, number_question_marks, split_statements
from tasks.jdbc.sqlite import database_path


def test_mysql_statements_know_backslashes_backticks_and_hash_comments() -> None:
    script = """
        INSERT INTO `odd;name` VALUES ('it\\'s; fine', "say \\"hi\\"; ok");  # a; comment
        SELECT 1;
    """
    statements = split_statements(script, "mysql")
    assert len(statements) == 2
    assert statements[0].endswith('"say \\"hi\\"; ok")')
    assert statements[1].startswith("# a; comment") and statements[1].endswith("SELECT 1")
    # PostgreSQL reads the same text differently: its rules stay the default
    assert len(split_statements("SELECT '\\'; SELECT 2")) == 2


def test_format_style_binds_each_use_and_doubles_every_other_percent() -> None:
    sql, names = bind_named(
        "SELECT ':a', a % 2 FROM t WHERE x LIKE 'p%' AND y = :a OR z = :b OR w = :a",
        {"a": 1, "b": 2},
        "format",
    )
    assert sql == "SELECT ':a', a %% 2 FROM t WHERE x LIKE 'p%%' AND y = %s OR z = %s OR w = %s"
    assert names == ["a", "b", "a"]


def test_question_marks_become_numbers_or_format_markers_outside_literals() -> None:
    assert number_question_marks("INSERT INTO t VALUES (?, '?', ?) -- ?", "numbered") == (
        "INSERT INTO t VALUES ($1, '?', $2) -- ?",
        2,
    )
    assert number_question_marks("INSERT INTO t VALUES (?, '5%')", "format") == (
        "INSERT INTO t VALUES (%s, '5%%')",
        1,
    )


def test_generated_inserts_take_plain_names_only() -> None:
    assert insert_statement("s.items", ["id", "label"]) == (
        "INSERT INTO s.items (id, label) VALUES (?, ?)"
    )
    with pytest.raises(TaskFailed, match="not a table name"):
        insert_statement("items; DROP TABLE x", ["id"])
    with pytest.raises(TaskFailed, match="not a column name"):
        insert_statement("items", ["id) VALUES (1); --"])


def test_mysql_urls() -> None:
    target = parse_mysql_url("jdbc:mysql://db.example:3307/shop?user=u&useSSL=false")
    assert (target.host, target.port, target.database) == ("db.example", 3307, "shop")
    assert target.params == {"user": "u", "useSSL": "false"}
    assert parse_mysql_url("jdbc:mariadb://[::1]/x").host == "::1"
    assert parse_mysql_url("jdbc:mysql://h").port == 3306
    with pytest.raises(TaskFailed, match="not a MySQL JDBC URL"):
        parse_mysql_url("mysql://h/db")
    with pytest.raises(TaskFailed, match="several hosts"):
        parse_mysql_url("jdbc:mysql://a,b/db")


def test_sqlite_paths_stay_in_the_working_directory(tmp_path: Path) -> None:
    assert database_path("jdbc:sqlite:", tmp_path) == ":memory:"
    assert database_path("jdbc:sqlite:sub/app.db", tmp_path) == str(tmp_path / "sub" / "app.db")
    for url in ("jdbc:sqlite:/etc/x.db", "jdbc:sqlite:../x.db", "jdbc:sqlite:~/x.db"):
        with pytest.raises(TaskFailed, match="working directory"):
            database_path(url, tmp_path)
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(TaskFailed, match="leave the working directory"):
        database_path("jdbc:sqlite:link/x.db", tmp_path)
