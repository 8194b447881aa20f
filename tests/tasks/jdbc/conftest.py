"""A PostgreSQL database of its own for this test session, and a stand-in RunContext.

The local PostgreSQL (127.0.0.1:5432, trust auth) is started if it is not running; the
session gets a fresh `podium_test_<random>` database, dropped at the end whatever
happened. Nothing here is skipped: the PostgreSQL tasks are tested against the real server.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from engine.storage import LocalStorage, ScopedStorage

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"


def run_sync(coroutine: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
    """Run a coroutine to the end from synchronous code, in a thread of its own (the
    test's event loop, if any, is never touched)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout)


async def admin(sql: str, database: str = "postgres") -> Any:
    connection = await asyncpg.connect(
        host=HOST, port=PORT, user=USER, password="", database=database, timeout=5
    )
    try:
        return await connection.fetch(sql)
    finally:
        await connection.close(timeout=5)


def _ensure_running() -> None:
    try:
        run_sync(admin("SELECT 1"))
        return
    except (OSError, asyncpg.PostgresError, TimeoutError):
        pass
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
        check=True,
        timeout=120,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            run_sync(admin("SELECT 1"))
            return
        except (OSError, asyncpg.PostgresError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The name of a fresh database on the local PostgreSQL, dropped after the session."""
    _ensure_running()
    name = f"podium_test_{secrets.token_hex(4)}"
    run_sync(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        run_sync(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(postgres_database: str) -> str:
    return f"jdbc:postgresql://{HOST}:{PORT}/{postgres_database}"


@pytest.fixture
def table() -> str:
    """A table name no other test uses (the database is shared by the session)."""
    return f"t_{secrets.token_hex(4)}"


class _Logger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def log(self, level: str, message: str) -> None:
        self.lines.append((level, message))

    def trace(self, message: str) -> None:
        self.log("TRACE", message)

    def debug(self, message: str) -> None:
        self.log("DEBUG", message)

    def info(self, message: str) -> None:
        self.log("INFO", message)

    def warning(self, message: str) -> None:
        self.log("WARN", message)

    def error(self, message: str) -> None:
        self.log("ERROR", message)


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
