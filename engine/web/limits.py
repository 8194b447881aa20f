"""Limits on failures per client: password and webhook-key guessing.

`FailureLimiter` is a token bucket per key (a client address, a user name); only keys
that failed are remembered, in a bounded table. `client_address` says whom to charge.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from engine.web.forwarded import client_ip

__all__ = ["FailureLimiter", "client_address", "too_many"]

log = logging.getLogger("podium.limits")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # monotonic seconds when `tokens` was right


class FailureLimiter:
    """A token bucket of failed calls per key (a client address, a user name).

    A key starts with `burst` tokens; each failed call takes one and they come back at
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
        what: str = "calls",
    ) -> None:
        if per_minute < 0 or burst < 1 or max_clients < 1:
            raise ValueError("per_minute >= 0, burst >= 1 and max_clients >= 1")
        self.per_minute = per_minute
        self.burst = burst
        self.max_clients = max_clients
        self._rate = per_minute / 60  # tokens a second
        self._monotonic = monotonic
        self._what = what
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.per_minute}/min burst={self.burst} "
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
        """`client` made a call that failed (a wrong key, a wrong password)."""
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
                "%s from %s refused for %.1f s: too many failures",
                self._what,
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
    """Whom to charge for a failed call: the peer address, or the client a trusted proxy
    names (`http.trusted_proxies`; from anyone else X-Forwarded-For is ignored: any caller
    can write it). An IPv6 client is its /64, the block one host usually gets."""
    remote = client_ip(request)
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote  # a Unix socket: every caller shares one allowance
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def too_many(message: str, seconds: float) -> web.Response:
    return web.json_response(
        {"message": message},
        status=429,
        headers={"Retry-After": str(max(1, math.ceil(seconds)))},
    )
