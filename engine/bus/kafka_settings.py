"""Every knob of the Kafka bus, parsed once from its URL.

`kafka://[user:password@]host:port[,host:port][?field=value&…]`: any field of
`KafkaSettings` may ride in the query string (`?partitions=12&enable_idempotence=false`);
SASL credentials may ride in the userinfo.
"""

from __future__ import annotations

import dataclasses
import ssl
from dataclasses import dataclass
from typing import Any, get_type_hints
from urllib.parse import parse_qsl, unquote, urlsplit

from aiokafka.helpers import create_ssl_context

from engine.errors import ConfigError

__all__ = ["KafkaSettings"]


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap_servers: tuple[str, ...] = ("localhost:9092",)
    client_id: str = "podium"
    partitions: int = 12
    replication_factor: int = 1
    # Brokers without InitProducerId (Tansu, some proxies) need this off.
    enable_idempotence: bool = True
    # No linger: `publish` is awaited one record at a time by the executor, so waiting
    # would cap it at 1/linger per task; under load, records still batch while the
    # previous batch of their partition is in flight.
    linger_ms: int = 0
    max_batch_size: int = 256 << 10
    # Consecutive `send`s of one key (a walk's events) travel as one Kafka record of up to
    # this many bytes, a bundle (engine/bus/kafka.py); 0 sends one record each. Readers
    # older than bundles cannot read them: 0 until every process runs this version.
    bundle_bytes: int = 64 << 10
    # Above Podium's max_record_bytes (4 MiB by default), with room for the envelope;
    # the broker's message.max.bytes must allow as much.
    max_request_size: int = 8 << 20
    # Bounds what a consumer buffers between fetches.
    fetch_max_bytes: int = 16 << 20
    # How long the broker may hold a fetch while there is nothing to return. Apache Kafka
    # answers as soon as a record arrives; a broker that holds the whole time (Tansu)
    # adds this much latency to every hop, so lower it there.
    fetch_max_wait_ms: int = 500
    max_partition_fetch_bytes: int = 1 << 20
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    rebalance_timeout_ms: int = 30_000
    # A consumer that does not call `fetch` this long leaves its group: pause, keep fetching.
    max_poll_interval_ms: int = 300_000
    # aiokafka's own deadline per request; below `call_timeout` so its error, which says
    # more, surfaces first.
    request_timeout_ms: int = 20_000
    call_timeout: float = 30.0
    subscribe_timeout: float = 60.0
    close_timeout: float = 10.0
    # Some brokers (the Tansu build the tests use) answer ListOffsets with the last
    # batch's base offset + 1, not the last record's: with this on, the bus reads that
    # batch to find the true end. Apache Kafka needs no such thing.
    exact_end_offsets: bool = False
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_plain_username: str | None = None
    sasl_plain_password: str | None = dataclasses.field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> KafkaSettings:
        """`kafka://[user:password@]host:port[,host:port][?field=value&…]`; keyword
        overrides win over the query string."""
        parts = urlsplit(url)
        if parts.scheme != "kafka":
            raise ConfigError(f"not a kafka:// URL: {url!r}")
        credentials, _, hosts = parts.netloc.rpartition("@")
        servers = tuple(h.strip() for h in hosts.split(",") if h.strip())
        if not servers:
            raise ConfigError("a kafka:// URL needs at least one host:port")
        values: dict[str, Any] = {"bootstrap_servers": servers}
        if credentials:
            user, _, password = credentials.partition(":")
            values["sasl_plain_username"] = unquote(user)
            values["sasl_plain_password"] = unquote(password)
        hints = get_type_hints(cls)
        for name, raw in parse_qsl(parts.query, keep_blank_values=True):
            if name not in hints or name == "bootstrap_servers":
                raise ConfigError(f"unknown kafka:// URL option {name!r}")
            values[name] = _convert(name, raw, hints[name])
        values.update(overrides)
        return cls(**values)

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.security_protocol.endswith("SSL"):
            return None
        return create_ssl_context(
            cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
        )

    def client_options(self) -> dict[str, Any]:
        """What the producer, the consumers and the admin client share."""
        return {
            "bootstrap_servers": list(self.bootstrap_servers),
            "client_id": self.client_id,
            "request_timeout_ms": self.request_timeout_ms,
            "security_protocol": self.security_protocol,
            "ssl_context": self.ssl_context(),
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.sasl_plain_username,
            "sasl_plain_password": self.sasl_plain_password,
        }


def _convert(name: str, raw: str, hint: Any) -> Any:
    try:
        if hint is bool:
            if raw.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"true", "1", "yes"}
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
    except ValueError:
        raise ConfigError(f"kafka:// URL option {name}={raw!r} is not a {hint.__name__}") from None
    return raw
