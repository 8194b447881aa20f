"""`GuardedConnector`: aiohttp's TCP connector, refusing what the `NetworkPolicy`
(network.py) refuses, on every address a host name resolves to.

Apart from network.py because it subclasses aiohttp's classes, which cost a quarter of a
second to import: only a process whose tasks open an HTTP session pays it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from tasks.http.network import ALLOWED_NETWORKS_ENV, NetworkPolicy

__all__ = ["ForbiddenAddress", "GuardedConnector"]


class ForbiddenAddress(aiohttp.ClientConnectionError):
    """The target resolved to an address the network policy refuses."""


class GuardedConnector(aiohttp.TCPConnector):
    """A TCPConnector that refuses to connect where the policy says no."""

    def __init__(self, policy: NetworkPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Any] | None = None
    ) -> list[Any]:
        results = await super()._resolve_host(host, port, traces=traces)
        for result in results:
            why = self.policy.refusal(str(result["host"]))
            if why is not None:  # one bad answer refuses all: no DNS-rebinding mix
                raise ForbiddenAddress(
                    f"refused to connect to {host}: {why}; private, loopback and "
                    f"link-local targets must be allowed with {ALLOWED_NETWORKS_ENV}"
                )
        return results
