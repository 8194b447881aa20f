"""Unit tests: SQL reading, JDBC URLs and connection arguments, fetch-type shaping."""

from __future__ import annotations

import ssl
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine import ion
from engine.errors import TaskFailed
from tasks.jdbc.postgres_connection import (
    PostgresConnection,
    connect_arguments,
    describe_error,
    parse_jdbc_url,
)
from tasks.jdbc.postgresql import coerce_parameter
from tasks.jdbc.results import MAX_FETCH_ROWS, Fetching, Result, RowFile, fetching_of
from tasks.jdbc.sql import bind_named, fold_identifier, qualified_name, split_statements
from tests.tasks.jdbc.conftest import StubContext

# -- statements ------------------------------------------------------------------------


def test_statements_split_on_semicolons_outside_literals_and_comments() -> None:
    script = """
        INSERT INTO t VALUES ('a;b', E'it\\'s; fine', "odd;name");  -- trailing; comment
        CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; SELECT 2; $body$ LANGUAGE sql;
        /* block; /* nested; */ still comment; */ SELECT 'x''y;' ;
        SELECT $$a;b$$, $tag$ ; $tag$
        ;;
        -- only a comment at the end;
    """
    statements = split_statements(script)
    assert len(statements) == 4
    assert statements[0].startswith("INSERT") and statements[0].endswith('"odd;name")')
    assert statements[1].endswith("LANGUAGE sql")
    assert "SELECT 'x''y;'" in statements[2]
    assert statements[3] == "SELECT $$a;b$$, $tag$ ; $tag$"


def test_a_statement_without_semicolon_and_an_empty_script() -> None:
    assert split_statements("SELECT 1") == ["SELECT 1"]
    assert split_statements("  ;  -- nothing\n /* here */ ") == []


def test_named_parameters_become_numbers_or_names_outside_literals() -> None:
    sql = "SELECT :id, :name::text, ':id', x::int, :id, :other /* :id */ FROM t WHERE a = :name"
    numbered, names = bind_named(sql, {"id": 1, "name": "n"}, "numbered")
    assert numbered == (
        "SELECT $1, $2::text, ':id', x::int, $1, :other /* :id */ FROM t WHERE a = $2"
    )
    assert names == ["id", "name"]
    named, used = bind_named(sql, {"id": 1}, "named")
    assert named.startswith("SELECT $id, :name::text, ':id', x::int, $id") and used == ["id"]
    assert bind_named(sql, {}, "numbered") == (sql, [])


def test_identifiers_fold_as_postgresql_reads_them() -> None:
    assert fold_identifier("VendorID") == "vendorid"
    assert fold_identifier('"VendorID"') == "VendorID"
    assert fold_identifier('"a""b"') == 'a"b'
    assert qualified_name("public.Yellow_Tripdata") == ("public", "yellow_tripdata")
    assert qualified_name('"My.Schema"."T"') == ("My.Schema", "T")
    assert qualified_name("trips") == (None, "trips")
    assert qualified_name("db.public.trips") == ("public", "trips")
    for bad in ("a..b", '"open', "", "a.b.c.d"):
        with pytest.raises(ValueError):
            qualified_name(bad)


# -- JDBC URLs -------------------------------------------------------------------------


