"""The web UI: static HTML, CSS and ES modules served under /ui/, no build step.

`ui_routes()` is mounted by `engine.web.create_app`. Every path under /ui/ that is not an
asset answers index.html, so the client-side router owns /ui/flows/..., /ui/executions/...
Assets live under /ui/assets/<version>/...: the version is a hash of the files, so a
browser may cache them for a year; index.html itself is always revalidated.
Read static/index.html, then static/js/app.js (the router), then one page under js/pages/.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aiohttp import web

__all__ = ["STATIC_ROOT", "ui_routes"]

STATIC_ROOT = Path(__file__).resolve().parent / "static"

_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain",
}
_TEXT = {".html", ".js", ".mjs", ".css", ".svg", ".json", ".txt"}
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'"
    ),
}


@dataclass(frozen=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


def _content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    kind = _TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if suffix in _TEXT else kind


def _load(root: Path) -> dict[str, _Asset]:
    """Every regular file under root, keyed by its POSIX path relative to root. Loaded once:
    the UI is a few hundred kilobytes, and a fixed table cannot be tricked into leaving it."""
    assets: dict[str, _Asset] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(p.startswith(".") for p in path.relative_to(root).parts):
            continue
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:16]
        key = path.relative_to(root).as_posix()
        assets[key] = _Asset(body, _content_type(path), f'"{digest}"')
    return assets


def _version(assets: dict[str, _Asset]) -> str:
    digest = hashlib.sha256()
    for key, asset in sorted(assets.items()):
        digest.update(key.encode())
        digest.update(asset.etag.encode())
    return digest.hexdigest()[:12]


def _clean(tail: str) -> str | None:
    """A safe relative key, or None for anything that tries to climb out or is hidden."""
    if "\\" in tail or "\x00" in tail:
        return None
    parts = PurePosixPath(tail).parts
    if not parts or any(p in ("..", ".") or p.startswith(".") or p == "/" for p in parts):
        return None
    return "/".join(parts)


def _respond(request: web.Request, asset: _Asset, cache: str) -> web.StreamResponse:
    headers = {"Cache-Control": cache, "ETag": asset.etag, **_SECURITY_HEADERS}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    response = web.Response(body=asset.body, headers=headers)
    response.headers["Content-Type"] = asset.content_type
    if len(asset.body) > 1024 and asset.content_type.split(";")[0] in (
        "text/javascript",
        "text/css",
        "text/html",
        "image/svg+xml",
    ):
        response.enable_compression()
    return response


def ui_routes(root: Path = STATIC_ROOT) -> list[web.RouteDef]:
    """Routes for /ui/ (and a redirect from / and /ui)."""
    assets = _load(root) if root.is_dir() else {}
    version = _version(assets)
    prefix = f"/ui/assets/{version}/"
    template = assets.get("index.html")
    if template is None:
        html = b"<!doctype html><title>Podium</title><p>The UI files are not installed.</p>"
    else:
        html = template.body.replace(b"{{ASSETS}}", prefix.encode()[:-1])
    index = _Asset(html, "text/html; charset=utf-8", f'"{hashlib.sha256(html).hexdigest()[:16]}"')

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/ui/")

    async def asset(request: web.Request) -> web.StreamResponse:
        key = _clean(request.match_info["path"])
        found = assets.get(key) if key is not None and key != "index.html" else None
        if found is None:
            raise web.HTTPNotFound(text="not found")
        # An old version's URL still gets today's file, but must not be cached forever.
        fresh = request.match_info["version"] == version
        return _respond(request, found, _IMMUTABLE if fresh else _REVALIDATE)

    async def page(request: web.Request) -> web.StreamResponse:
        return _respond(request, index, _REVALIDATE)

    return [
        web.get("/", redirect),
        web.get("/ui", redirect),
        web.get("/ui/assets/{version}/{path:.+}", asset),
        web.get("/ui/{tail:.*}", page),
    ]
