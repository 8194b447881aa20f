"""Who may call the API: HTTP Basic auth for clients, a session cookie for the UI.

Deny by default. A request goes through without credentials only when BOTH its
normalised path is on the public allow-list AND the route aiohttp matched is a public
one, so no spelling of a path (`//api/v1/...`, `%2F`, `;x`, `/ui/../api`, a trailing
slash, HEAD or OPTIONS) can reach a protected handler unauthenticated: whatever the
router makes of it, the decision is taken on what the path means.

Passwords are stored as `scrypt$n$r$p$salt$hash`. A check always runs scrypt once, for
an unknown user against a dummy hash, so the answer and the time are the same as for a
wrong password; digests are compared in constant time. Verifying scrypt on every call of
a polling client is costly, so a successful Basic header is remembered (keyed by its
SHA-256, bounded, for a few minutes); failures never are.

Sessions (the UI): `POST /api/v1/auth/login` sets `podium_session` (HttpOnly,
SameSite=Strict) and `podium_csrf` (readable by scripts). A request authenticated by the
cookie with a method other than GET/HEAD/OPTIONS must send `X-CSRF-Token` equal to both
the cookie and the session's token. Sessions live in this process's memory (bounded).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
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

__all__ = [
    "Authenticator",
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
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
USER = web.RequestKey("podium_user", str)
SESSION = web.RequestKey("podium_session", str)

_SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}
_MAX_PASSWORD = 1024
_CACHE_SECONDS = 300.0
_CACHE_SIZE = 1024
_MAX_SESSIONS = 10_000

# What may be reached without credentials, on the normalised path...
_PUBLIC_PATHS = frozenset(
    {"/", "/health", "/health/ready", "/metrics", "/api/v1/auth/login", "/api/v1/main/auth/login"}
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


class Authenticator:
    """Users and sessions. `users` maps a user name to its password hash."""

    def __init__(self, users: Mapping[str, str], *, session_seconds: float = 12 * 3600) -> None:
        self._users = dict(users)
        self._dummy = hash_password(secrets.token_hex(16))
        self._verified: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self.session_seconds = session_seconds

    def __repr__(self) -> str:
        return f"<Authenticator users={len(self._users)} sessions={len(self._sessions)}>"

    async def check(self, username: str, password: str) -> bool:
        """Whether the user exists and the password is theirs; the same work either way."""
        encoded = self._users.get(username)
        matched = await asyncio.to_thread(
            verify_password, password, encoded if encoded is not None else self._dummy
        )
        return matched and encoded is not None

    async def check_basic(self, header: str) -> str | None:
        """The user a `Basic ...` Authorization header proves, or None."""
        key = hashlib.sha256(header.encode(errors="replace")).digest()
        now = time.monotonic()
        known = self._verified.get(key)
        if known is not None and known[1] > now:
            return known[0]
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
        if not await self.check(username, password):
            return None
        self._verified[key] = (username, now + _CACHE_SECONDS)
        while len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return username

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


def _unauthorized(request: web.Request, message: str = "authentication required") -> web.Response:
    headers = {}
    # Browsers would pop up their own login box on a script's 401 with this header.
    is_script = "X-Requested-With" in request.headers
    is_stream = "text/event-stream" in request.headers.get("Accept", "")  # EventSource
    if not (is_script or is_stream):
        headers["WWW-Authenticate"] = 'Basic realm="Podium", charset="UTF-8"'
    return web.json_response({"message": message}, status=401, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(auth: Authenticator | None) -> Any:
    """Authenticate every request that is not public; None turns authentication off."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if auth is None or _is_public_request(request):
            return await handler(request)
        header = request.headers.get("Authorization")
        if header is not None:
            user = await auth.check_basic(header)
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
                return web.json_response(
                    {"message": f"missing or wrong {CSRF_HEADER} header"}, status=403
                )
        request[USER] = session.username
        request[SESSION] = token
        return await handler(request)

    return middleware


def auth_routes(auth: Authenticator | None) -> list[tuple[str, str, Handler]]:
    """(method, path under /api/v1, handler) for login, logout and me."""

    async def login(request: web.Request) -> web.StreamResponse:
        if auth is None:
            return web.json_response({"message": "authentication is off"}, status=404)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("username"), str)
            or not isinstance(body.get("password"), str)
        ):
            return web.json_response(
                {"message": 'the body is {"username": "…", "password": "…"}'}, status=400
            )
        if len(body["password"]) > _MAX_PASSWORD or not await auth.check(
            body["username"], body["password"]
        ):
            return web.json_response({"message": "wrong user name or password"}, status=401)
        token, session = auth.open_session(body["username"])
        response = web.json_response({"username": session.username})
        age = int(auth.session_seconds)
        secure = request.secure
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

    return [
        ("POST", "/auth/login", login),
        ("POST", "/auth/logout", logout),
        ("GET", "/auth/me", me),
    ]