def test_jdbc_urls_in_every_form_pgjdbc_accepts() -> None:
    target = parse_jdbc_url("jdbc:postgresql://pgdatabase:5432/ny_taxi")
    assert (target.hosts, target.ports, target.database) == (("pgdatabase",), (5432,), "ny_taxi")
    target = parse_jdbc_url(
        "jdbc:postgresql://h1,h2:5433,[::1]:6000/db%20x?sslmode=require&user=u&password=p%26q"
        "&currentSchema=taxi&ApplicationName=etl&connectTimeout=3"
    )
    assert target.hosts == ("h1", "h2", "::1") and target.ports == (5432, 5433, 6000)
    assert target.database == "db x"
    assert target.params["password"] == "p&q" and target.params["sslmode"] == "require"
    assert target.describe() == "h1:5432,h2:5433,[::1]:6000/db x"
    assert parse_jdbc_url("jdbc:postgresql:mydb").database == "mydb"
    assert parse_jdbc_url("jdbc:postgresql:/").hosts == ("localhost",)
    assert parse_jdbc_url("jdbc:postgresql://host/").database is None
    libpq = parse_jdbc_url("postgresql://ann:s%40cret@db.example:6543/app?sslmode=disable")
    assert libpq.params["user"] == "ann" and libpq.params["password"] == "s@cret"
    assert libpq.ports == (6543,)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("jdbc:mysql://h/db", "not a PostgreSQL JDBC URL"),
        ("jdbc:postgresql://h:port/db", "invalid port 'port'"),
        ("jdbc:postgresql://h:70000/db", "invalid port 70000"),
        ("jdbc:postgresql://:5432/db", "no host"),
    ],
)
def test_bad_jdbc_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(TaskFailed, match=message):
        parse_jdbc_url(url)


def _connection(**values: Any) -> PostgresConnection:
    return PostgresConnection.model_validate(
        {"id": "q", "type": "io.kestra.plugin.jdbc.postgresql.Query", **values}
    )


def test_connection_arguments_come_from_the_url_and_the_properties(
    stub_ctx: StubContext,
) -> None:
    task = _connection(
        url="jdbc:postgresql://db:6432/taxi?user=fromurl&password=urlpw&sslmode=disable"
        "&options=-c%20statement_timeout%3D5000&socketTimeout=30&targetServerType=primary",
        username="root",
        timeZoneId="Europe/Paris",
    )
    arguments = connect_arguments(stub_ctx, task)  # type: ignore[arg-type]
    assert arguments["host"] == ["db"] and arguments["port"] == [6432]
    assert arguments["user"] == "root" and arguments["password"] == "urlpw"
    assert arguments["database"] == "taxi" and arguments["ssl"] == "disable"
    assert arguments["timeout"] == 10.0 and arguments["command_timeout"] == 30.0
    assert arguments["target_session_attrs"] == "primary"
    assert arguments["server_settings"] == {
        "application_name": "podium",
        "statement_timeout": "5000",
        "TimeZone": "Europe/Paris",
    }
    # No password anywhere: an empty one, so the server's PGPASSWORD/.pgpass stay unread.
    bare = connect_arguments(stub_ctx, _connection(url="jdbc:postgresql://db/x"))  # type: ignore[arg-type]
    assert bare["password"] == "" and bare["ssl"] == "prefer"


def test_ssl_follows_pgjdbc_rules(stub_ctx: StubContext) -> None:
    full = connect_arguments(stub_ctx, _connection(url="jdbc:postgresql://db/x", ssl=True))  # type: ignore[arg-type]
    assert isinstance(full["ssl"], ssl.SSLContext) and full["ssl"].check_hostname
    required = connect_arguments(
        stub_ctx,  # type: ignore[arg-type]
        _connection(url="jdbc:postgresql://db/x", sslMode="REQUIRE"),
    )
    assert required["ssl"].verify_mode == ssl.CERT_NONE
    with pytest.raises(TaskFailed, match="sslMode"):
        connect_arguments(stub_ctx, _connection(url="jdbc:postgresql://db/x", sslMode="SOMETIMES"))  # type: ignore[arg-type]


def test_server_errors_read_like_the_server_wrote_them() -> None:
    import asyncpg

    error = asyncpg.exceptions.UndefinedTableError('relation "nope" does not exist')
    error.sqlstate = "42P01"  # type: ignore[misc]
    error.position = "19"  # type: ignore[attr-defined]
    text = describe_error(error, "SELECT 1;\nSELECT * FROM nope", 2)
    assert text.startswith('42P01: relation "nope" does not exist')
    assert "at line 2, column 9" in text and "in statement 2: SELECT 1; SELECT * FROM nope" in text


# -- parameters ------------------------------------------------------------------------


