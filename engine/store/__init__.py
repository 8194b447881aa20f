"""The projection store behind the `Store` protocol: `SqliteStore` (embedded) and
`PostgresStore` (production), chosen by URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError
from engine.store.base import FlowRecord, Store, UnfinishedExecution
from engine.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from engine.store.postgres import PostgresStore

__all__ = [
    "FlowRecord",
    "PostgresStore",
    "SqliteStore",
    "Store",
    "UnfinishedExecution",
    "open_store",
]


def open_store(url: str) -> Store:
    """A store for a URL: `sqlite:///relative.db`, `sqlite:////absolute.db`, `sqlite://:memory:`,
    `postgresql://user@host/db`."""
    if url in ("sqlite://:memory:", "sqlite:///:memory:"):
        return SqliteStore(":memory:")
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///") :])
    if url.startswith(("postgresql://", "postgres://")):
        from engine.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigError(f"unknown store URL {url!r}: expected sqlite:///path or postgresql://…")


def __getattr__(name: str) -> Any:
    # asyncpg costs a tenth of a second to import: only a PostgreSQL store pays it
    if name == "PostgresStore":
        from engine.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
