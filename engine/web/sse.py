"""Server-sent events: `follow` streams of executions and logs.

A stream polls the store (the projection every reader sees, whichever process projected
it) and sends what changed. It ends when the followed thing is over, when the client
goes away, or after `max_seconds`, so no stream outlives its use; a comment line every
`keepalive` seconds keeps proxies from closing an idle one. A stream that is over says so
with an `end` event before it closes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from engine.values import jsonable

__all__ = ["EventStream", "stream"]

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
MAX_SECONDS = 6 * 3600.0


class EventStream:
    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response
        self._last_write = time.monotonic()

    def __repr__(self) -> str:
        return "<EventStream>"

    async def send(
        self, data: Any, *, event: str | None = None, event_id: int | str | None = None
    ) -> None:
        """`event_id` lets a client that reconnects say where it stopped (Last-Event-ID)."""
        payload = orjson.dumps(data, default=jsonable, option=orjson.OPT_NON_STR_KEYS)
        head = f"event: {event}\n".encode() if event else b""
        if event_id is not None:
            head += f"id: {event_id}\n".encode()
        await self.response.write(head + b"data: " + payload + b"\n\n")
        self._last_write = time.monotonic()

    async def keepalive(self) -> None:
        if time.monotonic() - self._last_write >= KEEPALIVE_SECONDS:
            await self.response.write(b": keepalive\n\n")
            self._last_write = time.monotonic()


Poll = Callable[[EventStream], Awaitable[bool]]


async def stream(
    request: web.Request,
    poll: Poll,
    *,
    poll_seconds: float = POLL_SECONDS,
    max_seconds: float = MAX_SECONDS,
) -> web.StreamResponse:
    """Answer with an event stream; `poll(stream)` sends what is new and returns True
    when the stream is over."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    events = EventStream(response)
    deadline = time.monotonic() + max_seconds
    try:
        while time.monotonic() < deadline:
            if await poll(events):
                # an explicit end, or a browser's EventSource would reconnect
                await events.send({}, event="end")
                break
            await events.keepalive()
            await asyncio.sleep(poll_seconds)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away: nothing to tell it
    return response
