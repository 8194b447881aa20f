"""The aiohttp application: the REST API (Kestra's /api/v1 paths, engine/web/api/), the
web UI (/ui/), webhooks, health, readiness, metrics and the OpenAPI document.

Every request passes two middlewares, outermost first:
  errors   times the request (the HTTP latency histogram, by route), and answers every
           error as JSON `{"message": …}`: ApiError, aiohttp's own 404/405/413, and any
           unexpected exception (a 500 that is logged, never a stack trace sent out);
  auth     deny by default: see engine/web/auth.py.
Reads come from the store; commands go onto the requests topic through `Intake`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from engine.flows import FlowRepository
from engine.intake import Intake
from engine.kv.service import KvService
from engine.metrics import Registry
from engine.nsfiles import NamespaceFiles
from engine.settings import HttpSection
from engine.storage import LocalStorage
from engine.store.base import Store
from engine.watcher import ExecutionWatcher
from engine.web.api import Services
from engine.web.api.bulk import bulk_routes
from engine.web.api.execution_commands import execution_command_routes
from engine.web.api.executions import execution_routes
from engine.web.api.files import file_routes
from engine.web.api.flow_transfer import flow_transfer_routes
from engine.web.api.flows import flow_routes
from engine.web.api.kv import KV_SERVICE, kv_routes
from engine.web.api.logs import log_routes
from engine.web.api.metrics import metric_routes
from engine.web.api.namespace_files import NAMESPACE_FILES, namespace_file_routes
from engine.web.api.plugins import plugin_routes
from engine.web.api.stats import stats_routes
from engine.web.api.triggers import trigger_routes
from engine.web.auth import Authenticator, auth_middleware, auth_routes
from engine.web.http import HTTP_SETTINGS, ApiError, ApiRoutes, json_response
from engine.web.openapi import openapi_document
from triggers.service import TriggerService

__all__ = ["create_app"]

log = logging.getLogger("podium.web")

Report = Callable[[], Awaitable[dict[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ui_routes() -> list[web.RouteDef]:
    try:
        from engine.web.ui import ui_routes
    except ImportError:  # the UI package is optional in a minimal install
        return []
    return list(ui_routes())


def _errors_middleware(metrics: Registry | None) -> Any:
    latency = (
        metrics.histogram(
            "podium_http_request_duration_seconds",
            "HTTP request latency by route",
            ("method", "route", "status"),
        )
        if metrics is not None
        else None
    )

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except ApiError as exc:
            status = exc.status
            return exc.response()
        except web.HTTPException as exc:
            status = exc.status
            if exc.status < 400:
                raise
            headers = {
                k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")
            }
            reason = (
                exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
            )
            return json_response({"message": reason}, status=exc.status, headers=headers)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return json_response({"message": "internal error; see the server's log"}, status=500)
        finally:
            if latency is not None:
                resource = request.match_info.route.resource
                route = resource.canonical if resource is not None else "unmatched"
                latency.observe(
                    time.perf_counter() - started,
                    method=request.method,
                    route=route,
                    status=str(status),
                )

    return middleware


def create_app(
    store: Store,
    flows: FlowRepository,
    intake: Intake,
    health: Report,
    *,
    extra_routes: Sequence[web.RouteDef] = (),
    ready: Report | None = None,
    watcher: ExecutionWatcher | None = None,
    storage: LocalStorage | None = None,
    triggers: TriggerService | None = None,
    auth: Authenticator | None = None,
    metrics: Registry | None = None,
    kv: KvService | None = None,
    namespace_files: NamespaceFiles | None = None,
    http: HttpSection | None = None,
) -> web.Application:
    """The whole HTTP side. `auth` None serves without authentication (tests of other
    parts, or PODIUM_AUTH__ENABLED=false behind a proxy that authenticates); `http` has
    the body limits and the origin and proxy rules (engine/web/http.py, origin.py)."""
    http = http or HttpSection()
    services = Services(store, flows, intake, watcher, storage or intake.storage, triggers)
    document = openapi_document()
    executions_by_state = (
        metrics.gauge("podium_executions", "Executions by state (stored)", ("state",))
        if metrics is not None
        else None
    )

    async def get_health(request: web.Request) -> web.StreamResponse:
        report = await health()
        return json_response(report, status=200 if report.get("status") == "UP" else 503)

    async def get_ready(request: web.Request) -> web.StreamResponse:
        report = await (ready or health)()
        return json_response(report, status=200 if report.get("status") == "UP" else 503)

    async def get_metrics(request: web.Request) -> web.StreamResponse:
        if metrics is None:
            raise ApiError(404, "metrics are off")
        if executions_by_state is not None:
            for state, count in (await store.count_executions()).items():
                executions_by_state.set(count, state=state)
        return web.Response(
            text=metrics.render(), content_type="text/plain", charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )  # fmt: skip

    async def get_openapi(request: web.Request) -> web.StreamResponse:
        return json_response(document)

    api = ApiRoutes()
    for method, path, handler in auth_routes(auth):
        api.add(method, path, handler)
    api.get("/openapi.json", get_openapi)
    flow_transfer_routes(services, api)  # before flow_routes: literal paths first
    flow_routes(services, api)
    bulk_routes(services, api)  # literal paths (/executions/kill/by-ids) first
    execution_command_routes(services, api)
    execution_routes(services, api)
    metric_routes(services, api)
    file_routes(services, api)
    log_routes(services, api)
    trigger_routes(services, api)
    stats_routes(services, api)
    plugin_routes(services, api)
    kv_routes(api)
    namespace_file_routes(api)

    # aiohttp reads forms itself (http.read_form), bounded by client_max_size; every other
    # body is read by http.read_bytes against the limit of its kind.
    app = web.Application(
        client_max_size=http.max_form_bytes,
        middlewares=[_errors_middleware(metrics), auth_middleware(auth)],
    )
    app[HTTP_SETTINGS] = http
    if auth is not None:

        async def close_auth(app: web.Application) -> None:
            auth.close()

        app.on_cleanup.append(close_auth)
    app.add_routes(
        [
            web.get("/health", get_health, allow_head=False),
            web.get("/health/ready", get_ready, allow_head=False),
            web.get("/metrics", get_metrics, allow_head=False),
        ]
    )
    if kv is not None:
        app[KV_SERVICE] = kv
    app[NAMESPACE_FILES] = namespace_files or NamespaceFiles(store)
    app.add_routes(api.routes)
    app.add_routes(extra_routes)
    app.add_routes(_ui_routes())
    return app
