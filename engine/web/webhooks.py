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
import ipaddress
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine.errors import InputError, PodiumError
from engine.events import new_id
from engine.flows import FlowRepository
from engine.intake import FlowNotFound
from engine.settings import WebhookSection
from engine.watcher import ExecutionWatcher
from engine.web.kestra_json import execution_json, with_secret_inputs_masked
from triggers.base import TriggerContext, trigger_scope
from triggers.models import Webhook

__all__ = ["FailedKeyLimiter", "client_address", "webhook_routes"]

log = logging.getLogger("podium.webhooks")

_NOT_FOUND = {"message": "flow or webhook key not found"}
_DUMMY_KEY = "podium-no-such-webhook-key-0000000000000000"


def _matches(given: str, key: str) -> bool:
    return hmac.compare_digest(given.encode(), key.encode())


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # monotonic seconds when `tokens` was right


class FailedKeyLimiter:
    """A token bucket of failed webhook calls per client address.

    A client starts with `burst` tokens; each failed call takes one and they come back at
    `per_minute` a minute. While a client has less than one it is refused. Failures that
    were in flight together are all charged, even below zero: a client that sent 500
    wrong keys at once waits for 500 to come back, so concurrency does not buy guesses.

    Only clients that failed are remembered, in a table of at most `max_clients`; the one
    seen least recently is forgotten first, and a client whose bucket is full again is
    dropped. `per_minute=0` turns the limit off. `monotonic` is the clock (tests pass
    their own).
    """

    def __init__(
        self,
        *,
        per_minute: int,
        burst: int,
        max_clients: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 0 or burst < 1 or max_clients < 1:
            raise ValueError("per_minute >= 0, burst >= 1 and max_clients >= 1")
        self.per_minute = per_minute
        self.burst = burst
        self.max_clients = max_clients
        self._rate = per_minute / 60  # tokens a second
        self._monotonic = monotonic
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @classmethod
    def from_settings(
        cls, section: WebhookSection, *, monotonic: Callable[[], float] = time.monotonic
    ) -> FailedKeyLimiter:
        return cls(
            per_minute=section.failed_keys_per_minute,
            burst=section.failed_keys_burst,
            max_clients=section.failed_keys_clients,
            monotonic=monotonic,
        )

    def __repr__(self) -> str:
        return (
            f"<FailedKeyLimiter {self.per_minute}/min burst={self.burst} "
            f"clients={len(self._buckets)}/{self.max_clients}>"
        )

    def __len__(self) -> int:
        return len(self._buckets)

    def __contains__(self, client: object) -> bool:
        return client in self._buckets

    @property
    def is_enabled(self) -> bool:
        return self._rate > 0

    def retry_after(self, client: str) -> float:
        """0 when `client` may call now, else the seconds until it may."""
        bucket = self._refill(client)
        if bucket is None or bucket.tokens >= 1:
            return 0.0
        self._buckets.move_to_end(client)  # still active: forget others first
        return (1 - bucket.tokens) / self._rate

    def charge(self, client: str) -> None:
        """`client` made a call that failed (a wrong key or an unknown flow)."""
        if not self.is_enabled:
            return
        bucket = self._refill(client)
        if bucket is None:
            while len(self._buckets) >= self.max_clients:
                self._buckets.popitem(last=False)
            bucket = self._buckets[client] = _Bucket(self.burst, self._monotonic())
        else:
            self._buckets.move_to_end(client)
        bucket.tokens -= 1
        if bucket.tokens < 1 <= bucket.tokens + 1:
            log.warning(
                "webhook calls from %s refused for %.1f s: too many wrong keys",
                client,
                (1 - bucket.tokens) / self._rate,
            )

    def _refill(self, client: str) -> _Bucket | None:
        bucket = self._buckets.get(client)
        if bucket is None:
            return None
        now = self._monotonic()
        bucket.tokens += (now - bucket.at) * self._rate
        bucket.at = now
        if bucket.tokens >= self.burst:
            del self._buckets[client]  # as good as new: no need to remember it
            return None
        return bucket


def client_address(request: web.Request) -> str:
    """Whom to charge for a failed call: the peer address, never X-Forwarded-For (any
    caller can write that). An IPv6 client is its /64, the block one host usually gets."""
    remote = request.remote or ""
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote  # a Unix socket: every caller shares one allowance
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _too_many(message: str, seconds: float) -> web.Response:
    return web.json_response(
        {"message": message},
        status=429,
        headers={"Retry-After": str(max(1, math.ceil(seconds)))},
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

    async def read_body(request: web.Request) -> bytes | None:
        if request.content_length is not None and request.content_length > max_body_bytes:
            return None
        # `read(n)` returns what is buffered, up to n: a chunked body arrives in pieces
        chunks, size = [], 0
        while size <= max_body_bytes:
            chunk = await request.content.read(max_body_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_body_bytes:
            return None  # the rest is not read: the connection closes with the 413
        return b"".join(chunks)

    async def handle(request: web.Request) -> web.StreamResponse:
        client = client_address(request)
        wait = failed_keys.retry_after(client)
        if wait:
            return _too_many("too many wrong webhook keys from this address; retry later", wait)
        if in_flight.locked():
            return _too_many("too many webhook calls at once; retry", 1)
        async with in_flight:
            info = request.match_info
            flow = await flows.get(info["namespace"], info["flowId"])
            hook = find(flow, info["key"])
            if hook is None or flow is None:
                failed_keys.charge(client)
                return web.json_response(_NOT_FOUND, status=404)
            body = await read_body(request)
            if body is None:
                return web.json_response(
                    {"message": f"body over {max_body_bytes} bytes"}, status=413
                )
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
    text = body.decode("utf-8", errors="replace")
    if content_type == "application/json" or text.lstrip()[:1] in ("{", "["):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        if isinstance(parsed, dict | list):
            return parsed
    return text
