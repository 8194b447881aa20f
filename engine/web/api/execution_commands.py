"""Commands on one execution that Kestra's UI and scripts use besides kill, resume,
restart, replay and labels (executions.py): delete, change-status, unqueue, force-run,
a task run's state, and evaluating an expression against an ended task run (the "debug expression" box).

As every command, they go onto the requests topic through `Intake` (a deletion onto the
events topic, engine/deletion.py): the answer is the execution as it will be once its
executor has acted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.debug_expression import eval_context, evaluate
from engine.events import ExecutionChanged
from engine.reruns import MARKABLE, RerunRefused, plan_mark
from engine.states import State
from engine.web.api import Services
from engine.web.api.bulk import delete_now, deletion_of, terminal_state, unqueue_state
from engine.web.api.executions import load_execution
from engine.web.http import ApiError, ApiRoutes, json_response, read_json, read_text
from engine.web.kestra_json import execution_json, with_secret_inputs_masked

__all__ = ["MAX_EXPRESSION_BYTES", "execution_command_routes"]

MAX_EXPRESSION_BYTES = 64 << 10


async def _execution(services: Services, request: web.Request) -> ExecutionChanged:
    execution_id = request.match_info["execution_id"]
    execution = await services.store.get_execution(execution_id)
    if execution is None:
        raise ApiError(404, f"execution {execution_id} not found")
    return execution


async def _as_it_will_be(services: Services, execution_id: str, **state: Any) -> Any:
    answer = await load_execution(services, execution_id)
    assert answer is not None
    if state:
        answer["state"] = {**answer["state"], **state}
    return answer


async def delete_execution(services: Services, request: web.Request) -> web.StreamResponse:
    """Kestra's DELETE /executions/{id}: any state (a running one is fenced off as it
    goes on), with its logs, metrics and files unless deleteLogs/deleteMetrics/
    deleteStorage say false. 204."""
    execution = await _execution(services, request)
    await delete_now(services, [execution], deletion_of(request))
    return web.Response(status=204)


async def change_status(services: Services, request: web.Request) -> web.StreamResponse:
    state = terminal_state(request.query.get("status"), "status")
    execution = await _execution(services, request)
    if not execution.state.is_terminal:
        raise ApiError(
            409, "You can only change the status of a terminated execution; "
            f"{execution.execution_id} is {execution.state.value}",
        )  # fmt: skip
    await services.intake.change_status(
        execution.execution_id, execution.namespace, execution.flow_id, state
    )
    return json_response(
        await _as_it_will_be(services, execution.execution_id, current=state.value)
    )


async def unqueue(services: Services, request: web.Request) -> web.StreamResponse:
    state = unqueue_state(request.query.get("state"))
    execution = await _execution(services, request)
    if execution.state.value != "QUEUED":
        raise ApiError(
            409, f"Only QUEUED execution can be unqueued; {execution.execution_id} is "
            f"{execution.state.value}",
        )  # fmt: skip
    await services.intake.unqueue(
        execution.execution_id, execution.namespace, execution.flow_id, state
    )
    return json_response(
        await _as_it_will_be(services, execution.execution_id, current=state.value)
    )


async def force_run(services: Services, request: web.Request) -> web.StreamResponse:
    execution = await _execution(services, request)
    if execution.state.is_terminal:
        raise ApiError(409, f"execution {execution.execution_id} is {execution.state.value} "
                       "already: nothing to run")  # fmt: skip
    await services.intake.force_run(execution.execution_id, execution.namespace, execution.flow_id)
    return json_response(await _as_it_will_be(services, execution.execution_id))


async def set_task_run_state(services: Services, request: web.Request) -> web.StreamResponse:
    """Kestra's "change task run state": body {"taskRunId", "state"}; the execution goes
    on from that task run (engine/reruns.py `plan_mark`)."""
    execution = await _execution(services, request)
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("taskRunId"), str):
        raise ApiError(400, 'the body is {"taskRunId": "…", "state": "SUCCESS"}')
    raw = body.get("state")
    try:
        state = State(str(raw).upper())
    except ValueError:
        state = None
    if state not in MARKABLE:
        names = ", ".join(s.value for s in MARKABLE)
        raise ApiError(400, f"a task run can be marked {names}, not {raw!r}")
    assert state is not None
    runs = await services.store.task_runs(execution.execution_id)
    if execution.state.is_terminal and not any(r.task_run_id == body["taskRunId"] for r in runs):
        raise ApiError(404, f"task run {body['taskRunId']} is not in {execution.execution_id}")
    try:
        plan, _ = plan_mark(execution, runs, body["taskRunId"], state, services.intake.clock.now())
    except RerunRefused as exc:
        raise ApiError(409, str(exc)) from None
    await services.intake.set_task_run_state(
        execution.execution_id, execution.namespace, execution.flow_id, body["taskRunId"], state
    )
    # as it will be: the plan the executor makes (SECRET inputs masked)
    flow = await services.flows.get(execution.namespace, execution.flow_id, execution.revision)
    answer = execution_json(plan.header, plan.task_runs)
    return json_response(with_secret_inputs_masked(answer, flow))


async def eval_expression(services: Services, request: web.Request) -> web.StreamResponse:
    """Kestra's eval: the body (text) rendered in the task run's context; 200 with
    {"result"} or {"error", "stackTrace"} (the error's kind and message: Podium sends no
    stack frames out)."""
    execution = await _execution(services, request)
    task_run_id = request.match_info["task_run_id"]
    expression = await read_text(request, MAX_EXPRESSION_BYTES)
    if not expression.strip():
        raise ApiError(400, "the body is the expression to evaluate (text), e.g. {{ outputs }}")
    runs = await services.store.task_runs(execution.execution_id)
    run = next((r for r in runs if r.task_run_id == task_run_id), None)
    if run is None:
        raise ApiError(404, f"task run {task_run_id} is not in execution {execution.execution_id}")
    flow = await services.flows.get(execution.namespace, execution.flow_id, execution.revision)
    if flow is None:
        raise ApiError(
            404, f"flow {execution.namespace}/{execution.flow_id} revision "
            f"{execution.revision} is gone: nothing to evaluate against",
        )  # fmt: skip
    context = eval_context(flow, execution, runs, run, envs=services.intake.envs)
    renderer = services.intake.renderer
    evaluated = await evaluate(
        expression, context, storage=services.storage, masks=renderer.secrets
    )
    if evaluated.error is not None:
        return json_response(
            {"error": evaluated.error, "stackTrace": f"TemplateError: {evaluated.error}"}
        )
    return json_response({"result": evaluated.result})


def execution_command_routes(services: Services, api: ApiRoutes) -> None:
    """Before executions.py's routes (a flow's create is /executions/{namespace}/{id})."""
    bind = services.bind
    api.post("/executions/{execution_id}/change-status", bind(change_status))
    api.post("/executions/{execution_id}/unqueue", bind(unqueue))
    api.post("/executions/{execution_id}/force-run", bind(force_run))
    api.post("/executions/{execution_id}/state", bind(set_task_run_state))
    api.post("/executions/{execution_id}/eval/{task_run_id}", bind(eval_expression))
    api.delete("/executions/{execution_id}", bind(delete_execution))
