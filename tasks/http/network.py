"""Which addresses the HTTP tasks may connect to: a guard against server-side request
forgery (a flow, or a webhook body rendered into a `uri`, reaching the cloud metadata
service, the database next door or Podium's own API).

By default only globally routable addresses are allowed: loopback, private (RFC 1918,
fc00::/7), link-local (169.254.0.0/16 — the metadata service — and fe80::/10),
carrier-grade NAT, unspecified, multicast and reserved addresses are refused, as are the
same addresses written in any IPv6 form that carries an IPv4 address (IPv4-mapped
`::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`,
6to4 `2002::/16`, Teredo `2001::/32`: the embedded IPv4 address is what is checked), and
the deprecated site-local `fec0::/10`. The check runs on the addresses the
connection is actually made to, after DNS resolution and for every redirect, so a
hostname that resolves to 127.0.0.1 or a redirect to http://169.254.169.254/ are refused
too; legacy numeric forms (`2130706433`, `0x7f000001`, `127.1`) never reach a socket.

`PODIUM_HTTP_ALLOWED_NETWORKS` (comma-separated networks, e.g. `127.0.0.0/8,10.1.0.0/16`,
or `*` for any address) allows more. It is read from the environment when a task runs.
With a proxy, the proxy's address is what is checked. The aiohttp connector that applies
the policy is in `connector.py`, imported when a task opens a session.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ALLOWED_NETWORKS_ENV", "NetworkPolicy"]

ALLOWED_NETWORKS_ENV = "PODIUM_HTTP_ALLOWED_NETWORKS"
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class NetworkPolicy:
    allowed: tuple[_Network, ...] = ()
    allow_all: bool = False

    def __repr__(self) -> str:
        shown = "*" if self.allow_all else ",".join(map(str, self.allowed)) or "global only"
        return f"<NetworkPolicy {shown}>"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> NetworkPolicy:
        text = (os.environ if environ is None else environ).get(ALLOWED_NETWORKS_ENV, "")
        items = [item.strip() for item in text.split(",") if item.strip()]
        if "*" in items:
            return cls(allow_all=True)
        networks = []
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(
                    f"{ALLOWED_NETWORKS_ENV}: {item!r} is not a network (use CIDR notation)"
                ) from None
        return cls(tuple(networks))

    def refusal(self, host: str) -> str | None:
        """Why connecting to the IP address `host` is refused, or None if it is allowed."""
        if self.allow_all:
            return None
        try:
            address: _Address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return f"{host!r} is not an IP address"
        if any(address in network for network in self.allowed):
            return None
        # An IPv6 form of an IPv4 address reaches that address: each one must be allowed.
        refused = [a for a in _embedded_ipv4(address) or [address] if not self._allows(a)]
        if not refused:
            return None
        shown = str(address) if refused[0] == address else f"{address} (that is {refused[0]})"
        return f"{shown} is a {_kind(refused[0])} address"

    def _allows(self, address: _Address) -> bool:
        if any(address in network for network in self.allowed):
            return True
        return address.is_global and not address.is_multicast and not _is_site_local(address)


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(address: _Address) -> list[_Address]:
    """The IPv4 addresses an IPv6 address stands for (it reaches them), or []."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: or ::1 (checked as is)
        return [low32]
    if any(address in network for network in _NAT64):
        return [low32]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # (server, client)
    return []


def _is_site_local(address: _Address) -> bool:
    return isinstance(address, ipaddress.IPv6Address) and address.is_site_local


def _kind(address: _Address) -> str:
    if _is_site_local(address):
        return "site-local"
    for kind in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"
