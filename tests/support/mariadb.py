"""Fresh MariaDB databases for tests, on the machine's server (127.0.0.1:3306, root with
an empty password).

The server is started if it is down (`start-stop-daemon … mariadbd`), never skipped:
these tests must run in CI. PODIUM_TEST_MYSQL overrides where it is (`host:port`).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncmy
from asyncmy import errors

from tests.support.postgres import run_sync

HOST, _, _PORT = os.environ.get("PODIUM_TEST_MYSQL", "127.0.0.1:3306").partition(":")
PORT = int(_PORT or 3306)
USER = "root"


async def admin(sql: str, database: str | None = None) -> list[Any]:
    connection = await asyncmy.connect(
        host=HOST,
        port=PORT,
        user=USER,
        password="",
        database=database,
        connect_timeout=10,
        autocommit=True,
    )
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(sql)
            return list(await cursor.fetchall())
    finally:
        connection.close()


def ensure_server() -> None:
    """Start the local server if it does not answer, and wait until it does."""
    try:
        run_sync(admin("SELECT 1"))
        return
    except (OSError, errors.MySQLError, TimeoutError):
        pass
    subprocess.run(
        [
            "start-stop-daemon",
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            "/usr/sbin/mariadbd",
        ],
        check=True,
        timeout=60,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            run_sync(admin("SELECT 1"))
            return
        except (OSError, errors.MySQLError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@contextmanager
def fresh_database(prefix: str = "podium_test") -> Iterator[str]:
    """Yield the name of a new, empty database; drop it afterwards."""
    ensure_server()
    name = f"{prefix}_{secrets.token_hex(4)}"
    run_sync(admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield name
    finally:
        run_sync(admin(f"DROP DATABASE IF EXISTS `{name}`"))
