"""Cross-site request forgery, refused by where a request comes from.

A browser attaches what it remembers for a site (a session cookie, HTTP Basic credentials
it once typed) to requests any other page makes to it, and an HTML form can POST
text/plain, urlencoded or multipart bodies cross-site without asking. The CSRF token
covers cookie sessions; this covers everything else: a state-changing request (any
method but GET, HEAD and OPTIONS) that a browser marks as coming from another origin is
refused with 403, whatever its credentials.

- `Origin` present: it must be this server's own origin (as the client addressed it,
  engine/web/forwarded.py) or one of `http.allowed_origins`; `Origin: null` (a sandboxed
  frame, a redirect) never is.
- no `Origin`, `Sec-Fetch-Site` present: it must be `same-origin` or `none` (typed by
  the user).
- neither: not a browser (curl, an SDK, a script): allowed; credentials decide.

Webhook calls are not checked: their callers are other sites by design, and the key in
the path, which a forging page cannot know, is their credential.
"""

from __future__ import annotations

from aiohttp import web

from engine.settings import HttpSection
from engine.web.forwarded import own_origin
from engine.web.http import HTTP_SETTINGS

__all__ = ["SAFE_METHODS", "cross_site_reason"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SAME = frozenset({"same-origin", "none"})


def cross_site_reason(request: web.Request) -> str | None:
    """Why `request` must be refused as cross-site, or None."""
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("Origin")
    if origin is not None:
        settings = request.config_dict.get(HTTP_SETTINGS) or HttpSection()
        given = origin.strip().lower()
        if given == own_origin(request) or given in settings.allowed_origins:
            return None
        return (
            f"a {request.method} from origin {origin!r} is refused (cross-site request; "
            "add the origin to http.allowed_origins to allow it)"
        )
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in _SAME:
        return f"a {request.method} from a {site} page is refused (cross-site request)"
    return None
