"""A fresh PostgreSQL database per test session, on the machine's running server.

Started if it is down (`pg_ctlcluster … start`), never skipped: these tests must run in CI.
PODIUM_TEST_POSTGRES overrides the server (a postgresql:// URL without a database).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg

SERVER = os.environ.get("PODIUM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def ensure_server() -> None:
    """Start the local cluster if nothing answers on its port."""
    for attempt in range(2):
        if (
            subprocess.run(
                ["pg_isready", "-h", "127.0.0.1", "-p", "5432"], capture_output=True
            ).returncode
            == 0
        ):
            return
        if attempt == 0 and Path("/etc/postgresql").is_dir():
            version = sorted(os.listdir("/etc/postgresql"))[-1]
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
            )
            time.sleep(2)
    raise RuntimeError("PostgreSQL is not running on 127.0.0.1:5432 and could not be started")


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(f"{SERVER}/postgres", timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def fresh_database(prefix: str = "podium_test") -> Iterator[str]:
    """Yield the name of a new, empty database; drop it afterwards (outside an event loop)."""
    ensure_server()
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@asynccontextmanager
async def fresh_database_async(prefix: str = "podium_test") -> AsyncIterator[str]:
    """The same, from inside an event loop."""
    await asyncio.to_thread(ensure_server)
    name = f"{prefix}_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
