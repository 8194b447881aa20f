"""Putting the roles together: `Podium` runs any set of roles in one process.

Roles (DESIGN.md): `executor`, `projector`, `scheduler` (every trigger but webhooks) and
`webserver` (the API, the UI and webhooks). `podium server local` runs them all on the
embedded defaults; `standalone` runs them all on the configured backends; each role alone
is `podium server <role>`, which needs a bus that processes share (Kafka).

Start order: store and bus open; the projector starts; the executor joins its group and,
for each partition assigned, waits for the projection to catch up (in this process, or
by watching the projector group's offsets on the bus), then resumes the unfinished
executions of that partition; the HTTP server and the flow folder watcher start. Stop
order is the reverse, so the events of the last moments are projected before exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from engine.bus import open_bus
from engine.bus.base import Bus, Topics
from engine.catalog import default_registries
from engine.clock import Clock, SystemClock
from engine.data_lock import lock_data_folder
from engine.errors import ConfigError, TransientError
from engine.events import EventDocument
from engine.executor import Executor, ExecutorSettings
from engine.flow import PluginDefault
from engine.flows import FlowRepository
from engine.intake import Intake
from engine.kv.projector import KvProjector, KvProjectorSettings
from engine.kv.service import KvService
from engine.metrics import Registry
from engine.nsfiles import NamespaceFileLimits, NamespaceFiles
from engine.projector import Projector, ProjectorSettings, wait_for_projection
from engine.purge import Purger
from engine.retention import RetentionJob, topic_retention
from engine.settings import Settings
from engine.storage import LocalStorage
from engine.store import open_store
from engine.store.base import Store
from engine.templating import Renderer, SecretStore
from engine.watcher import ExecutionWatcher
from triggers import TriggerRunners
from triggers.base import TriggerContext
from triggers.service import TriggerService

if TYPE_CHECKING:
    from aiohttp import web

    from engine.flow_sync import FlowDirectory

__all__ = ["ALL_ROLES", "Podium", "kestra_envs"]

log = logging.getLogger("podium.server")

ALL_ROLES = frozenset({"executor", "projector", "scheduler", "webserver"})


def kestra_envs(environ: Mapping[str, str]) -> dict[str, str]:
    """Kestra exposes `ENV_FOO` to templates as `envs.foo`."""
    return {k[4:].lower(): v for k, v in environ.items() if k.startswith("ENV_")}


ADMIN_FILE = "admin-user.json"


def _auth_users(settings: Settings, environ: Mapping[str, str], data: Path) -> dict[str, str]:
    """Who may log in: the settings' users, PODIUM_ADMIN_USER / PODIUM_ADMIN_PASSWORD, and
    when there is no one at all, an `admin` whose random password is printed once to
    stderr; only its hash is kept, in the data folder, for the next starts."""
    from engine.web.auth import hash_password  # the web app (aiohttp): only when it serves

    users = {u.username: u.password_hash for u in settings.auth.users}
    name, password = environ.get("PODIUM_ADMIN_USER"), environ.get("PODIUM_ADMIN_PASSWORD")
    if name and password:
        users.setdefault(name, hash_password(password))
    if users:
        return users
    stored = data / ADMIN_FILE
    if stored.is_file():
        saved = json.loads(stored.read_text(encoding="utf-8"))
        return {str(saved["username"]): str(saved["password_hash"])}
    password = secrets.token_urlsafe(18)
    record = {"username": "admin", "password_hash": hash_password(password)}
    temporary = stored.with_suffix(".tmp")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump(record, out)
    temporary.replace(stored)
    print(
        f"podium: created the user 'admin' with the password {password}\n"
        f"podium: it is shown only this once (its hash is in {stored}); set "
        "PODIUM_ADMIN_USER and PODIUM_ADMIN_PASSWORD to choose your own",
        file=sys.stderr,
        flush=True,
    )
    return {"admin": record["password_hash"]}


class Podium:
    """The roles of one process. Every component is built (reads of their counters stay
    valid); only the roles asked for run."""

    def __init__(
        self,
        settings: Settings,
        *,
        roles: Collection[str] = ALL_ROLES,
        clock: Clock | None = None,
        environ: Mapping[str, str] = os.environ,
        serve_http: bool = True,
        is_durable: bool = True,
    ) -> None:
        unknown = set(roles) - ALL_ROLES
        if unknown or not roles:
            raise ConfigError(
                f"unknown roles {sorted(unknown)}; choose from {sorted(ALL_ROLES)}"
                if unknown
                else "no role to run"
            )
        self.settings = settings
        self.roles = frozenset(roles)
        self.clock = clock or SystemClock()
        self.environ = environ
        self.serve_http = serve_http
        self.is_durable = is_durable
        self.topics = Topics(settings.topic_prefix)
        self._stack = AsyncExitStack()
        self._stopping = asyncio.Event()
        self.bus: Bus
        self.store: Store
        self.port: int | None = None
        self.flow_directory: FlowDirectory | None = None

    def __repr__(self) -> str:
        return f"<Podium roles={','.join(sorted(self.roles))} {self.settings!r}>"

    def has(self, role: str) -> bool:
        return role in self.roles

    async def __aenter__(self) -> Self:
        settings = self.settings
        is_embedded = settings.bus.startswith("memory://")
        if is_embedded and self.roles != ALL_ROLES:
            raise ConfigError(
                "the memory:// bus lives inside one process: run every role together "
                "(podium server local or standalone), or set PODIUM_BUS=kafka://host:port"
            )
        data = settings.data.resolve()
        data.mkdir(parents=True, exist_ok=True)
        if self.is_durable and is_embedded:
            self._stack.enter_context(lock_data_folder(data))
        journal = data / "bus" if self.is_durable else None
        self.bus = await self._stack.enter_async_context(
            open_bus(
                settings.bus,
                journal=journal,
                fsync=settings.journal.fsync,
                segment_bytes=settings.journal.segment_bytes,
                topics=(self.topics.requests, self.topics.events, self.topics.kv),
                topic_retention=self._topic_retention(),
            )
        )
        self.store = await self._stack.enter_async_context(open_store(settings.store_url))
        self.storage = LocalStorage(data / "storage")
        self.namespace_files = NamespaceFiles(
            self.store,
            NamespaceFileLimits(
                max_file_bytes=settings.namespace_files.max_file_bytes,
                max_namespace_bytes=settings.namespace_files.max_namespace_bytes,
            ),
        )
        self.renderer = Renderer(secrets=SecretStore(self.environ), storage=self.storage)
        self.flows = FlowRepository(
            self.store,
            default_registries(),
            plugin_defaults=[PluginDefault.model_validate(d) for d in settings.plugin_defaults],
        )
        envs = kestra_envs(self.environ)
        self.intake = Intake(
            self.bus,
            self.flows,
            self.renderer,
            topics=self.topics,
            clock=self.clock,
            envs=envs,
            storage=self.storage,
            max_request_bytes=settings.max_record_bytes,
        )
        self.projector = Projector(
            self.bus,
            self.store,
            topics=self.topics,
            settings=ProjectorSettings(
                group=self.topics.group("projector"), batch_size=settings.projector.batch_size
            ),
        )
        self.executor = Executor(
            self.bus,
            self.store,
            self.flows,
            self.storage,
            renderer=self.renderer,
            topics=self.topics,
            clock=self.clock,
            settings=ExecutorSettings(
                group=self.topics.group("executor"),
                max_running_executions=settings.executor.max_running_executions,
                max_running_tasks=settings.executor.max_running_tasks,
                drain_seconds=settings.executor.drain_seconds,
                revoke_grace_seconds=settings.executor.revoke_grace_seconds,
                max_recoveries=settings.executor.max_recoveries,
                max_output_bytes=settings.max_record_bytes,
                ui_url=settings.public_url,
                work_root=data / "work",
                cache_root=data / "cache",
                envs=envs,
                script_env_allow=tuple(settings.scripts.env_allow),
                globals=settings.globals,
            ),
            wait_projected=self._projection_waiter(),
            namespace_files=self.namespace_files,
        )
        self.kv_projector = KvProjector(
            self.bus,
            self.store,
            self.storage,
            topics=self.topics,
            settings=KvProjectorSettings(group=self.topics.group("kv")),
        )
        self.kv = KvService(
            self.bus,
            self.store,
            self.storage,
            clock=self.clock,
            topics=self.topics,
            wait_applied=self._kv_waiter(),
        )
        self.executor.runtime.kv = self.kv
        self.purger = Purger(
            self.bus,
            self.store,
            self.storage,
            wait_projected=self._projection_waiter(),
            topics=self.topics,
            clock=self.clock,
        )
        self.executor.runtime.purger = self.purger
        self.retention = RetentionJob(self.purger, settings.retention, clock=self.clock)
        if self.has("projector"):
            self.projector.follow(self._forget_purged)
        if settings.flows is not None:
            from engine.flow_sync import FlowDirectory  # watchfiles: only with a flow folder

            self.flow_directory = FlowDirectory(settings.flows, self.flows)
        self.watcher = ExecutionWatcher(
            self.bus,
            self.store,
            topics=self.topics,
            projector=self.local_projector,
        )
        self.triggers = TriggerService(
            self.flows,
            TriggerContext(
                intake=self.intake,
                state=self.store,
                clock=self.clock,
                renderer=self.renderer,
                storage=self.storage,
                allowed_paths=tuple(p.resolve() for p in settings.triggers.allowed_paths),
                envs=envs,
            ),
            self.bus,
            runners=TriggerRunners(),
            topics=self.topics,
            refresh_seconds=settings.triggers.refresh_seconds,
            projector=self.local_projector,
        )
        # trigger.Toggle flips the same switch as the API, in whichever process runs it
        self.executor.runtime.triggers = self.triggers
        return self

    async def _forget_purged(self, events: Sequence[EventDocument]) -> None:
        """The intake answers for executions it accepted a moment ago until they are
        projected; a purged one is gone, not requested. (A webserver in a process of
        its own forgets them only as its bounded memory of requests turns over.)"""
        for event in events:
            if event.doc["kind"] == "ExecutionsPurged" and event.doc.get("executions", True):
                self.intake.forget(event.doc["execution_ids"])

    def _topic_retention(self) -> dict[str, timedelta]:
        """On Kafka, the events and requests topics keep what the store keeps
        (engine/retention.py); the KV topic is state and keeps everything."""
        period = topic_retention(self.settings.retention)
        if period is None:
            return {}
        return {self.topics.events: period, self.topics.requests: period}

    @property
    def local_projector(self) -> Projector | None:
        """The projector, if this process runs it: in-process readers of the events
        follow it rather than consuming the topic again."""
        return self.projector if self.has("projector") else None

    def _projection_waiter(self) -> Callable[[], Awaitable[None]]:
        if self.has("projector"):
            return self.projector.caught_up  # woken by each batch, no polling
        return lambda: wait_for_projection(
            self.bus, self.topics, group=self.topics.group("projector")
        )

    def _kv_waiter(self) -> Callable[[], Awaitable[None]]:
        """KV changes are applied by the KV projector (the projector role's): a change is
        read back once it is through, here or in another process."""
        if self.has("projector"):
            return self.kv_projector.caught_up
        return lambda: wait_for_projection(
            self.bus, self.topics, group=self.topics.group("kv"), topic=self.topics.kv
        )

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def stop(self) -> None:
        self._stopping.set()

    async def health(self) -> dict[str, Any]:
        """Each running role's state; UP when every one of them is ready and working."""
        report: dict[str, Any] = {"roles": sorted(self.roles)}
        is_up = not self._stopping.is_set()
        if self.has("executor"):
            executor = self.executor
            ready = executor.is_ready.is_set() and not executor.ownership.recovering
            report["executor"] = {
                "ready": ready,
                "owned": len(executor._owned),
                "queued": len(executor._queued),
                "paused": executor._is_paused,
                "partitions": sorted(executor.ownership.partitions),
            }
            is_up = is_up and ready
        if self.has("projector"):
            projector = self.projector
            report["projector"] = {
                "ready": projector.is_ready.is_set() and self.kv_projector.is_ready.is_set(),
                "applied": projector.applied,
                "lag": projector.lag,
                "error": projector.last_error,
            }
            is_up = (
                is_up
                and projector.is_ready.is_set()
                and projector.last_error is None
                and self.kv_projector.last_error is None
            )
        if self.has("scheduler"):
            report["scheduler"] = {"ready": self.triggers.is_ready.is_set()}
            if self.settings.retention.is_set:
                report["scheduler"]["retention"] = {
                    "rounds": self.retention.rounds,
                    "error": self.retention.last_error,
                }
            is_up = is_up and self.triggers.is_ready.is_set()
        report["status"] = "UP" if is_up else "DOWN"
        return report

    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        """Run this process's roles until `stop()`."""
        runner: web.AppRunner | None = None
        try:
            async with asyncio.TaskGroup() as group:
                runner = await self._run_roles(group, ready)
        finally:
            # also when a role crashed or the caller was cancelled: free the port
            if runner is not None:
                await runner.cleanup()

    async def _run_roles(
        self, group: asyncio.TaskGroup, ready: asyncio.Event | None
    ) -> web.AppRunner | None:
        watch_stop = asyncio.Event()
        projector = kv_projector = watcher = executor = triggers = retention = None
        if self.has("projector"):
            projector = group.create_task(self.projector.run(), name="projector")
            kv_projector = group.create_task(self.kv_projector.run(), name="kv projector")
        if self.has("webserver"):
            watcher = group.create_task(self.watcher.run(), name="watcher")
            if not self.has("scheduler"):
                # webhooks consult which triggers are disabled; the scheduler's service
                # refreshes that as it reconciles, a lone webserver does it here
                group.create_task(self._refresh_disabled(watch_stop), name="disabled triggers")
        if self.flow_directory is not None:
            await self.flow_directory.load_all()
        if self.has("executor"):
            executor = group.create_task(self.executor.run(), name="executor")
        runner = None
        if self.serve_http:
            runner = await (self._serve() if self.has("webserver") else self._serve_ops())
        if self.flow_directory is not None:
            group.create_task(self.flow_directory.watch(watch_stop), name="flow watcher")
        if self.has("scheduler"):
            triggers = group.create_task(self.triggers.run(), name="triggers")
            await self.triggers.is_ready.wait()
            if self.settings.retention.is_set:
                retention = group.create_task(self.retention.run(), name="retention")
        if executor is not None:
            await self.executor.is_ready.wait()
        if ready is not None:
            ready.set()
        log.info("running %s", ", ".join(sorted(self.roles)))
        await self._stopping.wait()
        log.info("stopping: no new requests; draining running executions")
        watch_stop.set()
        if retention is not None:
            self.retention.stop()
            await retention
        if triggers is not None:
            self.triggers.stop()
            await triggers
        if watcher is not None:
            self.watcher.stop()
            await watcher
        if executor is not None:
            self.executor.stop()
            await executor
        if projector is not None:
            await self.projector.caught_up()
            self.projector.stop()
            await projector
        if kv_projector is not None:
            await self.kv_projector.caught_up()
            self.kv_projector.stop()
            await kv_projector
        return runner

    async def _refresh_disabled(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.triggers.refresh_disabled()
            except TransientError as exc:
                log.warning("cannot read disabled triggers: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.triggers.refresh_seconds)

    async def _serve_ops(self) -> web.AppRunner:
        from aiohttp import web  # a quarter of a second to import: only when serving HTTP

        """For a role without the API: health and readiness only, on its own port."""

        async def health(request: web.Request) -> web.Response:
            report = await self.health()
            return web.json_response(report, status=200 if report["status"] == "UP" else 503)

        app = web.Application()
        app.add_routes([web.get("/health", health), web.get("/health/ready", health)])
        return await self._listen(app)

    async def _listen(self, app: web.Application) -> web.AppRunner:
        from aiohttp import web

        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        log.info("listening on http://%s:%s", self.settings.host, self.port)
        return runner

    async def _serve(self) -> web.AppRunner:
        from engine.web import create_app
        from engine.web.auth import Authenticator
        from engine.web.telemetry import EventMetrics
        from engine.web.webhooks import FailedKeyLimiter, webhook_routes

        webhooks = webhook_routes(
            self.flows,
            self.triggers.ctx,
            self.watcher,
            max_body_bytes=self.settings.webhook.max_body_bytes,
            max_in_flight=self.settings.webhook.max_in_flight,
            is_disabled=self.triggers.is_disabled,
            failed_keys=FailedKeyLimiter.from_settings(self.settings.webhook),
        )
        registry = self._metrics()
        auth = None
        if self.settings.auth.enabled:
            users = await asyncio.to_thread(
                _auth_users, self.settings, self.environ, self.settings.data.resolve()
            )
            auth = Authenticator(
                users,
                session_seconds=self.settings.auth.session_hours * 3600,
                limits=self.settings.auth,
            )
        app = create_app(
            self.store,
            self.flows,
            self.intake,
            self.health,
            extra_routes=webhooks,
            ready=self._readiness,
            watcher=self.watcher,
            storage=self.storage,
            triggers=self.triggers,
            auth=auth,
            metrics=registry,
            kv=self.kv,
            namespace_files=self.namespace_files,
            http=self.settings.http,
        )
        metrics = EventMetrics(
            self.bus,
            registry,
            topics=self.topics,
            projector=self.local_projector,
        )
        app.cleanup_ctx.append(metrics.cleanup_ctx)
        self.http_app = app
        return await self._listen(app)

    async def _readiness(self) -> dict[str, Any]:
        """Ready when every role of this process is (`health()` decides)."""
        report = await self.health()
        ready = {
            role: bool(part["ready"])
            for role, part in report.items()
            if isinstance(part, dict) and "ready" in part
        }
        if self.has("webserver"):
            ready["webserver"] = self.watcher.is_ready.is_set()
        is_up = report["status"] == "UP" and all(ready.values())
        return {"status": "UP" if is_up else "DOWN", "ready": ready}

    def _metrics(self) -> Registry:
        """Gauges read at scrape time from the roles' counters; task run durations and
        ended executions are counted from the events (`EventMetrics`)."""
        registry = Registry()
        registry.gauge_callback(
            "podium_executor_running_executions",
            "Executions this process's executor owns now",
            lambda: [((), len(self.executor._owned))],
        )
        registry.gauge_callback(
            "podium_executor_queued_executions",
            "Executions waiting for a concurrency slot in this executor",
            lambda: [((), len(self.executor._queued))],
        )
        registry.gauge_callback(
            "podium_projector_applied_events",
            "Events the projector applied since start",
            lambda: [((), self.projector.applied)],
        )
        registry.gauge_callback(
            "podium_projector_lag_events",
            "Events published but not yet projected",
            lambda: [((), self.projector.lag)],
        )
        return registry
