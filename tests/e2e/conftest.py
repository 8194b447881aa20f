"""Fixtures shared with the task tests: the Podman-served Docker API for container runs."""

from tests.tasks.scripts.conftest import docker_host

__all__ = ["docker_host"]
