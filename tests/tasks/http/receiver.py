"""A local HTTP server for the HTTP and notification tests: records what it receives.

It listens on 127.0.0.1 on a port the OS picks, answers from a table of routes and
keeps every request (method, path, headers, body) so tests check what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    base: str
    received: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@contextlib.asynccontextmanager
async def serve(routes: dict[str, Handler]) -> AsyncIterator[Receiver]:
    """Serve `routes` (path → handler, any method); every request is recorded first."""
    receiver = Receiver(base="")

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read() if not request.content_type.startswith("multipart/") else b""
        receiver.received.append(
            Received(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        return await handler(request)

    app = web.Application(middlewares=[record], client_max_size=64 * 1024 * 1024)
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.base = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


def ok(text: str = "ok") -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(text=text)

    return handle
