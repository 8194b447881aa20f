"""A PostgreSQL database of its own for this test session, and a stand-in RunContext.

The local PostgreSQL (127.0.0.1:5432, trust auth) is started if it is not running; the
session gets a fresh `podium_test_<random>` database, dropped at the end whatever
happened. Nothing here is skipped: the PostgreSQL tasks are tested against the real server.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from engine.plugin import LevelMethods
from engine.storage import LocalStorage, ScopedStorage
from tests.support.postgres import fresh_database

HOST, PORT = "127.0.0.1", 5432


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The name of a fresh database on the local PostgreSQL, dropped after the session."""
    with fresh_database("podium_test") as name:
        yield name


@pytest.fixture
def pg_url(postgres_database: str) -> str:
    return f"jdbc:postgresql://{HOST}:{PORT}/{postgres_database}"


@pytest.fixture
def table() -> str:
    """A table name no other test uses (the database is shared by the session)."""
    return f"t_{secrets.token_hex(4)}"


class _Logger(LevelMethods):
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def log(self, level: str, message: str) -> None:
        self.lines.append((level, message))


class StubContext:
    """Just enough RunContext for unit tests of property rendering: templates are not
    rendered (values pass through), storage is a real folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logger = _Logger()
        self.storage = ScopedStorage(LocalStorage(root / "storage"), "tests", "f", "e1", "t/r1")
        self.task_run_id = "r1"
        self.metrics: list[tuple[str, float]] = []

    def render(self, value: Any, *, extra: Mapping[str, Any] | None = None) -> Any:
        return value

    def render_text(self, template: str) -> str:
        return template

    def working_dir(self) -> Path:
        folder = self.root / "work"
        folder.mkdir(exist_ok=True)
        return folder

    def cache_dir(self, name: str) -> Path:
        folder = self.root / "cache" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def metric(self, name: str, value: float, **_: Any) -> None:
        self.metrics.append((name, value))


@pytest.fixture
def stub_ctx(tmp_path: Path) -> StubContext:
    return StubContext(tmp_path)
