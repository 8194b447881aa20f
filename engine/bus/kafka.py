"""The Kafka bus: the `Bus` protocol on aiokafka.

How to read this module, top to bottom:

- `KafkaSettings` (engine/bus/kafka_settings.py) — every knob, parsed once from
  `kafka://host:port[,host:port]?name=value` (SASL credentials may ride in the userinfo).
- `_kafka_call` — the one place aiokafka errors become `TransientError` (worth retrying)
  or `ConfigError` (authentication, authorization, bad settings: retrying cannot help),
  and where every broker call gets its deadline (`send`, the executor's hot path,
  translates the same errors without a deadline per record).
- `KafkaBus` — owns one producer, one admin client and one group-less consumer used only
  to look up offsets. Topics are created (partitions, replication factor) before anything
  touches them, because brokers that auto-create topics would otherwise create them with
  their own defaults.
- `KafkaSubscription` — one `AIOKafkaConsumer`. A durable one joins its consumer group
  with auto-commit off: the caller commits after its work is durable. A transient one (a
  live view) has no group, is assigned every partition, starts at the end, never commits.
  `pause()`/`resume()` stop delivery without leaving the group (keep calling `fetch`), and
  an optional `PartitionListener` hears about assignments and revocations.

Bundles: consecutive `send`s of one key queued in the outbox (a walk's events) travel as
one Kafka record, up to `bundle_bytes`: the values one after the other, and a header
`podium.bundle` giving their lengths. A subscription and `read_all` deliver the records
it carries, in order, all at the bundle's offset; records without the header (everything
`publish` writes, and every topic written before bundles) are read as they are. Offsets
(`end_offsets`, commits, `lag`) count Kafka records, so a bundle counts once; committing
one of its records but the last commits only what came before the bundle, so a group
marks a bundle done only once its consumer has had all of it.

Guarantees: records of one key land in one partition (the default murmur2 partitioner) in
publish order (acks="all", and aiokafka keeps one batch in flight per partition); delivery
is at-least-once: what was fetched but not committed is fetched again by the group's next
owner of that partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from array import array
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    ClusterAuthorizationFailedError,
    CommitFailedError,
    ConsumerStoppedError,
    GroupAuthorizationFailedError,
    IllegalStateError,
    KafkaConfigurationError,
    KafkaError,
    TopicAuthorizationFailedError,
    UnknownError,
    UnsupportedSaslMechanismError,
    UnsupportedVersionError,
    for_code,
)
from aiokafka.partitioner import murmur2

from engine.bus.base import PartitionListener, Record
from engine.bus.kafka_settings import KafkaSettings
from engine.errors import ConfigError, EventsLost, PodiumError, TransientError

__all__ = ["BundledRecord", "KafkaBus", "KafkaSettings", "KafkaSubscription", "PartitionListener"]

log = logging.getLogger("podium.bus.kafka")

_TOPIC_ALREADY_EXISTS = 36
PARTITION_CACHE_SIZE = 100_000  # keys are flows: this many is plenty
OUTBOX_RECORDS = 5_000  # records `send` queues before it waits for the drainer
# A bundle's header; its value: the lengths of the records carried, 32-bit little-endian.
BUNDLE_HEADER = "podium.bundle"
_IS_BIG_ENDIAN = sys.byteorder == "big"
_NO_HEADERS: list[tuple[str, bytes]] = []  # aiokafka's C batch builder takes a list only
# Retrying these cannot help: someone has to fix a password, an ACL or a setting.
_CONFIG_ERRORS = (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IllegalStateError,
    KafkaConfigurationError,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)


@contextlib.asynccontextmanager
async def _kafka_call(what: str, timeout: float) -> AsyncIterator[None]:
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            yield
    except TimeoutError as exc:
        if deadline.expired():
            raise TransientError(f"kafka: {what} got no answer within {timeout:g}s") from exc
        raise TransientError(f"kafka: {what} timed out: {exc!r}") from exc  # aiokafka's own
    except _CONFIG_ERRORS as exc:
        raise ConfigError(f"kafka: {what} refused: {exc!r}") from exc
    except (KafkaError, OSError) as exc:
        raise TransientError(f"kafka: {what} failed: {exc!r}") from exc


async def _quietly(what: str, closing: Awaitable[Any], settings: KafkaSettings) -> None:
    """Shut a client down within `close_timeout`; a dead broker is logged, not raised,
    so that shutting down always finishes (a client that never started may fail oddly)."""
    try:
        async with _kafka_call(what, settings.close_timeout):
            await closing
    except Exception as exc:  # shutdown goes on, whatever happened
        log.warning("%s: %s", what, exc)


class KafkaBus:
    def __init__(
        self,
        settings: KafkaSettings,
        *,
        topics: Sequence[str] = (),
        topic_retention: Mapping[str, timedelta] | None = None,
    ) -> None:
        self.settings = settings
        self._initial_topics = tuple(topics)
        # topic -> its `retention.ms` (settings `retention`: engine/retention.py)
        self.topic_configs: dict[str, dict[str, str]] = {
            topic: {"retention.ms": str(int(period.total_seconds() * 1000))}
            for topic, period in (topic_retention or {}).items()
        }
        self._state = "new"  # new → open → closed
        self._partitions: dict[str, int] = {}  # topics known to exist, and their size
        self._topic_lock = asyncio.Lock()
        self._subscriptions: set[KafkaSubscription] = set()
        self._acked: dict[tuple[str, int], int] = {}  # (topic, partition) → last acked + 1
        self._unacked: set[asyncio.Future[Any]] = set()  # sent, not yet acknowledged
        self._partition_cache: dict[tuple[str, str], int] = {}
        self._send_error: PodiumError | None = None  # the first send that failed
        # What `send` and `publish_many` queued since the drainer's last pass (see `send`).
        self._round = _Round()
        self._bundle_bytes = settings.bundle_bytes or -1  # 0: no bundles, even of b""
        self._tail: _Queued | None = None  # what the next `send` may join (see `send`)
        self._drainer: asyncio.Task[None] | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self._offsets: AIOKafkaConsumer | None = None  # group-less, for offset look-ups
        self._probe_lock = asyncio.Lock()  # the look-up consumer seeks for one caller at a time

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        topics: Sequence[str] = (),
        topic_retention: Mapping[str, timedelta] | None = None,
        **overrides: Any,
    ) -> KafkaBus:
        return cls(
            KafkaSettings.from_url(url, **overrides),
            topics=topics,
            topic_retention=topic_retention,
        )

    def __repr__(self) -> str:
        servers = ",".join(self.settings.bootstrap_servers)
        return f"<KafkaBus {servers} {self._state} topics={len(self._partitions)}>"

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError(f"a KafkaBus opens once; this one is {self._state}")
        s = self.settings
        options = s.client_options()
        try:
            async with _kafka_call("connecting", s.call_timeout):
                self._admin = AIOKafkaAdminClient(**options)
                await self._admin.start()
                self._offsets = AIOKafkaConsumer(**options, enable_auto_commit=False)
                await self._offsets.start()
                self._producer = AIOKafkaProducer(
                    **options,
                    acks="all",
                    enable_idempotence=s.enable_idempotence,
                    linger_ms=s.linger_ms,
                    max_batch_size=s.max_batch_size,
                    max_request_size=s.max_request_size,
                )
                try:
                    await self._producer.start()
                except (UnknownError, UnsupportedVersionError) as exc:
                    if not s.enable_idempotence:
                        raise
                    # The broker answered the admin client and the consumer: what failed
                    # is InitProducerId, the one request an idempotent producer adds.
                    raise ConfigError(
                        "kafka: the broker does not support idempotent producers: set "
                        "enable_idempotence=false (PODIUM_BUS=kafka://host:port"
                        "?enable_idempotence=false)"
                    ) from exc
            self._state = "open"
            for topic in self._initial_topics:
                await self._ensure(topic)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every subscription, flush the producer, disconnect. Safe to call twice;
        never raises for a broker that is gone (nothing unacknowledged was accepted)."""
        if self._state == "closed":
            return
        self._state = "closed"
        for subscription in list(self._subscriptions):
            await subscription.close()
        if self._drainer is not None:  # what `send` queued goes to the producer first
            with contextlib.suppress(Exception):
                await asyncio.shield(self._drainer)
        # The producer first: stopping it flushes what is still in its batches.
        if self._producer is not None:
            await _quietly(f"{self!r}: closing the producer", self._producer.stop(), self.settings)
        if self._offsets is not None:
            await _quietly(f"{self!r}: closing a consumer", self._offsets.stop(), self.settings)
        if self._admin is not None:
            await _quietly(
                f"{self!r}: closing the admin client", self._admin.close(), self.settings
            )
        self._producer = self._offsets = self._admin = None

    # -- topics ---------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"the bus is {self._state}")

    async def _ensure(self, topic: str) -> int:
        """Create `topic` unless it exists; return its partition count."""
        if (known := self._partitions.get(topic)) is not None:
            return known
        self._require_open()
        assert self._admin is not None
        async with self._topic_lock:
            if (known := self._partitions.get(topic)) is not None:
                return known
            s = self.settings
            async with _kafka_call(f"creating topic {topic!r}", s.call_timeout):
                configs = self.topic_configs.get(topic)
                response = await self._admin.create_topics(
                    [NewTopic(topic, s.partitions, s.replication_factor, topic_configs=configs)]
                )
                for topic_error in response.topic_errors:
                    code = topic_error[1]
                    if code not in (0, _TOPIC_ALREADY_EXISTS):
                        raise for_code(code)(f"creating topic {topic!r}")
                    if code == _TOPIC_ALREADY_EXISTS and configs:
                        await self._set_configs(topic, configs)
                # It may have existed with another size: ask rather than assume. A new
                # topic's partitions take a moment to show in the metadata of a cluster.
                while True:  # bounded by this call's deadline
                    count = await self._described_partitions(topic)
                    if count:
                        break
                    await asyncio.sleep(0.1)
            self._partitions[topic] = count
            return count

    async def _set_configs(self, topic: str, configs: Mapping[str, str]) -> None:
        """Give an existing topic `configs`. AlterConfigs replaces a topic's whole set, so
        the ones set on it before (not defaults) are read first and kept. A broker that
        refuses is logged, with what to run by hand: the bus still works."""
        assert self._admin is not None
        try:
            kept: dict[str, str] = {}
            described = await self._admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)]
            )
            for response in described:
                for resource in response.resources:
                    for entry in resource[4]:
                        name, value, is_default = entry[0], entry[1], entry[3]
                        if value is not None and not is_default and isinstance(is_default, bool):
                            kept[name] = value
            if all(kept.get(k) == v for k, v in configs.items()):
                return
            answers = await self._admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, {**kept, **configs})]
            )
            for answer in answers:
                for resource in answer.resources:
                    if resource[0]:
                        raise for_code(resource[0])(str(resource[1]))
            log.info("topic %r: set %s", topic, configs)
        except Exception as exc:
            settings = " ".join(f"{k}={v}" for k, v in configs.items())
            log.warning(
                "could not set %s on the existing topic %r (%s); run: kafka-configs.sh "
                "--alter --entity-type topics --entity-name %s --add-config %s",
                settings,
                topic,
                exc,
                topic,
                settings.replace(" ", ","),
            )

    async def _described_partitions(self, topic: str) -> int:
        assert self._admin is not None
        described = await self._admin.describe_topics([topic])
        if not described or described[0]["error_code"]:
            return 0
        return len(described[0]["partitions"])

    async def _topic_partitions(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in range(await self._ensure(topic))]

    # -- publishing -----------------------------------------------------------------

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        await self.publish_many(topic, [(key, value)])

    async def publish_many(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
        """Returns once the broker acknowledged every record (acks="all"). The records
        join the outbox (see `send`) behind what was sent before, and this call waits for
        the batches that carry its partitions: requests published together (a hundred
        webhooks at once) travel in one batch per partition, where a `producer.send` and
        a future per record cost about four times as much."""
        self._require_open()
        if not items:
            return
        await self._ensure(topic)
        async with _kafka_call(f"publishing to {topic!r}", self.settings.call_timeout):
            if self._send_error is not None:
                raise self._send_error
            waiting: set[tuple[_Round, int]] = set()
            for key, value in items:
                partition = self._partition_cache.get((topic, key))
                if partition is None:
                    partition = await self._cache_partition(topic, key)
                round_ = self._enqueue(topic, partition, key, value)
                where = (topic, partition)
                round_.published[where] = round_.published.get(where, 0) + 1
                waiting.add((round_, partition))
            for round_, _ in waiting:
                await round_.handed.wait()
                if round_.error is not None:
                    raise round_.error
            for round_, partition in waiting:
                for batch in round_.batches.get((topic, partition), ()):
                    await batch  # the first failure raised (`_acknowledged` saw them all)

    async def send(self, topic: str, key: str, value: bytes) -> None:
        """Queue a record (see `Bus.send`). The executor's hot path: records wait in an
        outbox by partition until the event loop comes round to the drainer, which hands
        each partition's records to the producer as whole batches (`send_batch`: no
        future, no partitioner and no lock per record, about a third of the cost of
        `producer.send`). Past `OUTBOX_RECORDS` queued, `send` waits for the drainer, so
        what is queued stays bounded; acknowledgements are collected in the background."""
        if self._send_error is not None:
            raise self._send_error
        self._require_open()
        tail = self._tail
        if (
            tail is not None
            and tail.key == key
            and tail.topic == topic
            and tail.size + len(value) <= self._bundle_bytes
        ):
            # The record queued last came from `send`, with this key: it becomes a bundle,
            # or a larger one (its partition is this key's, and nothing followed it there).
            tail.values.append(value)
            tail.size += len(value)
            round_ = self._round
            round_.records += 1
        else:
            partition = self._partition_cache.get((topic, key))
            if partition is None:
                partition = await self._cache_partition(topic, key)
            round_ = self._enqueue(topic, partition, key, value, is_sent=True)
        if round_.records >= OUTBOX_RECORDS:
            await self._drained()

    async def _cache_partition(self, topic: str, key: str) -> int:
        partition = await self.partition_of(topic, key)
        if len(self._partition_cache) >= PARTITION_CACHE_SIZE:
            self._partition_cache.clear()
        self._partition_cache[(topic, key)] = partition
        return partition

    def _enqueue(
        self, topic: str, partition: int, key: str, value: bytes, *, is_sent: bool = False
    ) -> _Round:
        """Put a record in the outbox; returns the round it joined. A record of `send`
        becomes the tail that the next `send`s of its key join (a bundle); one of
        `publish_many` ends the tail, so it keeps its place behind what was sent."""
        round_ = self._round
        queued = round_.outbox.get((topic, partition))
        if queued is None:
            queued = round_.outbox[(topic, partition)] = []
        record = _Queued(topic, key, value)
        queued.append(record)
        self._tail = record if is_sent else None
        round_.records += 1
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain_outbox())
        return round_

    async def _drained(self) -> None:
        """Until the outbox is empty (its records are in the producer's batches)."""
        if self._drainer is not None and not self._drainer.done():
            await asyncio.shield(self._drainer)  # a cancelled caller leaves it running
        if self._send_error is not None:
            raise self._send_error

    async def _drain_outbox(self) -> None:
        """Hand each round to the producer, a partition's records as whole batches. Once
        a record was not written, nothing more goes out until `discard_failed`: the
        rounds queued meanwhile fail with that error."""
        while self._round.records:
            round_, self._round = self._round, _Round()
            self._tail = None  # a bundle is never added to once the drainer has it
            try:
                if self._send_error is not None:
                    round_.error = self._send_error
                else:
                    await self._hand_over(round_)
            except BaseException as exc:  # a bug or a cancellation: no caller waits forever
                round_.error = TransientError(f"kafka: records not handed over: {exc!r}")
                raise
            finally:
                round_.handed.set()

    async def _hand_over(self, round_: _Round) -> None:
        assert self._producer is not None
        producer = self._producer
        # Records of `send` in it: if they cannot all go, the next `send` must say so.
        has_sent = sum(round_.published.values()) < round_.records
        for (topic, partition), records in round_.outbox.items():
            is_sent = round_.published.get((topic, partition), 0) < len(records)
            batches = round_.batches[(topic, partition)] = []
            start = 0
            try:
                while start < len(records):
                    batch = producer.create_batch()
                    count = 0
                    for queued in records[start:]:
                        values = queued.values
                        if len(values) == 1:
                            value, headers = values[0], _NO_HEADERS
                        else:
                            value = b"".join(values)
                            headers = [(BUNDLE_HEADER, _lengths(values))]
                        # the first record always fits, however large
                        if (
                            batch.append(
                                key=queued.key.encode(),
                                value=value,
                                timestamp=None,
                                headers=headers,
                            )
                            is None
                        ):
                            break
                        count += 1
                    batch.close()  # nothing else may join it (`producer.send` would)
                    # waits while the partition's previous batch is still queued
                    future = await producer.send_batch(batch, topic, partition=partition)
                    batches.append(future)
                    self._unacked.add(future)
                    future.add_done_callback(partial(self._acknowledged, topic, count, is_sent))
                    start += count
            except _CONFIG_ERRORS as exc:
                error: PodiumError = ConfigError(f"kafka: publishing to {topic!r} refused: {exc!r}")
            except (KafkaError, OSError) as exc:
                lost = EventsLost if has_sent else TransientError
                error = lost(f"kafka: publishing to {topic!r} failed: {exc!r}")
            else:
                continue
            # The rest of the round is not sent: the callers waiting for it raise `error`,
            # and so does every later `send` (until `discard_failed`) if it held theirs.
            round_.error = error
            if has_sent:
                self._send_error = error
            return

    def _acknowledged(
        self, topic: str, count: int, is_sent: bool, future: asyncio.Future[Any]
    ) -> None:
        """A batch of `count` records was acknowledged (or failed). A failed batch that
        carried records of `send` (`is_sent`) makes the next `send` or `flush` raise;
        one of `publish_many` only is raised to the callers waiting for it."""
        self._unacked.discard(future)
        if future.cancelled():
            error: BaseException | None = RuntimeError("cancelled")
        else:
            error = future.exception()
        if error is None:
            acked = future.result()  # the batch's first offset
            at = (topic, acked.partition)
            self._acked[at] = max(self._acked.get(at, 0), acked.offset + count)
        elif is_sent and self._send_error is None:
            log.error("%r: %d records sent to %r were not written: %r", self, count, topic, error)
            self._send_error = EventsLost(f"kafka: publishing to {topic!r} failed: {error!r}")

    @property
    def session_timeout(self) -> float | None:
        return self.settings.session_timeout_ms / 1000

    def discard_failed(self) -> None:
        self._send_error = None
        dropped, self._round = self._round, _Round()  # the drainer finds nothing left
        self._tail = None
        dropped.error = TransientError("kafka: the records queued with it were dropped")
        dropped.handed.set()  # a `publish_many` waiting for it raises
        self._unacked.clear()  # their outcome no longer matters to anyone

    async def flush(self) -> None:
        await self._drained()
        pending = list(self._unacked)
        if pending:
            done, not_done = await asyncio.wait(pending, timeout=self.settings.call_timeout)
            if not_done:
                raise TransientError(
                    f"kafka: {len(not_done)} records unacknowledged after "
                    f"{self.settings.call_timeout}s"
                )
        if self._send_error is not None:
            raise self._send_error

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the offset the next record will get; never below what this bus
        saw acknowledged (read-your-writes even from a broker whose ListOffsets lags: the
        Tansu build used in tests answers the last batch's base offset + 1)."""
        self._require_open()
        partitions = await self._topic_partitions(topic)
        assert self._offsets is not None
        async with _kafka_call(f"reading end offsets of {topic!r}", self.settings.call_timeout):
            ends = await self._offsets.end_offsets(partitions)
            if self.settings.exact_end_offsets:
                ends = await self._read_true_ends(ends)
        return {
            tp.partition: max(offset, self._acked.get((topic, tp.partition), 0))
            for tp, offset in ends.items()
        }

    async def _read_true_ends(self, ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Fetch from each answered end - 1: the broker returns that record's whole batch,
        whose last record is the real end."""
        probe = {tp: end for tp, end in ends.items() if end > 0}
        if not probe:
            return ends
        assert self._offsets is not None
        consumer = self._offsets
        true_ends = dict(ends)
        loop = asyncio.get_running_loop()
        async with self._probe_lock:
            consumer.assign(list(probe))
            for tp, end in probe.items():
                consumer.seek(tp, end - 1)
            waiting, deadline = set(probe), loop.time() + 2.0
            while waiting and loop.time() < deadline:
                batches = await consumer.getmany(*waiting, timeout_ms=500)
                for tp, messages in batches.items():
                    if messages:
                        true_ends[tp] = max(true_ends[tp], messages[-1].offset + 1)
                        waiting.discard(tp)
            consumer.assign([])
        return true_ends

    async def start_offsets(self, topic: str) -> dict[int, int]:
        self._require_open()
        partitions = await self._topic_partitions(topic)
        assert self._offsets is not None
        async with _kafka_call(f"reading start offsets of {topic!r}", self.settings.call_timeout):
            starts = await self._offsets.beginning_offsets(partitions)
        return {tp.partition: offset for tp, offset in starts.items()}

    async def group_offsets(self, topic: str, group: str) -> dict[int, int]:
        self._require_open()
        return await self._group_positions(topic, group)

    async def partition_of(self, topic: str, key: str) -> int:
        """As the producer's default partitioner places it (murmur2 of the key)."""
        count = await self._ensure(topic)
        return (murmur2(key.encode()) & 0x7FFFFFFF) % count

    async def read_all(self, topic: str, *, batch: int = 2_000) -> AsyncIterator[list[Record]]:
        self._require_open()
        partitions = await self._topic_partitions(topic)
        ends = await self.end_offsets(topic)
        s = self.settings
        consumer = AIOKafkaConsumer(
            **s.client_options(),
            enable_auto_commit=False,
            fetch_max_bytes=s.fetch_max_bytes,
            max_partition_fetch_bytes=s.max_partition_fetch_bytes,
        )
        try:
            async with _kafka_call(f"reading {topic!r} from its start", s.subscribe_timeout):
                await consumer.start()
                consumer.assign(partitions)
                await consumer.seek_to_beginning(*partitions)
            remaining = {tp for tp in partitions if ends.get(tp.partition, 0) > 0}
            while remaining:
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp.partition]:
                        remaining.discard(tp)
                        consumer.pause(tp)
                if not remaining:
                    break
                async with _kafka_call(f"reading {topic!r}", s.call_timeout):
                    batches = await consumer.getmany(timeout_ms=1000, max_records=batch)
                records: list[Record] = []
                for tp in sorted(batches, key=lambda tp: tp.partition):
                    records += _unpack(tp.topic, tp.partition, batches[tp], ends[tp.partition])
                for start in range(0, len(records), batch):  # bundles may carry more
                    yield records[start : start + batch]
        finally:
            await _quietly(f"{self!r}: closing a reader", consumer.stop(), s)

    async def _group_positions(self, topic: str, group: str) -> dict[int, int]:
        """The next offset `group` reads per partition: its commit, else the log start."""
        partitions = await self._topic_partitions(topic)
        assert self._admin is not None and self._offsets is not None
        async with _kafka_call(f"reading offsets of group {group!r}", self.settings.call_timeout):
            committed = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
            positions = {tp.partition: meta.offset for tp, meta in committed.items()}
            missing = [tp for tp in partitions if positions.get(tp.partition, -1) < 0]
            if missing:
                starts = await self._offsets.beginning_offsets(missing)
                positions.update({tp.partition: offset for tp, offset in starts.items()})
        return positions

    # -- consuming ------------------------------------------------------------------

    async def subscribe(
        self,
        topic: str,
        group: str,
        *,
        is_transient: bool = False,
        listener: PartitionListener | None = None,
    ) -> KafkaSubscription:
        """Join `group` (returns once partitions are assigned), or, transient, watch
        every partition from its current end without a group."""
        self._require_open()
        partitions = await self._topic_partitions(topic)
        subscription = KafkaSubscription(self, topic, group, is_transient, listener)
        s = self.settings
        options = s.client_options()
        if is_transient:
            consumer = AIOKafkaConsumer(
                **options,
                enable_auto_commit=False,
                auto_offset_reset="latest",
                fetch_max_bytes=s.fetch_max_bytes,
                fetch_max_wait_ms=s.fetch_max_wait_ms,
                max_partition_fetch_bytes=s.max_partition_fetch_bytes,
            )
        else:
            consumer = AIOKafkaConsumer(
                **options,
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_bytes=s.fetch_max_bytes,
                fetch_max_wait_ms=s.fetch_max_wait_ms,
                max_partition_fetch_bytes=s.max_partition_fetch_bytes,
                session_timeout_ms=s.session_timeout_ms,
                heartbeat_interval_ms=s.heartbeat_interval_ms,
                rebalance_timeout_ms=s.rebalance_timeout_ms,
                max_poll_interval_ms=s.max_poll_interval_ms,
            )
            consumer.subscribe([topic], listener=_Rebalance(subscription))
        subscription._consumer = consumer
        try:
            async with _kafka_call(f"subscribing {group!r} to {topic!r}", s.subscribe_timeout):
                await consumer.start()
                if is_transient:
                    # Pin the start now, so a record published once `subscribe` returned
                    # is seen even if the first fetch comes later.
                    consumer.assign(partitions)
                    for p, end in (await self.end_offsets(topic)).items():
                        consumer.seek(TopicPartition(topic, p), end)
        except BaseException:
            await subscription.close()
            raise
        self._subscriptions.add(subscription)
        if is_transient and listener is not None:
            await listener.on_assigned([tp.partition for tp in partitions])
        return subscription


class _Round:
    """What was queued between two passes of the drainer, by (topic, partition), then the
    batches the drainer made of it: `publish_many` waits for those of its partitions."""

    __slots__ = ("batches", "error", "handed", "outbox", "published", "records")

    def __init__(self) -> None:
        self.outbox: dict[tuple[str, int], list[_Queued]] = {}
        self.records = 0  # what `send` and `publish_many` were given (a bundle's, each)
        self.published: dict[tuple[str, int], int] = {}  # records of `publish_many`
        self.batches: dict[tuple[str, int], list[asyncio.Future[Any]]] = {}
        self.handed = asyncio.Event()  # every record is in a batch (or `error` is set)
        self.error: PodiumError | None = None

    def __repr__(self) -> str:
        return f"<_Round records={self.records} batches={sum(map(len, self.batches.values()))}>"


class _Queued:
    """One Kafka record waiting in the outbox: a record, or a bundle of `send`s."""

    __slots__ = ("key", "size", "topic", "values")

    def __init__(self, topic: str, key: str, value: bytes) -> None:
        self.topic = topic
        self.key = key
        self.values = [value]
        self.size = len(value)

    def __repr__(self) -> str:
        return f"<_Queued key={self.key!r} records={len(self.values)} bytes={self.size}>"


@dataclass(slots=True, repr=False)
class BundledRecord(Record):
    """One of the records a bundle carried: they share the bundle's offset, and only
    committing the last one (`is_last`) marks the bundle done."""

    is_last: bool = False


def _unpack(topic: str, partition: int, messages: Iterable[Any], end: int | None) -> list[Record]:
    """Records as the bus delivers them: a bundle's, in order, in its place; those at or
    past `end` (an offset) left out."""
    records: list[Record] = []
    append = records.append
    for m in messages:
        offset = m.offset
        if end is not None and offset >= end:
            break
        key = (m.key or b"").decode()
        value = m.value or b""
        bundle = None
        for name, header in m.headers:
            if name == BUNDLE_HEADER:
                bundle = header
        if bundle is None:
            append(Record(topic, partition, offset, key, value))
            continue
        lengths = array("I", bundle)
        if _IS_BIG_ENDIAN:
            lengths.byteswap()
        at, last = 0, len(lengths) - 1
        for index, length in enumerate(lengths):
            append(
                BundledRecord(topic, partition, offset, key, value[at : at + length], index == last)
            )
            at += length
    return records


def _lengths(values: list[bytes]) -> bytes:
    lengths = array("I", map(len, values))
    if _IS_BIG_ENDIAN:
        lengths.byteswap()
    return lengths.tobytes()


def _commit_end(record: Record) -> int:
    """The offset committing `record` moves its group to."""
    if type(record) is BundledRecord and not record.is_last:
        return record.offset  # the bundle is read again from its start
    return record.offset + 1


class _Rebalance(ConsumerRebalanceListener):
    """aiokafka's hooks → a pause that survives rebalances, then the caller's listener."""

    def __init__(self, subscription: KafkaSubscription) -> None:
        self.subscription = subscription

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        sub = self.subscription
        for tp in revoked:  # another member may commit there now
            sub._committed.pop(tp.partition, None)
        if sub._held and revoked:  # the next owner reads those bundles again
            gone = {tp.partition for tp in revoked}
            sub._held = [r for r in sub._held[sub._held_at :] if r.partition not in gone]
            sub._held_at = 0
        if revoked and sub._listener is not None:
            await sub._listener.on_revoked(sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        sub = self.subscription
        if sub._is_paused and sub._consumer is not None and assigned:
            sub._consumer.pause(*assigned)  # new partitions arrive unpaused
        if assigned and sub._listener is not None:
            await sub._listener.on_assigned(sorted(tp.partition for tp in assigned))


class KafkaSubscription:
    def __init__(
        self,
        bus: KafkaBus,
        topic: str,
        group: str,
        is_transient: bool,
        listener: PartitionListener | None,
    ) -> None:
        self._bus = bus
        self.topic = topic
        self.group = group
        self.is_transient = is_transient
        self._listener = listener
        self._consumer: AIOKafkaConsumer | None = None
        self._is_paused = False
        self._is_closed = False
        self._committed: dict[int, int] = {}  # what this consumer committed last
        # Records of bundles fetched past `max_records`, delivered by the next fetch.
        self._held: list[Record] = []
        self._held_at = 0  # the next of them (not sliced off each time: it may be long)

    def __repr__(self) -> str:
        kind = "transient" if self.is_transient else f"group={self.group}"
        paused = " paused" if self._is_paused else ""
        return f"<KafkaSubscription {self.topic} {kind} partitions={self.assigned}{paused}>"

    @property
    def assigned(self) -> list[int]:
        if self._consumer is None or self._is_closed:
            return []
        return sorted(tp.partition for tp in self._consumer.assignment())

    async def fetch(self, *, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """Up to `max_records`, partition by partition, each in offset order. A bundle's
        records that do not fit wait for the next fetch (before anything newer)."""
        if self._is_closed or self._consumer is None:
            return []
        if self._held and not self._is_paused:
            at = self._held_at
            held = self._held[at : at + max_records]
            self._held_at = at + len(held)
            if self._held_at == len(self._held):
                self._held, self._held_at = [], 0
            return held
        budget = timeout + self._bus.settings.call_timeout
        try:
            async with _kafka_call(f"fetching from {self.topic!r}", budget):
                batches = await self._consumer.getmany(
                    timeout_ms=int(timeout * 1000), max_records=max_records
                )
        except ConsumerStoppedError:
            return []  # closed by another task while this one waited
        records: list[Record] = []
        for tp in sorted(batches, key=lambda tp: tp.partition):
            records += _unpack(tp.topic, tp.partition, batches[tp], None)
        if self._held:  # paused: polled only to stay in the group (nothing should come)
            self._held += records
            return []
        if len(records) > max_records:
            self._held, self._held_at = records, max_records
            records = records[:max_records]
        return records

    async def commit(self, records: Sequence[Record]) -> None:
        """Commit max offset + 1 per partition. Partitions this consumer no longer owns
        are skipped, as is a commit the group refuses because it rebalanced meanwhile:
        their next owner reads those records again (at-least-once)."""
        if self.is_transient or self._is_closed or self._consumer is None or not records:
            return
        ends: dict[int, int] = {}
        for record in records:
            ends[record.partition] = max(ends.get(record.partition, 0), _commit_end(record))
        owned = {tp.partition for tp in self._consumer.assignment()}
        offsets = {
            TopicPartition(self.topic, p): end
            for p, end in ends.items()
            if p in owned and end > self._committed.get(p, -1)
        }
        if not offsets:
            return
        try:
            async with _kafka_call(f"committing {self.group!r}", self._bus.settings.call_timeout):
                await self._consumer.commit(offsets)
        except TransientError as exc:
            if not isinstance(exc.__cause__, CommitFailedError | IllegalStateError):
                raise
            # The group rebalanced under us: the same case as a partition we no longer own.
            log.warning("%r: commit dropped, the group rebalanced: %s", self, exc.__cause__)
            return
        self._committed.update({tp.partition: end for tp, end in offsets.items()})

    async def committed(self) -> dict[int, int]:
        if self.is_transient:
            return await self._positions()
        return await self._bus._group_positions(self.topic, self.group)

    async def lag(self) -> int:
        ends = await self._bus.end_offsets(self.topic)
        at = await self.committed()
        return sum(max(0, end - at.get(p, 0)) for p, end in ends.items())

    async def _positions(self) -> dict[int, int]:
        if self._consumer is None or self._is_closed:
            return {}
        async with _kafka_call("reading positions", self._bus.settings.call_timeout):
            return {
                tp.partition: await self._consumer.position(tp)
                for tp in self._consumer.assignment()
            }

    def pause(self) -> None:
        """Stop delivering records (backpressure). Keep calling `fetch`: it returns
        nothing but keeps this consumer in its group. Survives rebalances."""
        self._is_paused = True
        if self._consumer is not None and not self._is_closed:
            self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        self._is_paused = False
        if self._consumer is not None and not self._is_closed:
            self._consumer.resume(*self._consumer.assignment())

    def wake(self) -> None:
        """Nothing: aiokafka's `getmany` cannot be interrupted; it returns at its timeout."""

    def rejoin(self) -> None:
        if self._consumer is not None and not self._is_closed and not self.is_transient:
            # aiokafka has no public call for it; its coordinator rejoins at its next poll
            self._consumer._coordinator.request_rejoin()

    async def close(self) -> None:
        """Leave the group (its partitions move to the other members). Safe twice."""
        if self._is_closed:
            return
        self._is_closed = True
        self._held, self._held_at = [], 0
        self._bus._subscriptions.discard(self)
        if self._consumer is None:
            return
        await _quietly(f"{self!r}: closing", self._consumer.stop(), self._bus.settings)
