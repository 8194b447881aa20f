"""Executions: create (inputs as form fields or JSON, files as parts, `wait=true`), read,
search, follow, and the commands kill, resume, restart, replay and set labels.

Commands go onto the requests topic through `Intake`; the answer says the command was
accepted, and the execution's state changes when its executor has acted (follow it, or
read it again). Reads are the store's projection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from engine.checks import ChecksBlocked
from engine.errors import InputError, PodiumError
from engine.events import ExecutionChanged
from engine.intake import FlowNotFound
from engine.reruns import RerunRefused, plan_replay
from engine.states import State
from engine.web.api import Services
from engine.web.api.bulk import check_labels, refuse_other_revision
from engine.web.api.execution_filters import execution_query
from engine.web.http import (
    ApiError,
    ApiRoutes,
    json_response,
    page_args,
    query_bool,
    query_int,
    read_form,
    read_json,
)
from engine.web.kestra_json import (
    execution_json,
    labels_json,
    requested_json,
    with_secret_inputs_masked,
)
from engine.web.sse import EventStream, stream

__all__ = ["execution_routes", "load_execution", "parse_labels"]

WAIT_SECONDS = 300.0
MAX_LABELS = 100
_RESTARTABLE = (State.FAILED, State.KILLED, State.CANCELLED, State.WARNING)


def parse_labels(values: list[str]) -> dict[str, str]:
    """`key:value` strings (Kestra's `labels` query parameter) as a map."""
    labels: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise ApiError(400, f"a label is key:value, got {item!r}")
        labels[key.strip()] = value
    if len(labels) > MAX_LABELS:
        raise ApiError(400, f"at most {MAX_LABELS} labels")
    return labels


async def load_execution(services: Services, execution_id: str) -> dict[str, Any] | None:
    store = services.store
    execution = await store.get_execution(execution_id)
    if execution is None:
        return None
    runs = await store.task_runs(execution_id)
    history = await store.state_history(execution_id)
    return await _shown(services, execution, execution_json(execution, runs, history))


async def _shown(services: Services, execution: Any, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with the values of SECRET inputs shown as ****** (Kestra never shows them)."""
    inputs = body.get("inputs")
    if not inputs:
        return body
    flow = await services.flows.get(execution.namespace, execution.flow_id, execution.revision)
    return with_secret_inputs_masked(body, flow)


async def _form_inputs(
    request: web.Request,
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    inputs: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    content_type = request.content_type
    if content_type == "application/json":
        body = await read_json(request) if request.can_read_body else {}
        if not isinstance(body, dict):
            raise ApiError(400, "a JSON body is an object of inputs")
        return body, files
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await read_form(request)
        for key in set(form.keys()):
            values = form.getall(key)
            texts = []
            for value in values:
                if isinstance(value, web.FileField):
                    files[key] = (value.filename or key, value.file.read())
                elif isinstance(value, str):
                    texts.append(value)
            if texts:
                inputs[key] = texts[0] if len(texts) == 1 else texts
        return inputs, files
    if request.can_read_body and (await request.content.read(1)):
        raise ApiError(
            415, "send inputs as multipart/form-data, x-www-form-urlencoded or a JSON object"
        )
    return inputs, files


async def _header_or_404(services: Services, request: web.Request) -> ExecutionChanged:
    execution = await services.store.get_execution(request.match_info["execution_id"])
    if execution is None:
        raise ApiError(404, f"execution {request.match_info['execution_id']} not found")
    return execution


async def _until_projected(
    services: Services, execution_id: str, seconds: float = 10.0
) -> dict[str, Any] | None:
    """The stored execution once the projection shows it ended (the bus says so first)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        execution = await services.store.get_execution(execution_id)
        if (execution is not None and execution.state.is_terminal) or loop.time() > deadline:
            return await load_execution(services, execution_id)
        await asyncio.sleep(0.05)


async def create_execution(services: Services, request: web.Request) -> web.StreamResponse:
    namespace, flow_id = request.match_info["namespace"], request.match_info["flow_id"]
    labels = parse_labels(request.query.getall("labels", []))
    wait = query_bool(request, "wait")
    revision = query_int(request, "revision", None, minimum=1)
    inputs, files = await _form_inputs(request)
    try:
        accepted = await services.intake.execute(
            namespace, flow_id, inputs=inputs, labels=labels, files=files, revision=revision
        )
    except FlowNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except InputError as exc:
        raise ApiError(422, str(exc), inputs=exc.errors) from None
    except ChecksBlocked as exc:  # Kestra's IllegalArgumentException: 422
        raise ApiError(422, f"Illegal argument: {exc}") from None
    if wait and services.watcher is not None:
        ended = await services.watcher.wait(accepted.execution_id, WAIT_SECONDS)
        if ended is not None:
            found = await _until_projected(services, accepted.execution_id)
            if found is not None:
                return json_response(found)
    return json_response(requested_json(accepted))


async def get_execution(services: Services, request: web.Request) -> web.StreamResponse:
    found = await load_execution(services, request.match_info["execution_id"])
    if found is None:
        # accepted here a moment ago, not projected yet: the execution as requested
        accepted = services.intake.accepted(request.match_info["execution_id"])
        if accepted is None:
            raise ApiError(404, f"execution {request.match_info['execution_id']} not found")
        # SECRET inputs masked here too (`_shown` reads the flow revision it names)
        found = await _shown(services, accepted, requested_json(accepted))
    return json_response(found)


async def search_executions(services: Services, request: web.Request) -> web.StreamResponse:
    limit, offset = page_args(request)
    query, can_match = execution_query(
        request, services.intake.clock.now(), limit=limit, offset=offset
    )
    if not can_match:
        return json_response({"results": [], "total": 0})
    found, total = await services.store.search_executions(query)
    results = [await _shown(services, e, execution_json(e)) for e in found]
    return json_response({"results": results, "total": total})


async def kill_execution(services: Services, request: web.Request) -> web.StreamResponse:
    execution = await _header_or_404(services, request)
    if execution.state.is_terminal:
        raise ApiError(409, f"execution {execution.execution_id} is {execution.state} already")
    await services.intake.kill(execution.execution_id, execution.namespace, execution.flow_id)
    return web.Response(status=202)


async def resume_execution(services: Services, request: web.Request) -> web.StreamResponse:
    """Resume a PAUSED execution; form fields or a JSON object give the paused Pause's
    `onResume` inputs, validated as a flow's inputs are (422 with each reason)."""
    execution = await _header_or_404(services, request)
    if execution.state is not State.PAUSED:
        raise ApiError(409, f"execution {execution.execution_id} is {execution.state}, not PAUSED")
    inputs, files = await _form_inputs(request)
    if files:
        raise ApiError(422, "files cannot be given on resume (no FILE onResume inputs)")
    flow = await services.flows.get(execution.namespace, execution.flow_id, execution.revision)
    declared: list[Any] = []
    for run in await services.store.task_runs(execution.execution_id):
        paused = flow is not None and run.state is State.PAUSED
        task = flow.find_task(run.task_id) if flow is not None and paused else None
        declared.extend(getattr(task, "onResume", None) or [])
    try:
        await services.intake.resume(
            execution.execution_id, execution.namespace, execution.flow_id,
            flow=flow, declared=declared, inputs=inputs,
        )  # fmt: skip
    except InputError as exc:
        raise ApiError(422, str(exc), inputs=exc.errors) from None
    return web.Response(status=204)


async def restart_execution(services: Services, request: web.Request) -> web.StreamResponse:
    refuse_other_revision(request)
    execution = await _header_or_404(services, request)
    if execution.state not in _RESTARTABLE:
        raise ApiError(
            409, f"execution {execution.execution_id} is {execution.state}: only a "
            "failed, killed, cancelled or warning execution can be restarted",
        )  # fmt: skip
    try:
        await services.intake.restart(
            execution.execution_id, execution.namespace, execution.flow_id
        )
    except PodiumError as exc:
        raise ApiError(409, str(exc)) from None
    return json_response(await load_execution(services, execution.execution_id))


async def replay_execution(services: Services, request: web.Request) -> web.StreamResponse:
    refuse_other_revision(request)
    execution = await _header_or_404(services, request)
    if not execution.state.is_terminal:
        raise ApiError(409, f"execution {execution.execution_id} is {execution.state}: "
                       "replay it once it has ended")  # fmt: skip
    task_run_id = request.query.get("taskRunId") or None
    runs = await services.store.task_runs(execution.execution_id)
    if task_run_id is not None and not any(r.task_run_id == task_run_id for r in runs):
        raise ApiError(404, f"task run {task_run_id} is not in execution {execution.execution_id}")
    try:
        new_id = await services.intake.replay(
            execution.execution_id, execution.namespace, execution.flow_id, task_run_id
        )
        # Kestra answers with the new execution as it starts: the same plan the executor
        # makes (engine/reruns.py), so its state (RESTARTED), kept task runs and lineage
        plan = plan_replay(
            execution,
            runs,
            new_execution_id=new_id,
            from_task_run_id=task_run_id,
            now=services.intake.clock.now(),
        )
    except (PodiumError, RerunRefused) as exc:
        raise ApiError(409, str(exc)) from None
    # SECRET inputs masked, as on every read
    return json_response(
        await _shown(services, plan.header, execution_json(plan.header, plan.task_runs))
    )


async def set_execution_labels(services: Services, request: web.Request) -> web.StreamResponse:
    execution = await _header_or_404(services, request)
    labels = check_labels(await read_json(request))
    await services.intake.set_labels(
        execution.execution_id, execution.namespace, execution.flow_id, labels
    )
    answer = await load_execution(services, execution.execution_id)
    assert answer is not None
    answer["labels"] = labels_json(labels)  # what it will be once the executor applied it
    return json_response(answer)


async def follow_execution(services: Services, request: web.Request) -> web.StreamResponse:
    store = services.store
    execution_id = request.match_info["execution_id"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0  # a just-created execution may not be projected yet
    while await store.get_execution(execution_id) is None:
        if loop.time() > deadline:
            raise ApiError(404, f"execution {execution_id} not found")
        await asyncio.sleep(0.1)
    seen: list[Any] = [None]

    async def poll(events: EventStream) -> bool:
        execution = await store.get_execution(execution_id)
        if execution is None:
            return True
        runs = await store.task_runs(execution_id)
        signature = (
            execution.seq,
            execution.state,
            tuple((r.task_run_id, r.seq) for r in runs),
        )
        if signature != seen[0]:
            seen[0] = signature
            history = await store.state_history(execution_id)
            await events.send(
                await _shown(services, execution, execution_json(execution, runs, history))
            )
        return execution.state.is_terminal

    return await stream(request, poll)


def execution_routes(services: Services, api: ApiRoutes) -> None:
    bind = services.bind
    # literal segments first: /executions/search is not an execution id, and
    # /executions/{id}/restart is not the flow `restart` of namespace {id}
    api.get("/executions/search", bind(search_executions))
    api.post("/executions/{execution_id}/restart", bind(restart_execution))
    api.post("/executions/{execution_id}/replay", bind(replay_execution))
    api.post("/executions/{execution_id}/resume", bind(resume_execution))
    api.post("/executions/{execution_id}/labels", bind(set_execution_labels))
    api.delete("/executions/{execution_id}/kill", bind(kill_execution))
    api.get("/executions/{execution_id}/follow", bind(follow_execution))
    # Kestra 0.x's spelling
    api.post("/executions/trigger/{namespace}/{flow_id}", bind(create_execution))
    api.post("/executions/{namespace}/{flow_id}", bind(create_execution))
    api.get("/executions/{execution_id}", bind(get_execution))
