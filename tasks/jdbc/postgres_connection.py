"""Connecting to PostgreSQL the way Kestra flows describe it, with asyncpg.

Flows write PgJDBC URLs (`jdbc:postgresql://host:port/db?sslmode=require`) plus
`username`/`password`, often from `pluginDefaults`. `parse_jdbc_url` reads every form
PgJDBC accepts (no host, several hosts, IPv6, `user`/`password`/`ssl…`/`connectTimeout`/
`socketTimeout`/`currentSchema`/`ApplicationName`/`options`/`targetServerType` in the
query); libpq URLs (`postgresql://…`) are read too. `connect` opens one connection
with a timeout, never reads the server's own PG* variables or ~/.pgpass (a flow gets
only the credentials it names), and always closes it, also when the task is cancelled.

asyncpg's errors are translated here, once, into TaskFailed with the server's message,
its detail and hint, and where in which statement it happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, lazy_import
from tasks.jdbc.sql import shorten
from tasks.properties import render_choice, render_flag, render_text

if TYPE_CHECKING:
    import asyncpg
else:  # imported when a task first uses it: the catalog stays fast
    asyncpg = lazy_import("asyncpg")

__all__ = [
    "PostgresConnection",
    "PostgresTarget",
    "connect",
    "describe_error",
    "parse_jdbc_url",
]

DEFAULT_CONNECT_SECONDS = 10.0  # PgJDBC's connectTimeout default
CLOSE_SECONDS = 5.0
SSL_MODES = ("DISABLE", "ALLOW", "PREFER", "REQUIRE", "VERIFY_CA", "VERIFY_FULL")
_TARGETS = {
    "any": "any",
    "primary": "primary",
    "master": "primary",
    "secondary": "standby",
    "slave": "standby",
    "preferSecondary": "prefer-standby",
    "preferslave": "prefer-standby",
}


class PostgresConnection(Task):
    """Kestra's connection properties of every PostgreSQL task."""

    url: str
    username: str | None = None
    password: str | None = None
    ssl: bool | str | None = None
    sslMode: str | None = None
    sslRootCert: str | None = None  # PEM text, as Kestra takes it
    sslCert: str | None = None
    sslKey: str | None = None
    sslKeyPassword: str | None = None
    timeZoneId: str | None = None


@dataclass(frozen=True)
class PostgresTarget:
    """A parsed PostgreSQL URL: where to connect and the properties it carries."""

    hosts: tuple[str, ...] = ("localhost",)
    ports: tuple[int, ...] = (5432,)
    database: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<PostgresTarget {self.describe()}>"

    def describe(self) -> str:
        """host:port/db, for messages; never the password."""
        where = ",".join(
            f"[{h}]:{p}" if ":" in h else f"{h}:{p}"
            for h, p in zip(self.hosts, self.ports, strict=True)
        )
        return f"{where}/{self.database or ''}"


def parse_jdbc_url(url: str) -> PostgresTarget:
    """Read `jdbc:postgresql://h1:p1,h2/db?k=v`, `jdbc:postgresql:db`, or a libpq URL."""
    text = url.strip()
    lowered = text.lower()
    if lowered.startswith("jdbc:postgresql:"):
        rest = text[len("jdbc:postgresql:") :]
    elif lowered.startswith(("postgresql://", "postgres://")):
        rest = text[text.index(":") + 1 :]
    else:
        raise TaskFailed(f"not a PostgreSQL JDBC URL (jdbc:postgresql://host:port/db): {url!r}")
    rest, _, query = rest.partition("?")
    params = {k: v for k, v in parse_qsl(query, keep_blank_values=True)}
    if not rest.startswith("//"):  # jdbc:postgresql:db or jdbc:postgresql:/
        database = unquote(rest.lstrip("/")) or None
        return PostgresTarget(database=database, params=params)
    authority, _, path = rest[2:].partition("/")
    if "@" in authority:  # libpq URLs may carry user:password@
        credentials, _, authority = authority.rpartition("@")
        user, _, password = credentials.partition(":")
        params.setdefault("user", unquote(user))
        if password:
            params.setdefault("password", unquote(password))
    hosts: list[str] = []
    ports: list[int] = []
    for spec in authority.split(",") if authority else []:
        host, port = _host_port(spec.strip(), url)
        hosts.append(host)
        ports.append(port)
    return PostgresTarget(
        hosts=tuple(hosts) or ("localhost",),
        ports=tuple(ports) or (5432,),
        database=unquote(path) or None,
        params=params,
    )


