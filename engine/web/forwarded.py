"""What a request says about its client when it came through a proxy Podium trusts.

Behind a TLS-terminating proxy the peer is the proxy and the scheme is `http`; the proxy
tells the truth in X-Forwarded-Proto, -Host and -For. Anyone can write those headers, so
they are believed only when the peer is one of `http.trusted_proxies`; otherwise the
request is taken as it arrived.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from engine.settings import HttpSection
from engine.web.http import HTTP_SETTINGS

__all__ = ["client_ip", "is_secure", "own_origin"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def _networks(proxies: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _settings(request: web.Request) -> HttpSection:
    return request.config_dict.get(HTTP_SETTINGS) or HttpSection()


def _is_trusted(address: str, networks: tuple[_Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def _via_trusted_proxy(request: web.Request) -> tuple[_Network, ...] | None:
    networks = _networks(tuple(_settings(request).trusted_proxies))
    if networks and _is_trusted(request.remote or "", networks):
        return networks
    return None


def _first(header: str | None) -> str | None:
    """The value the proxy nearest to us wrote (the last of a comma-separated list)."""
    if not header:
        return None
    return header.split(",")[-1].strip() or None


def client_ip(request: web.Request) -> str:
    """The client's address: the peer, or, from a trusted proxy, the last address in
    X-Forwarded-For that is not itself a trusted proxy."""
    remote = request.remote or ""
    networks = _via_trusted_proxy(request)
    if networks is None:
        return remote
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _is_trusted(hop, networks):
            return hop
    return remote


def is_secure(request: web.Request) -> bool:
    """Whether the client reached us over TLS (itself, or to a trusted proxy)."""
    if request.secure:
        return True
    if _via_trusted_proxy(request) is None:
        return False
    return (_first(request.headers.get("X-Forwarded-Proto")) or "").lower() == "https"


def own_origin(request: web.Request) -> str:
    """`scheme://host[:port]` as the client addressed this server."""
    host = request.headers.get("Host", "")
    if _via_trusted_proxy(request) is not None:
        host = _first(request.headers.get("X-Forwarded-Host")) or host
    scheme = "https" if is_secure(request) else "http"
    return f"{scheme}://{host}".lower()
