"""Who may call the API: HTTP Basic auth for clients, a session cookie for the UI.

Deny by default. A request goes through without credentials only when BOTH its
normalised path is on the public allow-list AND the route aiohttp matched is a public
one, so no spelling of a path (`//api/v1/...`, `%2F`, `;x`, `/ui/../api`, a trailing
slash, HEAD or OPTIONS) can reach a protected handler unauthenticated: whatever the
router makes of it, the decision is taken on what the path means.

Passwords are stored as `scrypt$n$r$p$salt$hash`. A check always runs scrypt once, for
an unknown user against a dummy hash, so the answer and the time are the same as for a
wrong password; digests are compared in constant time. Verifying scrypt on every call of
a polling client is costly, so verified credentials (Basic or login) are remembered
(keyed by a SHA-256, bounded, for a few minutes); failures never are.

Guessing is bounded (`auth.failed_logins_*`): failures are counted per client address
and per user name, and past the allowance the answer is 429 with Retry-After before any
hashing, even for the right password. Hashing runs on its own few threads (never the
loop's default pool), a client has one check in flight at a time (the same credentials
sent again at once share it), and past `auth.hash_queue` waiting checks the answer is
429: a flood of logins cannot make a real user wait behind it.

Sessions (the UI): `POST /api/v1/auth/login` sets `podium_session` (HttpOnly,
SameSite=Strict, Secure when the client came over TLS, itself or to a trusted proxy)
and `podium_csrf` (readable by scripts). A request authenticated by the cookie with a
method other than GET/HEAD/OPTIONS must send `X-CSRF-Token` equal to both the cookie and
the session's token. Sessions live in this process's memory (bounded). Every
state-changing request, whatever its credentials, must also come from this server's own
origin when a browser sent it (engine/web/origin.py).

A 401 invites HTTP Basic (`WWW-Authenticate`) only for clients that are not browsers: a
browser that typed Basic credentials once would send them with every forged request
afterwards. Browsers sign in through the UI's login page (the UI's routes are public).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import hashlib
import hmac
import os
import posixpath
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from engine.settings import AuthSection
from engine.web.forwarded import is_secure
from engine.web.http import read_json
from engine.web.limits import FailureLimiter, client_address, too_many
from engine.web.origin import SAFE_METHODS, cross_site_reason

__all__ = [
    "Authenticator",
    "Throttled",
    "auth_middleware",
    "auth_routes",
    "hash_password",
    "is_public_path",
    "normalise_path",
    "verify_password",
]

SESSION_COOKIE = "podium_session"
CSRF_COOKIE = "podium_csrf"
CSRF_HEADER = "X-CSRF-Token"
USER = web.RequestKey("podium_user", str)
SESSION = web.RequestKey("podium_session", str)

_SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}
_MAX_PASSWORD = 1024
_CACHE_SECONDS = 300.0
_CACHE_SIZE = 1024
_MAX_SESSIONS = 10_000
_MAX_REMEMBERED = 10_000  # clients and user names with failures
_WEBHOOK = re.compile(r"^/api/v1(/main)?/executions/webhook/")

# What may be reached without credentials, on the normalised path...
_PUBLIC_PATHS = frozenset(
    {
        "/",
        "/health",
        "/health/ready",
        "/metrics",
        "/api/v1/auth/login",
        "/api/v1/main/auth/login",
        "/api/v1/auth/session",
        "/api/v1/main/auth/session",
    }
)
_PUBLIC_PATTERNS = (
    re.compile(r"^/ui(/.*)?$"),
    re.compile(r"^/api/v1(/main)?/executions/webhook/[^/]+/[^/]+/[^/]+$"),
)
# ... and which routes (by their canonical path) may answer it.
_PUBLIC_RESOURCES = frozenset(
    {
        "/",
        "/health",
        "/health/ready",
        "/metrics",
        "/api/v1/auth/login",
        "/api/v1/main/auth/login",
        "/api/v1/auth/session",
        "/api/v1/main/auth/session",
        "/api/v1/executions/webhook/{namespace}/{flowId}/{key}",
        "/api/v1/main/executions/webhook/{namespace}/{flowId}/{key}",
    }
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches `encoded`; False (never an error) for a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(
            password.encode()[:_MAX_PASSWORD],
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 << 20,
            dklen=len(expected),
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def normalise_path(raw: str) -> str | None:
    """What a request path means, for the allow-list: percent-decoded (repeatedly, so
    `%252F` counts as `/`), `;params` and empty segments dropped, dot segments resolved,
    backslashes as slashes, no trailing slash. None for what no client sends (NUL)."""
    path = raw
    for _ in range(4):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    if "\x00" in path:
        return None
    path = path.replace("\\", "/")
    segments = [s.split(";", 1)[0] for s in path.split("/")]
    joined = "/" + "/".join(s for s in segments if s)
    normalised = posixpath.normpath(joined)
    if normalised.startswith("//"):
        normalised = "/" + normalised.lstrip("/")
    return normalised


def is_public_path(path: str | None) -> bool:
    if path is None:
        return False
    return path in _PUBLIC_PATHS or any(p.match(path) for p in _PUBLIC_PATTERNS)


def _is_public_request(request: web.Request) -> bool:
    if not is_public_path(normalise_path(request.rel_url.raw_path)):
        return False
    resource = request.match_info.route.resource
    if resource is None:
        return True  # nothing will answer but a 404 or 405
    canonical = resource.canonical
    return canonical in _PUBLIC_RESOURCES or canonical == "/ui" or canonical.startswith("/ui/")


@dataclass
class Session:
    username: str
    csrf: str
    expires: float


class Throttled(Exception):
    """Too many failed logins, or too many checks at once: retry after `seconds`."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


