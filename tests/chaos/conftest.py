"""The production fixtures (a private broker, a fresh database, the cluster of roles)."""

from tests.e2e.production.conftest import broker_url, cluster, empty_store, observer

__all__ = ["broker_url", "cluster", "empty_store", "observer"]
