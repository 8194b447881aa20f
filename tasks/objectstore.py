"""What the object-store families (tasks/gcp, tasks/aws) share: their SDKs block, their
endpoints must obey the HTTP tasks' network policy, and their listings filter alike.

    blocking(fn, …, timeout)    an SDK call in a worker thread, bounded by `timeout`
                                (the thread finishes on its own: the SDKs have their own
                                socket timeouts, set by each family)
    check_endpoint(url)         the host of `url` resolved and checked against
                                PODIUM_HTTP_ALLOWED_NETWORKS (tasks/http/network.py), as
                                for the HTTP tasks; refused: TaskFailed
    split_uri(uri, scheme)      gs://bucket/key → (bucket, key), strictly
    ObjectFilter                Kestra's listingType / regExp / filter on listed keys
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from engine.errors import TaskFailed
from tasks.http.network import ALLOWED_NETWORKS_ENV, NetworkPolicy

__all__ = [
    "CALL_TIMEOUT",
    "Action",
    "ListingType",
    "ObjectFilter",
    "blocking",
    "check_endpoint",
    "split_uri",
]

T = TypeVar("T")

CALL_TIMEOUT = 300.0
"""The longest one SDK call (an upload, a listing page…) may take."""

Action = Literal["MOVE", "DELETE", "NONE"]
ListingType = Literal["DIRECTORY", "RECURSIVE"]


async def blocking(
    fn: Callable[..., T], *args: Any, timeout: float = CALL_TIMEOUT, **kwargs: Any
) -> T:
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(functools.partial(fn, *args, **kwargs)), timeout=timeout
        )
    except TimeoutError:
        name = getattr(fn, "__name__", "call")
        raise TaskFailed(f"{name} did not answer within {timeout:.0f}s") from None


def _resolve(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port)})


async def check_endpoint(url: str, *, what: str = "endpoint") -> None:
    """Refuse an endpoint the network policy does not allow (a bucket URL pointed at the
    metadata service or the database next door). Every address the name resolves to
    must be allowed. The SDK resolves again when it connects: a DNS answer that changes
    in between is not caught here (the HTTP tasks check at connect time)."""
    try:
        policy = NetworkPolicy.from_environ()
    except ValueError as exc:
        raise TaskFailed(str(exc)) from None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TaskFailed(f"{what} {url!r} is not an http(s) URL")
    if policy.allow_all:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await blocking(_resolve, parts.hostname, port, timeout=30)
    except OSError as exc:
        raise TaskFailed(f"{what} {parts.hostname}: cannot resolve ({exc})") from None
    for address in addresses:
        why = policy.refusal(address)
        if why is not None:
            raise TaskFailed(
                f"refused to connect to {parts.hostname} ({what}): {why}; private, loopback "
                f"and link-local targets must be allowed with {ALLOWED_NETWORKS_ENV}"
            )


def split_uri(uri: str, scheme: str) -> tuple[str, str]:
    """`scheme://bucket/key` → (bucket, key); the key may be empty (a bucket's root)."""
    prefix = f"{scheme}://"
    if not isinstance(uri, str) or not uri.startswith(prefix):
        raise TaskFailed(f"{uri!r} is not a {prefix} URI")
    bucket, _, key = uri[len(prefix) :].partition("/")
    if not bucket or "\x00" in uri:
        raise TaskFailed(f"{uri!r} names no bucket")
    return bucket, key


@dataclass(frozen=True)
class ObjectFilter:
    """Which listed keys a task keeps. DIRECTORY lists one level under `prefix` (keys
    with no further `/`); RECURSIVE everything under it."""

    prefix: str
    listing: ListingType = "DIRECTORY"
    pattern: re.Pattern[str] | None = None
    kind: Literal["FILES", "DIRECTORY", "BOTH"] = "BOTH"

    @classmethod
    def build(
        cls,
        prefix: str,
        listing: str | None,
        reg_exp: str | None,
        kind: str | None = None,
    ) -> ObjectFilter:
        try:
            pattern = re.compile(reg_exp) if reg_exp else None
        except re.error as exc:
            raise TaskFailed(f"regExp {reg_exp!r} is not a regular expression: {exc}") from None
        if listing not in (None, "DIRECTORY", "RECURSIVE"):
            raise TaskFailed(f"listingType must be DIRECTORY or RECURSIVE, not {listing!r}")
        if kind not in (None, "FILES", "DIRECTORY", "BOTH"):
            raise TaskFailed(f"filter must be FILES, DIRECTORY or BOTH, not {kind!r}")
        return cls(prefix, listing or "DIRECTORY", pattern, kind or "BOTH")  # type: ignore[arg-type]

    @property
    def delimiter(self) -> str | None:
        return "/" if self.listing == "DIRECTORY" else None

    def wants(self, matched: str, key: str) -> bool:
        """Whether to keep `key`; `regExp` must match all of `matched` (the URI or the key,
        as the family's Kestra plugin matches it)."""
        is_directory = key.endswith("/")
        if self.kind == "FILES" and is_directory:
            return False
        if self.kind == "DIRECTORY" and not is_directory:
            return False
        return self.pattern is None or self.pattern.fullmatch(matched) is not None


def moved_key(key: str, source_prefix: str, target_prefix: str) -> str:
    """Where MOVE puts `key`: its path under the listed prefix, under the target."""
    if source_prefix and key.startswith(source_prefix) and key != source_prefix:
        relative = key[len(source_prefix) :].lstrip("/")
    else:
        relative = key.rsplit("/", 1)[-1]
    target = (
        target_prefix if not target_prefix or target_prefix.endswith("/") else target_prefix + "/"
    )
    return target + relative
