"""Fixtures shared with the task tests: the Podman-served Docker API for container runs,
and loopback allowed for the HTTP tasks (the flows' files are served on 127.0.0.1)."""

from tests.tasks.conftest import allow_loopback_http
from tests.tasks.scripts.conftest import docker_host

__all__ = ["allow_loopback_http", "docker_host"]
