"""Task family `jdbc`: SQL on PostgreSQL (asyncpg) and DuckDB, with Kestra's names.

Read `sql.py` (statements, `:name` parameters and identifiers, as the server reads
them) and `results.py` (what `fetchType` makes of rows) first; then the PostgreSQL tasks:
`postgres_connection.py` (JDBC URLs, connecting, errors), `postgresql.py` (Queries,
Query), `postgresql_copy.py` (CopyIn, CopyOut) and `postgresql_batch.py` (Batch); and
DuckDB in `duckdb_queries.py` (Queries, Query, run in a worker thread). `batch.py` reads
the file of rows every Batch inserts; `stored.py` writes STORE results for the drivers
that hand rows over in async batches. MySQL/MariaDB (`mysql.py`, extra `mysql`) and
SQLite (`sqlite.py`) follow the same shapes. `trigger.py` is Kestra's `jdbc.*.Trigger`
(poll a query, fire when it returns rows) on the generic polling runner. Templated properties are rendered with
`tasks.properties`.
"""

from tasks.jdbc import duckdb_queries, postgresql, sqlite
from tasks.jdbc.duckdb_batch import Batch as DuckDbBatch
from tasks.jdbc.postgresql_batch import Batch as PostgresBatch
from tasks.jdbc.postgresql_copy import CopyIn, CopyOut
from tasks.jdbc.trigger import PostgresTrigger

__all__ = ["TASKS", "TRIGGERS"]

TASKS: tuple[type, ...] = (
    postgresql.Queries,
    postgresql.Query,
    PostgresBatch,
    CopyIn,
    CopyOut,
    duckdb_queries.Queries,
    duckdb_queries.Query,
    DuckDbBatch,
    sqlite.Queries,
    sqlite.Query,
)

TRIGGERS: tuple[type, ...] = (PostgresTrigger,)
