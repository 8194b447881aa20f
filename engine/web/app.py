"""The aiohttp application: health, flows and executions under Kestra's /api/v1 paths.

Reads come from the store; commands (execute, kill, resume) go onto the requests topic
through `Intake`, never straight into the store.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from engine.errors import FlowDefinitionError, InputError
from engine.flows import FlowRepository
from engine.intake import FlowNotFound, Intake
from engine.states import State
from engine.store.base import Store
from engine.values import jsonable

__all__ = ["create_app"]

MAX_BODY = 10 << 20

Health = Callable[[], Awaitable[dict[str, Any]]]


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"message": message, **extra}, status=status)


def create_app(
    store: Store,
    flows: FlowRepository,
    intake: Intake,
    health: Health,
    *,
    extra_routes: Sequence[web.RouteDef] = (),
) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/health")
    async def get_health(request: web.Request) -> web.Response:
        report = await health()
        return web.json_response(report, status=200 if report.get("status") == "UP" else 503)

    @routes.get("/api/v1/flows")
    async def list_flows(request: web.Request) -> web.Response:
        records = await flows.list()
        return web.json_response(
            [
                {
                    "namespace": r.namespace,
                    "id": r.id,
                    "revision": r.revision,
                    "updated": r.updated_at.isoformat(),
                }
                for r in records
            ]
        )

    @routes.get("/api/v1/flows/{namespace}/{id}")
    async def get_flow(request: web.Request) -> web.Response:
        record = await store.get_flow(request.match_info["namespace"], request.match_info["id"])
        if record is None:
            return _error(404, "flow not found")
        return web.json_response(
            {
                "namespace": record.namespace,
                "id": record.id,
                "revision": record.revision,
                "source": record.source,
            }
        )

    @routes.post("/api/v1/flows")
    async def create_flow(request: web.Request) -> web.Response:
        text = await request.text()
        try:
            flow = await flows.save(text, name="request body")
        except FlowDefinitionError as exc:
            return _error(
                422,
                "invalid flow",
                problems=[
                    {"message": p.message, "path": p.path, "line": p.line, "column": p.column}
                    for p in exc.problems
                ],
            )
        return web.json_response(
            {"namespace": flow.namespace, "id": flow.id, "revision": flow.revision}
        )

    @routes.post("/api/v1/executions/{namespace}/{id}")
    async def create_execution(request: web.Request) -> web.Response:
        inputs: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        labels: dict[str, str] = {}
        if request.content_type == "application/json":
            raw = await request.read()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError as exc:
                return _error(400, f"the body is not JSON: {exc}")
            if not isinstance(body, dict):
                return _error(400, "the body is a JSON object of inputs")
            inputs = body
        elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename or key, value.file.read())
                elif isinstance(value, str):
                    inputs[key] = value
        for label in request.query.getall("labels", []):
            key, _, value = label.partition(":")
            labels[key] = value
        try:
            req = await intake.execute(
                request.match_info["namespace"],
                request.match_info["id"],
                inputs=inputs,
                labels=labels,
                files=files,
            )
        except FlowNotFound as exc:
            return _error(404, str(exc))
        except InputError as exc:
            return _error(422, str(exc), inputs=exc.errors)
        return web.json_response(
            {
                "id": req.execution_id,
                "namespace": req.namespace,
                "flowId": req.flow_id,
                "state": {"current": "CREATED"},
            }
        )

    @routes.get("/api/v1/executions/search")
    async def search_executions(request: web.Request) -> web.Response:
        query = request.query
        try:
            size = min(int(query.get("size", "25")), 1000)
            page = max(int(query.get("page", "1")), 1)
            states = [State(s) for s in query.getall("state", [])]
        except ValueError as exc:
            return _error(400, f"bad query: {exc}")
        found = await store.list_executions(
            namespace=query.get("namespace"),
            flow_id=query.get("flowId"),
            states=states,
            limit=size,
            offset=(page - 1) * size,
        )
        results = []
        for execution in found:
            body = execution.model_dump(mode="json")
            body["id"] = execution.execution_id
            results.append(body)
        return web.json_response({"results": results, "total": len(results)})

    @routes.get("/api/v1/executions/{execution_id}")
    async def get_execution(request: web.Request) -> web.Response:
        execution = await store.get_execution(request.match_info["execution_id"])
        if execution is None:
            return _error(404, "execution not found")
        runs = await store.task_runs(execution.execution_id)
        body = execution.model_dump(mode="json")
        body["id"] = execution.execution_id
        body["taskRunList"] = [r.model_dump(mode="json") for r in runs]
        return web.json_response(jsonable(body))

    @routes.get("/api/v1/logs/{execution_id}")
    async def get_logs(request: web.Request) -> web.Response:
        lines = await store.logs(
            request.match_info["execution_id"], min_level=request.query.get("minLevel", "TRACE")
        )
        return web.json_response([line.model_dump(mode="json") for line in lines])

    @routes.delete("/api/v1/executions/{execution_id}/kill")
    async def kill_execution(request: web.Request) -> web.Response:
        execution = await store.get_execution(request.match_info["execution_id"])
        if execution is None:
            return _error(404, "execution not found")
        await intake.kill(execution.execution_id, execution.namespace, execution.flow_id)
        return web.Response(status=202)

    @routes.post("/api/v1/executions/{execution_id}/resume")
    async def resume_execution(request: web.Request) -> web.Response:
        execution = await store.get_execution(request.match_info["execution_id"])
        if execution is None:
            return _error(404, "execution not found")
        await intake.resume(execution.execution_id, execution.namespace, execution.flow_id)
        return web.Response(status=204)

    app = web.Application(client_max_size=MAX_BODY)
    app.add_routes(routes)
    app.add_routes(extra_routes)
    return app
