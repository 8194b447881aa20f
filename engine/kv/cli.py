"""`podium kv set|get|ls|rm`: the namespace KV store from the command line.

    podium kv set NAMESPACE KEY VALUE [--type T] [--ttl PT1H] [--description TEXT]
    podium kv get NAMESPACE KEY [--json]
    podium kv ls NAMESPACE [--json]
    podium kv rm NAMESPACE KEY

With `--server URL` the commands go through the REST API of a running Podium (user and
password from --user/--password or PODIUM_USER/PODIUM_PASSWORD). Without it they open the
configured bus and store: a change is still published on the `kv` topic and applied by a
KV projector (the one writer of KV entries) — on the embedded bus this command runs that
projector itself, so the data folder must not be in use by a server (use --server then).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from engine.durations import format_duration, parse_duration
from engine.errors import ConfigError, TransientError
from engine.kv import KvEntry, KvError, KvType, parse_text_value, typed_value
from engine.kv.service import KvExpired
from engine.values import jsonable

if TYPE_CHECKING:
    import aiohttp

    from engine.kv.service import KvService

__all__ = ["add_kv_commands", "kv_command"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
HTTP_TIMEOUT_SECONDS = 60


def add_kv_commands(commands: Any) -> None:
    kv = commands.add_parser("kv", help="the namespace key/value store").add_subparsers(
        dest="action", required=True
    )
    set_ = kv.add_parser("set", help="set a key (VALUE is read as JSON, a date, or text)")
    set_.add_argument("namespace")
    set_.add_argument("key")
    set_.add_argument("value")
    set_.add_argument("--type", choices=[t.value for t in KvType], help="convert VALUE to this")
    set_.add_argument("--ttl", help="ISO-8601 duration after which the key expires (PT1H)")
    set_.add_argument("--description")
    get = kv.add_parser("get", help="print a key's value")
    get.add_argument("namespace")
    get.add_argument("key")
    ls = kv.add_parser("ls", help="list a namespace's live keys")
    ls.add_argument("namespace")
    rm = kv.add_parser("rm", help="delete a key")
    rm.add_argument("namespace")
    rm.add_argument("key")
    for sub in (set_, get, ls, rm):
        sub.add_argument("--server", help="a running Podium's URL (http://host:8080)")
        sub.add_argument("--user", help="API user (default: $PODIUM_USER)")
        sub.add_argument("--password", help="API password (default: $PODIUM_PASSWORD)")
        sub.add_argument("--config", type=Path, help="a settings file (without --server)")
        sub.add_argument("--data", type=Path, help="the data folder (without --server)")
    for sub in (get, ls):
        sub.add_argument("--json", action="store_true", help="print Kestra's JSON shape")


async def kv_command(args: argparse.Namespace) -> int:
    ttl: timedelta | None = None
    if getattr(args, "ttl", None):
        try:
            ttl = parse_duration(args.ttl)
        except ValueError as exc:
            print(f"podium: --ttl: {exc}", file=sys.stderr)
            return EXIT_USAGE
    client: _Remote | _Local = _Remote(args) if args.server else _Local(args)
    try:
        async with client.session():
            if args.action == "set":
                kind, value = (
                    typed_value(args.value, args.type)
                    if args.type
                    else parse_text_value(args.value)
                )
                await client.set(args.namespace, args.key, kind, value, ttl, args.description)
                print(f"{args.namespace}/{args.key} = {_show(value)} ({kind.value})")
                return EXIT_OK
            if args.action == "get":
                found = await client.get(args.namespace, args.key)
                if found is None:
                    print(
                        f"podium: no key '{args.key}' in namespace '{args.namespace}'",
                        file=sys.stderr,
                    )
                    return EXIT_FAILED
                print(json.dumps(found, default=jsonable) if args.json else _show(found["value"]))
                return EXIT_OK
            if args.action == "ls":
                entries = await client.list(args.namespace)
                if args.json:
                    print(json.dumps(entries, default=jsonable, indent=2))
                else:
                    _print_table(entries)
                return EXIT_OK
            if args.action == "rm":
                deleted = await client.delete(args.namespace, args.key)
                print(
                    "deleted" if deleted else f"podium: no key '{args.key}'",
                    file=sys.stdout if deleted else sys.stderr,
                )
                return EXIT_OK if deleted else EXIT_FAILED
    except KvExpired as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KvError as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _ApiRefused as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return EXIT_FAILED if exc.status in (404, 410) else EXIT_USAGE
    except TransientError as exc:  # the bus or store is down, or no projector applies
        print(f"podium: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_USAGE


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _print_table(entries: list[dict[str, Any]]) -> None:
    rows = [("KEY", "TYPE", "EXPIRES", "DESCRIPTION")] + [
        (
            e["key"],
            e.get("type") or "",
            str(e["expirationDate"]) if e.get("expirationDate") else "never",
            e.get("description") or "",
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[3]
        )


class _ApiRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Remote:
    """The commands over a running server's REST API."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.base = args.server.rstrip("/") + "/api/v1"
        self.user = args.user or os.environ.get("PODIUM_USER")
        self.password = args.password or os.environ.get("PODIUM_PASSWORD")
        self.http: aiohttp.ClientSession | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        import aiohttp

        auth = aiohttp.BasicAuth(self.user, self.password) if self.user and self.password else None
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(auth=auth, timeout=timeout) as http:
            self.http = http
            yield

    def _url(self, namespace: str, key: str | None = None) -> str:
        url = f"{self.base}/namespaces/{quote(namespace, safe='')}/kv"
        return url + f"/{quote(key, safe='')}" if key is not None else url

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        import aiohttp

        assert self.http is not None
        try:
            async with self.http.request(method, url, **kwargs) as response:
                text = await response.text()
                if response.status >= 400:
                    try:
                        message = json.loads(text)["message"]
                    except (ValueError, KeyError, TypeError):
                        message = text[:200] or response.reason
                    raise _ApiRefused(response.status, f"{response.status}: {message}")
                return json.loads(text) if text else None
        except aiohttp.ClientError as exc:
            raise ConfigError(f"cannot reach {self.base}: {exc}") from None

    async def set(
        self,
        namespace: str,
        key: str,
        kind: KvType,
        value: Any,
        ttl: timedelta | None,
        description: str | None,
    ) -> None:
        headers = {"Content-Type": "text/plain"}
        if ttl is not None:
            headers["ttl"] = format_duration(ttl)
        if description:
            headers["description"] = description
        # As Kestra reads a PUT body: a quoted string stays a STRING ("12" too), ISO dates
        # and durations unquoted keep their type, the rest is JSON.
        typed_text = kind in (KvType.DATETIME, KvType.DATE, KvType.DURATION)
        body = value if typed_text else json.dumps(value)
        await self._call("PUT", self._url(namespace, key), data=body, headers=headers)

    async def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._call("GET", self._url(namespace, key))
        except _ApiRefused as exc:
            if exc.status == 404:
                return None
            raise
        return found

    async def list(self, namespace: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._call("GET", self._url(namespace))
        return found

    async def delete(self, namespace: str, key: str) -> bool:
        return bool(await self._call("DELETE", self._url(namespace, key)))


class _Local:
    """The commands on the configured bus and store, changes applied by a KV projector."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.service: Any = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        async with _local_service(_settings(self.args)) as service:
            self.service = service
            yield

    async def set(
        self,
        namespace: str,
        key: str,
        kind: KvType,
        value: Any,
        ttl: timedelta | None,
        description: str | None,
    ) -> None:
        await self.service.set(
            namespace, key, value, kv_type=kind, ttl=ttl, description=description
        )

    async def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        entry: KvEntry | None = await self.service.entry(namespace, key)
        if entry is None:
            return None
        return {
            "type": entry.type.value,
            "value": await self.service.value(entry),
            "revision": entry.revision,
            "updated": entry.updated_at,
        }

    async def list(self, namespace: str) -> list[dict[str, Any]]:
        return [e.kestra_json() for e in await self.service.every(namespace)]

    async def delete(self, namespace: str, key: str) -> bool:
        return bool(await self.service.delete(namespace, key))


@asynccontextmanager
async def _local_service(settings: Any) -> AsyncIterator[KvService]:
    """A KvService on the configured bus and store. On the embedded bus nothing else may
    hold the data folder, and this process runs the KV projector while it works; on
    Kafka the cluster's projector role applies the changes."""
    # Imported here: `podium flow validate` need not load the bus and store clients.
    from engine.bus import open_bus
    from engine.bus.base import Topics
    from engine.clock import SystemClock
    from engine.data_lock import lock_data_folder
    from engine.kv.projector import KvProjector, KvProjectorSettings
    from engine.kv.service import KvService
    from engine.projector import wait_for_projection
    from engine.storage import LocalStorage
    from engine.store import open_store

    topics = Topics(settings.topic_prefix)
    data = settings.data.resolve()
    is_embedded = settings.bus.startswith("memory://")
    async with AsyncExitStack() as stack:
        if is_embedded:
            data.mkdir(parents=True, exist_ok=True)
            stack.enter_context(lock_data_folder(data))
        bus = await stack.enter_async_context(
            open_bus(
                settings.bus, journal=data / "bus" if is_embedded else None, topics=(topics.kv,)
            )
        )
        store = await stack.enter_async_context(open_store(settings.store_url))
        storage = LocalStorage(data / "storage")
        projector = KvProjector(
            bus,
            store,
            storage,
            topics=topics,
            settings=KvProjectorSettings(group=topics.group("kv")),
        )

        async def applied() -> None:
            if is_embedded:
                await projector.caught_up()
            else:
                await wait_for_projection(bus, topics, group=topics.group("kv"), topic=topics.kv)

        service = KvService(
            bus, store, storage, clock=SystemClock(), topics=topics, wait_applied=applied
        )
        if not is_embedded:
            yield service
            return
        failure: Exception | None = None
        async with asyncio.TaskGroup() as group:
            running = group.create_task(projector.run())
            try:
                yield service
                await projector.caught_up()
            except Exception as exc:  # re-raised as itself, not inside an ExceptionGroup
                failure = exc
            finally:
                projector.stop()
                await running
        if failure is not None:
            raise failure


def _settings(args: argparse.Namespace) -> Any:
    from engine.settings import load_settings

    return load_settings(args.config, overrides={"data": args.data})