def test_rendered_parameters_take_the_type_the_server_expects() -> None:
    assert coerce_parameter("42", "int4", "id") == 42
    assert coerce_parameter("3.5", "float8", "x") == 3.5
    assert coerce_parameter("1.10", "numeric", "x") == Decimal("1.10")
    assert coerce_parameter("true", "bool", "b") is True
    assert coerce_parameter("2019-01-31", "date", "d") == date(2019, 1, 31)
    assert coerce_parameter("2019-01-31T10:00:00Z", "timestamptz", "t") == datetime(
        2019, 1, 31, 10, tzinfo=UTC
    )
    assert coerce_parameter("2019-01-31T10:00:00", "timestamp", "t").tzinfo is None
    assert coerce_parameter("PT1H30M", "interval", "i") == timedelta(hours=1, minutes=30)
    assert coerce_parameter("[1, 2]", "int4[]", "a") == [1, 2]
    assert coerce_parameter({"k": [1]}, "jsonb", "j") == '{"k": [1]}'
    assert coerce_parameter(7, "text", "s") == "7"
    value = uuid.uuid4()
    assert coerce_parameter(str(value), "uuid", "u") == value
    assert coerce_parameter(None, "int4", "n") is None
    with pytest.raises(TaskFailed, match="parameter 'id' cannot be sent as int4: 'abc'"):
        coerce_parameter("abc", "int4", "id")


# -- fetch types -----------------------------------------------------------------------


def test_each_fetch_type_has_kestras_output_shape() -> None:
    row = {"a": 1}
    assert Result("NONE").as_output() == {}
    assert Result("FETCH_ONE", size=1, row=row).as_output() == {"row": row, "size": 1}
    assert Result("FETCH_ONE").as_output() == {"row": None, "size": 0}
    fetched = Result("FETCH")
    fetched.add_rows([row, row])
    assert fetched.as_output() == {"rows": [row, row], "size": 2}
    assert Result("STORE", size=3, uri="kestra:///x").as_output() == {
        "uri": "kestra:///x",
        "size": 3,
    }


def test_fetch_keeps_a_bounded_number_of_rows() -> None:
    result = Result("FETCH")
    result.add_rows([{"a": i} for i in range(MAX_FETCH_ROWS)])
    with pytest.raises(TaskFailed, match="use fetchType STORE"):
        result.add_rows([{"a": 0}])


def test_deprecated_flags_win_over_fetch_type(stub_ctx: StubContext) -> None:
    class Props:
        fetchType = "store"
        fetchSize = "500"
        fetch = False
        fetchOne = "true"
        store = False

    assert fetching_of(stub_ctx, Props()) == Fetching("FETCH_ONE", 500)  # type: ignore[arg-type]
    Props.fetchOne = False  # type: ignore[assignment]
    assert fetching_of(stub_ctx, Props()) == Fetching("STORE", 500)  # type: ignore[arg-type]
    Props.fetchType = "SOMETIMES"
    with pytest.raises(TaskFailed, match="fetchType"):
        fetching_of(stub_ctx, Props())  # type: ignore[arg-type]


def test_stored_rows_are_ion_lines_that_keep_their_types(tmp_path: Any) -> None:
    path = tmp_path / "rows.ion"
    rows = RowFile(path)
    moment = datetime(2019, 1, 1, 0, 5, 30, 120000)
    record = {
        "n": Decimal("2.50"),
        "i": Decimal("7"),
        "at": moment,
        "d": date(2019, 1, 2),
        "span": timedelta(minutes=90),
        "raw": b"\x00\x01",
        "id": uuid.UUID(int=1),
        "nested": {"k": [Decimal("1.5"), None]},
    }
    assert rows.add([record]) is None  # under 1 MiB: kept for later
    path.write_bytes(rows.take())
    assert path.read_text() == (
        '{n:2.50,i:7.,at:LocalDateTime::"2019-01-01T00:05:30.120000",d:2019-01-02,'
        'span:"PT1H30M",raw:{{AAE=}},id:"00000000-0000-0000-0000-000000000001",'
        "nested:{k:[1.5,null]}}\n"
    )
    assert list(ion.read_rows(path)) == [
        {**record, "span": "PT1H30M", "id": "00000000-0000-0000-0000-000000000001"}
    ]
    assert rows.size == 1