class Authenticator:
    """Users and sessions. `users` maps a user name to its password hash."""

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        session_seconds: float = 12 * 3600,
        limits: AuthSection | None = None,
    ) -> None:
        limits = limits or AuthSection()
        self._users = dict(users)
        self._dummy = hash_password(secrets.token_hex(16))
        self._verified: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self.session_seconds = session_seconds
        self._by_client = FailureLimiter(
            per_minute=limits.failed_logins_per_minute, burst=limits.failed_logins_burst,
            max_clients=_MAX_REMEMBERED, what="logins",
        )  # fmt: skip
        self._by_user = FailureLimiter(
            per_minute=limits.failed_logins_per_user_per_minute,
            burst=limits.failed_logins_per_user_burst,
            max_clients=_MAX_REMEMBERED, what="logins as one user",
        )  # fmt: skip
        self._hashing = concurrent.futures.ThreadPoolExecutor(
            limits.hash_threads, thread_name_prefix="podium-scrypt"
        )
        self._queue = limits.hash_queue
        self._waiting = 0
        # client -> (key of the credentials being checked, the check)
        self._checking: dict[str, tuple[bytes, asyncio.Future[bool]]] = {}

    def __repr__(self) -> str:
        return f"<Authenticator users={len(self._users)} sessions={len(self._sessions)}>"

    def close(self) -> None:
        self._hashing.shutdown(wait=False, cancel_futures=True)

    async def check(self, username: str, password: str, client: str = "") -> bool:
        """Whether the user exists and the password is theirs; the same work either way.
        Raises Throttled when `client` or `username` failed too often, or too many checks
        wait; a verified pair is remembered for a few minutes."""
        key = hashlib.sha256(f"{username}\x00{password}".encode(errors="replace")).digest()
        now = time.monotonic()
        known = self._verified.get(key)
        wait = max(self._by_client.retry_after(client), self._by_user.retry_after(username))
        if wait:
            raise Throttled("too many failed logins; retry later", wait)
        if known is not None and known[1] > now:
            return True
        running = self._checking.get(client)
        if running is not None:
            if running[0] != key:
                raise Throttled("a login of this client is being checked; retry", 1)
            return await asyncio.shield(running[1])
        if self._waiting >= self._queue:
            raise Throttled("too many logins are being checked; retry", 1)
        check = asyncio.ensure_future(self._verify(username, password))
        self._checking[client] = (key, check)
        self._waiting += 1
        try:
            matched = await asyncio.shield(check)
        finally:
            self._waiting -= 1
            if self._checking.get(client, (b"", None))[1] is check:
                del self._checking[client]
        if not matched:
            self._by_client.charge(client)
            self._by_user.charge(username)
            return False
        self._verified[key] = (username, now + _CACHE_SECONDS)
        while len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return True

    async def _verify(self, username: str, password: str) -> bool:
        encoded = self._users.get(username)
        loop = asyncio.get_running_loop()
        matched = await loop.run_in_executor(
            self._hashing,
            verify_password,
            password,
            encoded if encoded is not None else self._dummy,
        )
        return matched and encoded is not None

    async def check_basic(self, header: str, client: str = "") -> str | None:
        """The user a `Basic ...` Authorization header proves, or None (Throttled)."""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (ValueError, binascii.Error):
            return None
        username, sep, password = decoded.partition(":")
        if not sep or len(password) > _MAX_PASSWORD:
            return None
        return username if await self.check(username, password, client) else None

    def open_session(self, username: str) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(username, secrets.token_urlsafe(32), time.time() + self.session_seconds)
        self._sessions[token] = session
        while len(self._sessions) > _MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return token, session

    def session(self, token: str) -> Session | None:
        found = self._sessions.get(token)
        if found is None:
            return None
        if found.expires < time.time():
            del self._sessions[token]
            return None
        return found

    def close_session(self, token: str) -> None:
        self._sessions.pop(token, None)


