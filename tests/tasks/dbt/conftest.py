"""The dbt tests' Docker runner uses the script tasks' Podman service fixture."""

from tests.tasks.scripts.conftest import docker_host

__all__ = ["docker_host"]
