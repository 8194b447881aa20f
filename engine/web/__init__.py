"""The HTTP side: REST API (Kestra paths under /api/v1) and, later, the web UI."""

from engine.web.app import create_app

__all__ = ["create_app"]
