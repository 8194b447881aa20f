"""Fresh PostgreSQL databases for tests, on the machine's running server.

The server is started if it is down (`pg_ctlcluster … start`), never skipped: these tests
must run in CI. PODIUM_TEST_POSTGRES overrides the server (a postgresql:// URL without a
database).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg

SERVER = os.environ.get("PODIUM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def run_sync(coroutine: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
    """Run a coroutine to the end from synchronous code, in a thread of its own (a test's
    event loop, if any, is never touched)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout)


async def admin(sql: str, database: str = "postgres") -> list[asyncpg.Record]:
    connection = await asyncpg.connect(f"{SERVER}/{database}", timeout=10)
    try:
        return await connection.fetch(sql)
    finally:
        await connection.close(timeout=5)


def ensure_server() -> None:
    """Start the local cluster if it does not answer, and wait until it does."""
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


@contextmanager
def fresh_database(prefix: str = "podium_test") -> Iterator[str]:
    """Yield the name of a new, empty database; drop it afterwards."""
    ensure_server()
    name = f"{prefix}_{secrets.token_hex(4)}"
    run_sync(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        run_sync(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@asynccontextmanager
async def fresh_database_async(prefix: str = "podium_test") -> AsyncIterator[str]:
    """The same, from inside an event loop."""
    await asyncio.to_thread(ensure_server)
    name = f"{prefix}_{secrets.token_hex(4)}"
    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
