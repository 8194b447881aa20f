"""The projection store behind the `Store` protocol: `SqliteStore` (embedded) and
`PostgresStore` (production), chosen by URL."""

from __future__ import annotations

from engine.errors import ConfigError
from engine.store.base import FlowRecord, Store, UnfinishedExecution
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore

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
        return PostgresStore(url)
    raise ConfigError(f"unknown store URL {url!r}: expected sqlite:///path or postgresql://…")