def _host_port(spec: str, url: str) -> tuple[str, int]:
    if spec.startswith("["):
        host, _, tail = spec[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = spec.partition(":")
    if not host:
        raise TaskFailed(f"no host in PostgreSQL URL {url!r}")
    try:
        port = int(port_text) if port_text else 5432
    except ValueError:
        raise TaskFailed(f"invalid port {port_text!r} in PostgreSQL URL {url!r}") from None
    if not 0 < port < 65536:
        raise TaskFailed(f"invalid port {port} in PostgreSQL URL {url!r}")
    return unquote(host), port


def _seconds(params: dict[str, str], *names: str) -> float | None:
    for name in names:
        text = params.get(name)
        if text:
            try:
                value = float(text)
            except ValueError:
                raise TaskFailed(
                    f"URL property {name}={text!r} is not a number of seconds"
                ) from None
            return value if value > 0 else None
    return None


def _server_settings(
    params: dict[str, str], time_zone: str | None, application: str
) -> dict[str, str]:
    settings = {"application_name": params.get("ApplicationName") or application}
    if params.get("currentSchema"):
        settings["search_path"] = params["currentSchema"]
    # PgJDBC's `options=-c key=value -c …` become startup settings, as libpq sends them.
    words = unquote(params.get("options", "")).split()
    for flag, value in zip(words, words[1:], strict=False):
        if flag == "-c" and "=" in value:
            key, _, setting = value.partition("=")
            settings[key] = setting
    if time_zone:
        settings["TimeZone"] = time_zone
    return settings


def _ssl(ctx: RunContext, task: PostgresConnection, params: dict[str, str]) -> Any:
    """What asyncpg's `ssl=` gets: a mode name, or a context when certificates are given.
    PgJDBC's rule applies: `ssl=true` without a mode means verify-full."""
    mode = render_choice(ctx, task.sslMode, "sslMode", SSL_MODES)
    if mode is None and params.get("sslmode"):
        mode = params["sslmode"].upper().replace("-", "_")
        if mode not in SSL_MODES:
            raise TaskFailed(f"unknown sslmode {params['sslmode']!r} in the URL")
    wants_ssl = render_flag(ctx, task.ssl, "ssl")
    if wants_ssl is None and params.get("ssl"):
        wants_ssl = params["ssl"].lower() in ("true", "1", "")
    if mode is None:
        mode = "VERIFY_FULL" if wants_ssl else "PREFER"
    if mode in ("DISABLE", "ALLOW", "PREFER"):
        return mode.lower()
    root = render_text(ctx, task.sslRootCert, "sslRootCert")
    cert = render_text(ctx, task.sslCert, "sslCert")
    key = render_text(ctx, task.sslKey, "sslKey")
    root_file, cert_file, key_file = (
        params.get("sslrootcert"),
        params.get("sslcert"),
        params.get("sslkey"),
    )
    has_root = bool(root or root_file)
    context = ssl.create_default_context(cafile=root_file, cadata=root)
    if mode == "REQUIRE" and not has_root:  # libpq: encrypt, trust any certificate
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif mode != "VERIFY_FULL":  # verify-ca (and require with a root): the CA, not the name
        context.check_hostname = False
    if cert or cert_file:
        if cert:  # PEM text: the ssl module only loads files, so write them privately
            cert_file = str(_private_file(ctx.working_dir(), "client.crt", cert))
            key_file = str(_private_file(ctx.working_dir(), "client.key", key)) if key else None
        password = render_text(ctx, task.sslKeyPassword, "sslKeyPassword")
        password = password or params.get("sslpassword")
        context.load_cert_chain(str(cert_file), key_file, password)
    return context


def _private_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.touch(mode=0o600)
    path.write_text(text)
    return path


def connect_arguments(ctx: RunContext, task: PostgresConnection) -> dict[str, Any]:
    """asyncpg.connect's keyword arguments for the task's rendered connection properties."""
    target = parse_jdbc_url(render_text(ctx, task.url, "url") or "")
    params = target.params
    user = render_text(ctx, task.username, "username") or params.get("user")
    password = render_text(ctx, task.password, "password") or params.get("password")
    target_attrs = params.get("targetServerType")
    if target_attrs and target_attrs not in _TARGETS:
        raise TaskFailed(f"unknown targetServerType {target_attrs!r} in the URL")
    return {
        "host": list(target.hosts),
        "port": list(target.ports),
        "user": user or getpass.getuser(),  # PgJDBC's default, the OS user
        # An explicit empty password keeps asyncpg from reading PGPASSWORD or ~/.pgpass.
        "password": password or "",
        "database": target.database or user or getpass.getuser(),
        "timeout": _seconds(params, "connectTimeout", "loginTimeout") or DEFAULT_CONNECT_SECONDS,
        "command_timeout": _seconds(params, "socketTimeout"),
        "ssl": _ssl(ctx, task, params),
        "server_settings": _server_settings(
            params, render_text(ctx, task.timeZoneId, "timeZoneId"), "podium"
        ),
        "target_session_attrs": _TARGETS.get(target_attrs or "any", "any"),
        "statement_cache_size": 0,  # statements are prepared once per run: no cache to keep
    }


@contextlib.asynccontextmanager
async def connect(ctx: RunContext, task: PostgresConnection) -> AsyncIterator[asyncpg.Connection]:
    """One connection for the task run, closed whatever happens."""
    arguments = connect_arguments(ctx, task)
    where = (
        f"{','.join(arguments['host'])}:{','.join(map(str, arguments['port']))}"
        f"/{arguments['database']} as {arguments['user']}"
    )
    try:
        connection = await asyncpg.connect(**arguments)
    except TimeoutError:
        raise TaskFailed(
            f"cannot connect to PostgreSQL at {where}: no answer within "
            f"{arguments['timeout']:g}s (connectTimeout)"
        ) from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ssl.SSLError) as exc:
        reason = exc.args[0] if isinstance(exc, asyncpg.PostgresError) and exc.args else exc
        raise TaskFailed(f"cannot connect to PostgreSQL at {where}: {reason}") from None
    try:
        yield connection
    finally:
        await _close(connection)


