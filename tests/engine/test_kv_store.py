"""The KV rows over SQLite and PostgreSQL (one contract), and the typed values of
engine/kv/__init__.py: what a change does, that a redelivered change does nothing, that
`overwrite: false` keeps a live entry, and how text and values become typed entries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.bus.memory import MemoryBus
from engine.clock import FakeClock
from engine.errors import TransientError
from engine.kv import (
    KvChanged,
    KvError,
    KvType,
    ancestors,
    check_key,
    parse_text_value,
    typed_value,
)
from engine.kv.projector import KvProjector
from engine.kv.service import KvService
from engine.storage import LocalStorage
from engine.store.base import Store
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore
from tests.support.postgres import SERVER, fresh_database_async

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        async with SqliteStore(tmp_path / "s.db") as opened:
            yield opened
        return
    async with (
        fresh_database_async("podium_kv") as name,
        PostgresStore(f"{SERVER}/{name}") as opened,
    ):
        yield opened


def put(key: str, value: object, *, at: datetime = T0, **extra: object) -> KvChanged:
    kind, stored = typed_value(value)
    return KvChanged(
        kind="KvSet", namespace="company.team", key=key, at=at, type=kind, value=stored, **extra
    )


async def test_a_set_then_a_change_then_a_delete(store: Store) -> None:
    first = put("cfg", {"b": 2, "a": 1}, description="settings")
    assert await store.apply_kv([first]) == []
    entry = await store.get_kv("company.team", "cfg")
    assert entry is not None
    assert (entry.type, entry.value, entry.revision) == (KvType.JSON, {"b": 2, "a": 1}, 1)
    assert list(entry.value) == ["b", "a"]  # the JSON as written, keys in their order
    assert entry.description == "settings" and entry.created_at == T0

    later = T0 + timedelta(minutes=5)
    second = put("cfg", 42, at=later, expires_at=later + timedelta(hours=1))
    await store.apply_kv([second])
    entry = await store.get_kv("company.team", "cfg")
    assert entry is not None
    assert (entry.type, entry.value, entry.revision) == (KvType.NUMBER, 42, 2)
    assert entry.created_at == T0 and entry.updated_at == later
    assert entry.expires_at == later + timedelta(hours=1)
    assert entry.is_expired(later + timedelta(hours=2)) and not entry.is_expired(later)

    await store.apply_kv(
        [KvChanged(kind="KvDeleted", namespace="company.team", key="cfg", at=later)]
    )
    assert await store.get_kv("company.team", "cfg") is None


async def test_a_redelivered_change_changes_nothing(store: Store) -> None:
    change = put("k", "v")
    await store.apply_kv([change])
    await store.apply_kv([change])  # the projector crashed before committing its offsets
    entry = await store.get_kv("company.team", "k")
    assert entry is not None and entry.revision == 1


async def test_only_if_absent_keeps_a_live_entry_but_replaces_an_expired_one(store: Store) -> None:
    await store.apply_kv([put("k", "first", expires_at=T0 + timedelta(hours=1))])
    refused = put("k", "second", at=T0 + timedelta(minutes=1), only_if_absent=True)
    await store.apply_kv([refused])
    entry = await store.get_kv("company.team", "k")
    assert entry is not None and entry.value == "first"

    accepted = put("k", "third", at=T0 + timedelta(hours=2), only_if_absent=True)
    await store.apply_kv([accepted])
    entry = await store.get_kv("company.team", "k")
    assert entry is not None and entry.value == "third" and entry.event_id == accepted.event_id


async def test_replaced_and_deleted_files_are_reported_for_removal(store: Store) -> None:
    big = KvChanged(
        kind="KvSet",
        namespace="company.team",
        key="blob",
        at=T0,
        type=KvType.STRING,
        value_uri="kestra:///kv/company.team/blob/1.json",
    )
    assert await store.apply_kv([big]) == []
    entry = await store.get_kv("company.team", "blob")
    assert entry is not None and entry.value is None and entry.value_uri == big.value_uri
    assert await store.apply_kv([put("blob", "small")]) == [big.value_uri]


async def test_listing_by_namespace_children_prefix_and_text(store: Store) -> None:
    changes = [
        put("alpha", 1),
        put("alpine", 2, description="Mountain air"),
        put("Alpha", 3),
        KvChanged(
            kind="KvSet", namespace="company", key="root", at=T0, type=KvType.NUMBER, value=0
        ),
        KvChanged(
            kind="KvSet",
            namespace="company.team.data",
            key="deep",
            at=T0,
            type=KvType.NUMBER,
            value=9,
        ),
        KvChanged(
            kind="KvSet", namespace="companyx", key="other", at=T0, type=KvType.NUMBER, value=9
        ),
    ]
    await store.apply_kv(changes)
    entries, total = await store.list_kv(namespace="company.team")
    assert [e.key for e in entries] == ["Alpha", "alpha", "alpine"] and total == 3
    entries, _ = await store.list_kv(namespace="company.team", key_prefix="alp")
    assert [e.key for e in entries] == ["alpha", "alpine"]  # a prefix is case-sensitive
    entries, _ = await store.list_kv(namespace="company", include_children=True)
    assert [(e.namespace, e.key) for e in entries] == [
        ("company", "root"),
        ("company.team", "Alpha"),
        ("company.team", "alpha"),
        ("company.team", "alpine"),
        ("company.team.data", "deep"),
    ]
    entries, total = await store.list_kv(q="mountain")
    assert [e.key for e in entries] == ["alpine"] and total == 1
    entries, total = await store.list_kv(limit=2, offset=1)
    assert len(entries) == 2 and total == 6


async def test_listing_live_entries_leaves_out_the_expired_ones(store: Store) -> None:
    hour = timedelta(hours=1)
    await store.apply_kv(
        [
            put("a", 1, expires_at=T0 + hour),
            put("b", 2, expires_at=T0 + 3 * hour),
            put("c", 3),
            put("d", 4, expires_at=T0 + hour + timedelta(microseconds=500)),
        ]
    )
    entries, total = await store.list_kv(namespace="company.team", live_at=T0 + hour)
    assert [e.key for e in entries] == ["b", "c", "d"] and total == 3
    entries, total = await store.list_kv(live_at=T0 + 2 * hour, limit=1, offset=1)
    assert [e.key for e in entries] == ["c"] and total == 2


async def test_the_kv_table_survives_a_reopen(store: Store, tmp_path: Path) -> None:
    await store.apply_kv([put("k", "kept")])
    if isinstance(store, SqliteStore):
        await store.close()
        async with SqliteStore(store.path) as again:
            entry = await again.get_kv("company.team", "k")
    else:
        assert isinstance(store, PostgresStore)
        async with PostgresStore(store.url) as again:
            entry = await again.get_kv("company.team", "k")
    assert entry is not None and entry.value == "kept"


# -- typed values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kv_type", "expected"),
    [
        ("hello", None, (KvType.STRING, "hello")),
        (42, None, (KvType.NUMBER, 42)),
        (1.5, None, (KvType.NUMBER, 1.5)),
        (True, None, (KvType.BOOLEAN, True)),
        ({"a": [1]}, None, (KvType.JSON, {"a": [1]})),
        ("42", "NUMBER", (KvType.NUMBER, 42)),
        ("TRUE", "BOOLEAN", (KvType.BOOLEAN, True)),
        ("nope", "BOOLEAN", (KvType.BOOLEAN, False)),  # Java's Boolean.parseBoolean
        ("2026-01-31T10:00:00+02:00", "DATETIME", (KvType.DATETIME, "2026-01-31T08:00:00Z")),
        ("2026-01-31", "DATE", (KvType.DATE, "2026-01-31")),
        ("PT90M", "DURATION", (KvType.DURATION, "PT1H30M")),
        ('{"a": 1}', "JSON", (KvType.JSON, {"a": 1})),
        (datetime(2026, 1, 1, tzinfo=UTC), None, (KvType.DATETIME, "2026-01-01T00:00:00Z")),
        (timedelta(days=1), None, (KvType.DURATION, "PT24H")),  # Java's Duration.toString()
    ],
)
def test_typed_values(value: object, kv_type: str | None, expected: tuple[KvType, object]) -> None:
    assert typed_value(value, kv_type) == expected


@pytest.mark.parametrize(
    ("value", "kv_type"),
    [("abc", "NUMBER"), ("true", "NUMBER"), ("yesterday", "DATETIME"), ("1h", "DURATION"),
     ("{nope", "JSON"), (None, None)],
)  # fmt: skip
def test_values_that_do_not_fit_their_type_are_refused(value: object, kv_type: str | None) -> None:
    with pytest.raises(KvError):
        typed_value(value, kv_type)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"quoted"', (KvType.STRING, "quoted")),
        ("plain words", (KvType.STRING, "plain words")),
        ("12", (KvType.NUMBER, 12)),
        ("false", (KvType.BOOLEAN, False)),
        ('{"a": {"b": 1}}', (KvType.JSON, {"a": {"b": 1}})),
        ("[1, 2]", (KvType.JSON, [1, 2])),
        ("2026-03-01", (KvType.DATE, "2026-03-01")),
        ("2026-03-01T12:00:00Z", (KvType.DATETIME, "2026-03-01T12:00:00Z")),
        ("P2D", (KvType.DURATION, "PT48H")),
    ],
)
def test_text_values_read_as_kestra_reads_a_put_body(text: str, expected: object) -> None:
    assert parse_text_value(text) == expected


def test_keys_and_namespaces() -> None:
    assert check_key("my_key-1.v2") == "my_key-1.v2"
    for bad in ("", "../etc", "a/b", ".hidden", "a b", "x" * 256, 7):
        with pytest.raises(KvError):
            check_key(bad)
    assert ancestors("a.b.c") == ["a.b.c", "a.b", "a"]


# -- the service and its projector -----------------------------------------------------


async def test_a_change_waits_for_the_projector_and_lands_once_one_runs(tmp_path: Path) -> None:
    async with MemoryBus() as bus, SqliteStore(tmp_path / "s.db") as store:
        storage = LocalStorage(tmp_path / "storage")
        projector = KvProjector(bus, store, storage)
        service = KvService(
            bus,
            store,
            storage,
            clock=FakeClock(),
            wait_applied=projector.caught_up,
            apply_timeout=0.2,
        )
        with pytest.raises(TransientError, match="not applied within 0.2s"):
            await service.set("company", "k", "v")  # no projector runs
        assert await store.get_kv("company", "k") is None
        async with asyncio.TaskGroup() as group:
            running = group.create_task(projector.run())
            await projector.caught_up()
            entry = await service.entry("company", "k")
            assert entry is not None and entry.value == "v"  # published, applied now
            await service.set("company", "k", "w")
            assert await service.value(await service.entry("company", "k")) == "w"  # type: ignore[arg-type]
            projector.stop()
            await running