def is_browser(request: web.Request) -> bool:
    """A browser sends Sec-Fetch-* with every request (the UI's scripts also say
    X-Requested-With, an EventSource asks for text/event-stream, a page for text/html)."""
    accept = request.headers.get("Accept", "")
    return (
        "Sec-Fetch-Mode" in request.headers
        or "X-Requested-With" in request.headers
        or "text/event-stream" in accept
        or "text/html" in accept
    )


def _unauthorized(request: web.Request, message: str = "authentication required") -> web.Response:
    headers = {}
    # A browser answering the challenge would remember the credentials and send them
    # with every request any other site makes to us (cross-site request forgery).
    if not is_browser(request):
        headers["WWW-Authenticate"] = 'Basic realm="Podium", charset="UTF-8"'
    return web.json_response({"message": message}, status=401, headers=headers)


def _forbidden(message: str) -> web.Response:
    return web.json_response({"message": message}, status=403)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(auth: Authenticator | None) -> Any:
    """Authenticate every request that is not public; None turns authentication off."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _WEBHOOK.match(normalise_path(request.rel_url.raw_path) or ""):
            reason = cross_site_reason(request)
            if reason is not None:
                return _forbidden(reason)
        if auth is None or _is_public_request(request):
            return await handler(request)
        header = request.headers.get("Authorization")
        if header is not None:
            try:
                user = await auth.check_basic(header, client_address(request))
            except Throttled as exc:
                return too_many(str(exc), exc.seconds)
            if user is None:
                return _unauthorized(request, "wrong user name or password")
            request[USER] = user
            return await handler(request)
        token = request.cookies.get(SESSION_COOKIE, "")
        session = auth.session(token) if token else None
        if session is None:
            return _unauthorized(request)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            cookie = request.cookies.get(CSRF_COOKIE, "")
            if not (
                sent
                and hmac.compare_digest(sent.encode(), session.csrf.encode())
                and hmac.compare_digest(cookie.encode(), session.csrf.encode())
            ):
                return _forbidden(f"missing or wrong {CSRF_HEADER} header")
        request[USER] = session.username
        request[SESSION] = token
        return await handler(request)

    return middleware


def auth_routes(auth: Authenticator | None) -> list[tuple[str, str, Handler]]:
    """(method, path under /api/v1, handler) for login, logout, me and session."""

    async def login(request: web.Request) -> web.StreamResponse:
        if auth is None:
            return web.json_response({"message": "authentication is off"}, status=404)
        body = await read_json(request)  # not JSON, too deep, too big: a clear 4xx
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("username"), str)
            or not isinstance(body.get("password"), str)
        ):
            return web.json_response(
                {"message": 'the body is {"username": "…", "password": "…"}'}, status=400
            )
        try:
            is_right = len(body["password"]) <= _MAX_PASSWORD and await auth.check(
                body["username"], body["password"], client_address(request)
            )
        except Throttled as exc:
            return too_many(str(exc), exc.seconds)
        if not is_right:
            return web.json_response({"message": "wrong user name or password"}, status=401)
        token, session = auth.open_session(body["username"])
        response = web.json_response({"username": session.username})
        age = int(auth.session_seconds)
        secure = is_secure(request)  # behind a trusted TLS proxy too
        response.set_cookie(
            SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/", max_age=age,
            secure=secure,
        )  # fmt: skip
        response.set_cookie(
            CSRF_COOKIE, session.csrf, httponly=False, samesite="Strict", path="/", max_age=age,
            secure=secure,
        )  # fmt: skip
        return response

    async def logout(request: web.Request) -> web.StreamResponse:
        token = request.get(SESSION)
        if auth is not None and token:
            auth.close_session(token)
        response = web.Response(status=204)
        response.del_cookie(SESSION_COOKIE, path="/")
        response.del_cookie(CSRF_COOKIE, path="/")
        return response

    async def me(request: web.Request) -> web.StreamResponse:
        return web.json_response({"username": request.get(USER, "anonymous")})

    async def session_state(request: web.Request) -> web.StreamResponse:
        """Public: is this browser signed in? The UI asks before its first page, so a
        signed-out visit is a 200 and not a 401 (which the console shows as an error).
        It answers only about the caller's own cookie."""
        if auth is None:
            return web.json_response({"authEnabled": False, "username": None})
        token = request.cookies.get(SESSION_COOKIE, "")
        session = auth.session(token) if token else None
        return web.json_response(
            {"authEnabled": True, "username": session.username if session else None}
        )

    return [
        ("POST", "/auth/login", login),
        ("POST", "/auth/logout", logout),
        ("GET", "/auth/me", me),
        ("GET", "/auth/session", session_state),
    ]
