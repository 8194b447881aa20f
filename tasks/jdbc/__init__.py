"""Task family `jdbc`: SQL on PostgreSQL (asyncpg) and DuckDB, with Kestra's names.

Read `sql.py` (statements, `:name` parameters and identifiers, as the server reads
them) and `results.py` (what `fetchType` makes of rows) first; then the PostgreSQL tasks:
`postgres_connection.py` (JDBC URLs, connecting, errors), `postgresql.py` (Queries,
Query) and `postgresql_copy.py` (CopyIn, CopyOut); and DuckDB in `duckdb_queries.py`
(Queries, Query, run in a worker thread). Templated properties are rendered with
`tasks.properties`.
"""

from tasks.jdbc import duckdb_queries, postgresql
from tasks.jdbc.postgresql_copy import CopyIn, CopyOut

__all__ = ["JDBC_TASKS"]

JDBC_TASKS: tuple[type, ...] = (
    postgresql.Queries,
    postgresql.Query,
    CopyIn,
    CopyOut,
    duckdb_queries.Queries,
    duckdb_queries.Query,
)
