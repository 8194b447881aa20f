"""Webhook triggers: `GET|POST|PUT /api/v1/executions/webhook/{namespace}/{flowId}/{key}`.

What a caller can learn is kept to the minimum: a wrong key, an unknown flow and a
disabled flow or trigger (in the YAML or through the API) all answer the same 404, after the same work (the key is
compared in constant time against every webhook key of the flow, or a dummy one).
Bodies over `webhook.max_body_bytes` get 413 from their Content-Length, before anything
is read; chunked bodies are read up to the limit and no further. Past `max_in_flight`
requests at once the server answers 429 instead of queueing without bound; a request it
answered 200 was published durably first.

Key guessing is slowed per client address (`FailedKeyLimiter`): each of those 404s costs
the caller a token, and a caller with none left gets 429 and `Retry-After` before its key
is looked at, even if the key is right: a different answer for the right key would tell a
guesser it found it.

`trigger.body` is the parsed JSON (object or array), else the raw text; `trigger.headers`
and `trigger.parameters` are maps of lists, as in Kestra. An `Idempotency-Key` header makes
a retried call start one execution, not two.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from engine.checks import ChecksBlocked
from engine.errors import InputError, PodiumError
from engine.events import new_id
from engine.flows import FlowRepository
from engine.intake import FlowNotFound
from engine.json_limits import TooDeep, loads
from engine.settings import WebhookSection
from engine.watcher import ExecutionWatcher
from engine.web.http import ApiError, read_bytes
from engine.web.kestra_json import execution_json, with_secret_inputs_masked
from engine.web.limits import FailureLimiter, client_address, too_many
from triggers.base import TriggerContext, trigger_scope
from triggers.models import Webhook

__all__ = ["FailedKeyLimiter", "client_address", "webhook_routes"]

log = logging.getLogger("podium.webhooks")

_NOT_FOUND = {"message": "flow or webhook key not found"}
_DUMMY_KEY = "podium-no-such-webhook-key-0000000000000000"


def _matches(given: str, key: str) -> bool:
    return hmac.compare_digest(given.encode(), key.encode())


class FailedKeyLimiter(FailureLimiter):
    """Failed webhook calls (wrong key, unknown flow) per client address."""

    @classmethod
    def from_settings(
        cls, section: WebhookSection, *, monotonic: Callable[[], float] = time.monotonic
    ) -> FailedKeyLimiter:
        return cls(
            per_minute=section.failed_keys_per_minute,
            burst=section.failed_keys_burst,
            max_clients=section.failed_keys_clients,
            monotonic=monotonic,
            what="webhook calls",
        )


def webhook_routes(
    flows: FlowRepository,
    ctx: TriggerContext,
    watcher: ExecutionWatcher,
    *,
    max_body_bytes: int,
    max_in_flight: int,
    wait_seconds: float = 60.0,
    is_disabled: Callable[[str], bool] = lambda scope: False,
    failed_keys: FailedKeyLimiter,
) -> list[web.RouteDef]:
    """`is_disabled(scope)` says whether a trigger was disabled through the API;
    `failed_keys` limits wrong keys per client."""
    in_flight = asyncio.Semaphore(max_in_flight)

    def find(flow: Any, given: str) -> Webhook | None:
        found = None
        hooks: list[Webhook | None] = (
            [t for t in flow.triggers if isinstance(t, Webhook)] if flow is not None else []
        )
        for hook in hooks or [None]:
            key = _DUMMY_KEY if hook is None else hook.key
            if "{{" in key and flow is not None:
                # Kestra renders the key with the flow's context (`{{ flow.id }}`).
                key = ctx.renderer.render(key, _key_context(flow, ctx.envs))
            # every candidate is compared, so the time does not tell which one matched
            if _matches(given, key) and hook is not None and found is None:
                found = hook
        if found is None or found.disabled or flow is None or flow.disabled:
            return None
        if is_disabled(trigger_scope(flow, found)):
            return None
        return found

    async def handle(request: web.Request) -> web.StreamResponse:
        client = client_address(request)
        wait = failed_keys.retry_after(client)
        if wait:
            return too_many("too many wrong webhook keys from this address; retry later", wait)
        if in_flight.locked():
            return too_many("too many webhook calls at once; retry", 1)
        async with in_flight:
            info = request.match_info
            flow = await flows.get(info["namespace"], info["flowId"])
            hook = find(flow, info["key"])
            if hook is None or flow is None:
                failed_keys.charge(client)
                return web.json_response(_NOT_FOUND, status=404)
            body = await read_body(request)
            variables = {
                "body": _parse(body, request.content_type) if body else None,
                "headers": {k: request.headers.getall(k) for k in set(request.headers)},
                "parameters": {k: request.query.getall(k) for k in set(request.query)},
            }
            if hook.conditions and not _accepted(hook, flow, variables, ctx):
                return web.Response(status=204)  # Kestra: conditions said no, no execution
            idempotency = request.headers.get("Idempotency-Key")
            item = f"idempotency:{idempotency}" if idempotency else f"call:{new_id()}"
            try:
                fired = await ctx.fire(
                    flow, hook, variables=variables, item=item, check_inputs=True
                )
            except InputError as exc:
                return web.json_response({"message": str(exc), "inputs": exc.errors}, status=422)
            except ChecksBlocked as exc:  # a flow `checks` entry blocks it, as the API says
                return web.json_response({"message": f"Illegal argument: {exc}"}, status=422)
            except FlowNotFound:  # deleted since: the key was right, this is no guess
                return web.json_response(_NOT_FOUND, status=404)
            except PodiumError as exc:
                return web.json_response({"message": str(exc)}, status=503)
            answer: dict[str, Any] = {
                "id": fired.execution_id,
                "namespace": fired.namespace,
                "flowId": fired.flow_id,
                "state": {"current": "CREATED"},
            }
            if hook.wait or request.query.get("wait") == "true":
                ended = await watcher.wait(fired.execution_id, wait_seconds)
                if ended is not None:
                    # Kestra answers with the whole execution (its outputs included).
                    store = watcher.store
                    runs = await store.task_runs(ended.execution_id)
                    history = await store.state_history(ended.execution_id)
                    shown = execution_json(ended, runs, history)
                    answer = with_secret_inputs_masked(shown, flow)
            return web.json_response(answer)

    async def read_body(request: web.Request) -> bytes:
        try:
            return await read_bytes(request, max_body_bytes)
        except ApiError as exc:
            if exc.status == 413:  # the setting that sets it is webhook's, not http's
                exc.message = f"body over {max_body_bytes} bytes (webhook.max_body_bytes)"
            raise

    routes = []
    for prefix in ("/api/v1", "/api/v1/main"):
        path = prefix + "/executions/webhook/{namespace}/{flowId}/{key}"
        routes += [
            web.get(path, handle, allow_head=False),
            web.post(path, handle),
            web.put(path, handle),
        ]
    return routes


def _key_context(flow: Any, envs: Any) -> dict[str, Any]:
    return {
        "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
        "envs": dict(envs),
    }


def _accepted(hook: Webhook, flow: Any, variables: dict[str, Any], ctx: Any) -> bool:
    """The trigger's `conditions`, evaluated on the call (`trigger.body`…) as Kestra does."""
    facts = {**_key_context(flow, ctx.envs), "trigger": variables}
    try:
        return all(condition.test(facts, ctx.renderer) for condition in hook.conditions)
    except PodiumError:
        return False  # a condition that cannot be decided does not start an execution


def _parse(body: bytes, content_type: str) -> Any:
    """The parsed JSON, else the text; JSON nested too deep is a 400, not text (it was
    meant as JSON, and a flow would otherwise see a different body than it was sent)."""
    text = body.decode("utf-8", errors="replace")
    if content_type == "application/json" or text.lstrip()[:1] in ("{", "["):
        try:
            parsed = loads(text)
        except TooDeep as exc:
            raise ApiError(400, f"the body is not usable JSON: {exc}") from None
        except ValueError:
            return text
        if isinstance(parsed, dict | list):
            return parsed
    return text