async def _close(connection: asyncpg.Connection) -> None:
    try:
        await connection.close(timeout=CLOSE_SECONDS)
    except asyncio.CancelledError:
        connection.terminate()  # cancelled again while closing: drop the socket, go on
        raise
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        connection.terminate()  # the server is gone or slow: the socket is all there is


def describe_error(exc: BaseException, statement: str | None, index: int | None = None) -> str:
    """A database error as one readable message: what the server said, where, in what."""
    if isinstance(exc, asyncpg.PostgresError):
        message = f"{exc.sqlstate or 'ERROR'}: {getattr(exc, 'message', None) or exc}"
        detail, hint = getattr(exc, "detail", None), getattr(exc, "hint", None)
        if detail:
            message += f"\n  detail: {detail}"
        if hint:
            message += f"\n  hint: {hint}"
        position = getattr(exc, "position", None)
        if statement and position and str(position).isdigit():
            before = statement[: int(position) - 1]
            line = before.count("\n") + 1
            column = len(before) - (before.rfind("\n") + 1) + 1
            message += f"\n  at line {line}, column {column}"
    elif isinstance(exc, TimeoutError):
        message = "the statement ran past socketTimeout"
    else:
        message = str(exc) or type(exc).__name__
    if statement is not None:
        which = f"statement {index}" if index is not None else "statement"
        message += f"\n  in {which}: {shorten(statement)}"
    return message
