"""Retention and purges, on SQLite and PostgreSQL: what the projector deletes for a purge
event, and the scheduler's retention job over a month of executions (10,000 of them,
written through the projection path, not by running flows)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from engine.bus.kafka import KafkaBus
from engine.bus.memory import MemoryBus
from engine.clock import FakeClock
from engine.errors import ConfigError
from engine.events import (
    EventDocument,
    ExecutionChanged,
    ExecutionsPurged,
    LogLine,
    LogsEmitted,
    LogsPurged,
    MetricEmitted,
    TaskRunChanged,
    Wire,
    encode,
)
from engine.plugin import PurgeSelection
from engine.projector import Projector
from engine.purge import Purger
from engine.retention import RetentionJob, RetentionScope, retention_scopes, topic_retention
from engine.server import Podium
from engine.settings import RetentionSection, load_settings
from engine.states import State
from engine.storage import LocalStorage
from engine.store import open_store
from engine.store.base import PROJECTION_TABLES, ExecutionQuery, Store
from engine.store.postgres import PostgresStore
from engine.store.purge import stamp
from engine.store.sqlite import SqliteStore
from tests.support.kafka import kafka_url, make_bus  # noqa: F401 - a fixture
from tests.support.postgres import SERVER, fresh_database_async

NOW = datetime(2026, 3, 1, tzinfo=UTC)
MONTH = 10_000  # executions spread over the 30 days before NOW


def execution(
    execution_id: str,
    created: datetime,
    *,
    state: State = State.SUCCESS,
    namespace: str = "company.team",
    flow_id: str = "nightly",
    seq: int = 2,
) -> ExecutionChanged:
    ended = created + timedelta(minutes=1) if state.is_terminal else None
    return ExecutionChanged(
        execution_id=execution_id,
        namespace=namespace,
        flow_id=flow_id,
        seq=seq,
        at=ended or created,
        revision=1,
        state=state,
        created_at=created,
        started_at=created,
        ended_at=ended,
    )


def history(header: ExecutionChanged) -> list[Wire]:
    """What one small execution leaves: its header, a task run, two log lines, a metric."""
    common = {
        "execution_id": header.execution_id,
        "namespace": header.namespace,
        "flow_id": header.flow_id,
        "at": header.created_at,
    }
    run_id = header.execution_id + "-t"
    return [
        header,
        TaskRunChanged(
            **common,
            seq=1,
            task_run_id=run_id,
            task_id="t",
            state=State.SUCCESS if header.state.is_terminal else State.RUNNING,
            created_at=header.created_at,
        ),
        LogsEmitted(
            **common,
            seq=1,
            lines=(
                LogLine(at=header.created_at, level="DEBUG", message="x" * 200, task_id="t"),
                LogLine(at=header.created_at, level="INFO", message="y" * 200, task_id="t"),
            ),
        ),
        MetricEmitted(
            **common,
            seq=1,
            task_run_id=run_id,
            task_id="t",
            name="rows",
            metric_kind="counter",
            value=1.0,
        ),
    ]


async def apply(store: Store, events: list[Wire], batch: int = 4_000) -> None:
    for start in range(0, len(events), batch):
        await store.apply([EventDocument.of(e) for e in events[start : start + batch]])


@asynccontextmanager
async def opened_store(kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    if kind == "sqlite":
        async with SqliteStore(tmp_path / "s.db") as store:
            yield store
        return
    async with (
        fresh_database_async("podium_retention") as name,
        PostgresStore(f"{SERVER}/{name}") as store,
    ):
        yield store


# -- settings ------------------------------------------------------------------------


def test_scopes_inherit_from_the_less_specific_and_leave_out_the_more_specific() -> None:
    section = RetentionSection.model_validate(
        {
            "executions": "P30D",
            "logs": "P7D",
            "namespaces": {"prod": {"executions": "P90D"}, "prod.audit": {"logs": "P365D"}},
        }
    )
    scopes = {s.namespace: s for s in retention_scopes(section)}
    day = timedelta(days=1)
    assert scopes[None] == RetentionScope(None, 30 * day, 7 * day, None, ("prod", "prod.audit"))
    assert scopes["prod"] == RetentionScope("prod", 90 * day, 7 * day, None, ("prod.audit",))
    assert scopes["prod.audit"] == RetentionScope("prod.audit", 90 * day, 365 * day, None, ())
    assert topic_retention(section) == 90 * day
    # a scope that keeps executions for ever leaves the topics at the broker's default
    assert topic_retention(RetentionSection.model_validate({"logs": "P7D"})) is None
    assert topic_retention(RetentionSection()) is None


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"PODIUM_RETENTION__EXECUTIONS": "PT5M"}, "shorter than an hour"),
        ({"PODIUM_RETENTION__LOGS": "thirty days"}, "not an ISO-8601 duration"),
        ({"PODIUM_RETENTION__FILES": "-P1D"}, "shorter than an hour"),
        ({"PODIUM_RETENTION__EXECUTION": "P1D"}, "Extra inputs"),
    ],
)
def test_bad_retention_settings_are_refused_at_start(
    variables: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=variables)


def test_retention_settings_from_variables_and_namespaces() -> None:
    settings = load_settings(
        environ={"PODIUM_RETENTION__EXECUTIONS": "P30D"},
        overrides={"retention.namespaces": {"a.b": {"files": "P2D"}}},
    )
    assert settings.retention.executions == timedelta(days=30)
    assert settings.retention.namespaces["a.b"].files == timedelta(days=2)
    with pytest.raises(ConfigError, match="not a namespace"):
        load_settings(environ={}, overrides={"retention.namespaces": {"../x": {"logs": "P1D"}}})


# -- what the projector does with purge events ---------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with opened_store(request.param, tmp_path) as opened:
        yield opened


async def test_a_purge_deletes_ended_executions_and_never_a_running_one(store: Store) -> None:
    old = NOW - timedelta(days=40)
    ended = execution("ended", old)
    running = execution("running", old, state=State.RUNNING)
    other = execution("other", old, flow_id="other")
    await apply(store, [*history(ended), *history(running), *history(other)])
    purge = ExecutionsPurged(
        namespace="company.team",
        flow_id="nightly",
        execution_ids=("ended", "running"),
        at=NOW,
    )
    applied = await store.apply([EventDocument.of(purge)])
    assert applied.changed == 7  # execution, task run, 2 states, 2 log lines, a metric
    assert await store.get_execution("ended") is None
    assert await store.task_runs("ended") == [] and await store.logs("ended") == []
    assert await store.state_history("ended") == []
    assert (await store.get_execution("running")) is not None
    assert len(await store.logs("running")) == 2
    assert (await store.get_execution("other")) is not None
    # applied again (a redelivered batch): nothing more goes
    assert (await store.apply([EventDocument.of(purge)])).changed == 0
    # a rebuild that replays the same log ends with the same rows
    assert await store.purge_counts(["ended"]) == (0, 0, 0)


async def test_a_purge_in_a_batch_applies_in_log_order(store: Store) -> None:
    """Events before the purge are written first, the ones after it survive it."""
    old = NOW - timedelta(days=40)
    first = history(execution("a", old))
    purge = ExecutionsPurged(
        namespace="company.team", flow_id="nightly", execution_ids=("a",), at=NOW
    )
    again = execution("a", old, seq=3)  # a label set after the purge, say
    await store.apply([EventDocument.of(e) for e in (*first, purge, again)])
    stored = await store.get_execution("a")
    assert stored is not None and stored.seq == 3
    assert await store.logs("a") == []


async def test_only_logs_or_only_metrics_can_go(store: Store) -> None:
    old = NOW - timedelta(days=40)
    await apply(store, history(execution("a", old)))
    await store.apply(
        [
            EventDocument.of(
                ExecutionsPurged(
                    namespace="company.team",
                    flow_id="nightly",
                    execution_ids=("a",),
                    executions=False,
                    metrics=False,
                    at=NOW,
                )
            )
        ]
    )
    assert await store.get_execution("a") is not None
    assert await store.purge_counts(["a"]) == (1, 0, 1)


async def test_log_purges_are_bounded_and_filtered(store: Store) -> None:
    old = NOW - timedelta(days=40)
    events: list[Wire] = []
    for index, namespace in enumerate(("prod", "prod.audit", "dev", "production")):
        events += history(execution(f"e{index}", old, namespace=namespace))
    await apply(store, events)

    async def purge(**fields: Any) -> int:
        return (await store.apply([EventDocument.of(LogsPurged(at=NOW, **fields))])).changed

    assert await purge(end=NOW, namespace="prod", excluded=("prod.audit",), limit=1) == 1
    assert await purge(end=NOW, namespace="prod", excluded=("prod.audit",)) == 1
    assert await store.logs("e0") == []
    assert len(await store.logs("e1")) == 2  # excluded
    assert len(await store.logs("e3")) == 2  # `production` is not under `prod`
    assert await purge(end=NOW, levels=("DEBUG",)) == 3
    assert [line.level for line in await store.logs("e2")] == ["INFO"]
    assert await purge(end=old - timedelta(seconds=1)) == 0  # stamped later than `end`
    assert await purge(end=NOW, start=old + timedelta(seconds=1)) == 0


async def test_candidates_come_in_pages_and_by_selection(store: Store) -> None:
    events: list[Wire] = []
    for day in range(10):
        events += history(execution(f"e{day}", NOW - timedelta(days=day), state=State.FAILED))
    events += history(execution("ok", NOW - timedelta(days=5)))
    events += history(execution("elsewhere", NOW - timedelta(days=5), namespace="company"))
    await apply(store, events)
    selection = PurgeSelection(end=NOW - timedelta(days=3), namespace="company.team")
    first = await store.purge_candidates(selection, limit=4)
    rest = await store.purge_candidates(selection, after=first[-1].position, limit=100)
    ids = [c.id for c in first + rest]
    assert ids == ["e9", "e8", "e7", "e6", "e5", "ok", "e4"]  # e3 ended a minute after
    failed = PurgeSelection(end=NOW, states=(State.FAILED,), start=NOW - timedelta(days=2))
    assert [c.id for c in await store.purge_candidates(failed)] == ["e2", "e1"]
    assert await store.unfinished_among(ids) == set()


# -- the retention job over a month ----------------------------------------------------


@dataclass
class Pipeline:
    """The parts the retention job works with, real and running: a bus, the projector
    applying its events to the store, internal storage, the job on a fake clock."""

    store: Store
    storage: LocalStorage
    job: RetentionJob
    clock: FakeClock


@asynccontextmanager
async def pipeline(kind: str, tmp_path: Path, retention: dict[str, Any]) -> AsyncIterator[Pipeline]:
    clock = FakeClock(NOW)
    async with AsyncExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path}/podium.db"
        else:
            url = f"{SERVER}/{await stack.enter_async_context(fresh_database_async('podium_retention'))}"
        store = await stack.enter_async_context(open_store(url))
        bus = await stack.enter_async_context(MemoryBus(None))
        projector = Projector(bus, store)
        async with asyncio.TaskGroup() as group:
            group.create_task(projector.run())
            await projector.is_ready.wait()
            storage = LocalStorage(tmp_path / "storage")
            purger = Purger(bus, store, storage, wait_projected=projector.caught_up, clock=clock)
            section = RetentionSection.model_validate(retention)
            try:
                yield Pipeline(store, storage, RetentionJob(purger, section, clock=clock), clock)
            finally:
                projector.stop()


class Month:
    """10,000 ended executions, one every 259.2 s over the 30 days before NOW, plus three
    still running since long ago; each with a task run, two log lines and a metric. The
    events are built as the projector receives them (JSON documents), not as models,
    so that building them takes a fraction of a second."""

    def __init__(self) -> None:
        step = timedelta(days=30) / MONTH
        first = NOW - timedelta(days=30)
        self.ended = {f"x{i:05d}": first + i * step + timedelta(minutes=1) for i in range(MONTH)}
        self.running = {f"run{i}": first + timedelta(days=i) for i in range(3)}
        self.templates = {
            type(e).__name__: orjson.loads(encode(e)) for e in history(execution("t", first))
        }

    def documents(self) -> list[EventDocument]:
        """Every execution's header and log lines; every tenth's task run and metric."""
        documents = []
        for index, (execution_id, moment) in enumerate(
            (*self.ended.items(), *self.running.items())
        ):
            is_running = execution_id in self.running
            created = stamp(moment - timedelta(minutes=1) if not is_running else moment)
            ended = None if is_running else stamp(moment)
            for name, template in self.templates.items():
                if index % 10 and name in ("TaskRunChanged", "MetricEmitted"):
                    continue
                doc = dict(template, execution_id=execution_id, at=created)
                doc["event_id"] = f"{execution_id}-{name}"
                if name == "ExecutionChanged":
                    doc.update(created_at=created, started_at=created, ended_at=ended)
                    doc["state"] = "RUNNING" if is_running else "SUCCESS"
                elif name == "TaskRunChanged":
                    doc.update(task_run_id=f"{execution_id}-t", created_at=created)
                    doc["state"] = "RUNNING" if is_running else "SUCCESS"
                elif name == "LogsEmitted":
                    doc["lines"] = [dict(line, at=created) for line in template["lines"]]
                else:
                    doc["task_run_id"] = f"{execution_id}-t"
                documents.append(EventDocument(doc, orjson.dumps(doc)))
        return documents


def write_files(storage: LocalStorage, ids: list[str]) -> dict[str, Path]:
    return {
        execution_id: storage.path_of(
            storage.write(f"company/team/nightly/executions/{execution_id}/tasks/t/out.csv", b"a\n")
        )
        for execution_id in ids
    }


async def database_bytes(store: Store, *, compact: bool = True) -> int:
    """The space the projection takes: SQLite's pages in use (freed pages are reused);
    on PostgreSQL its tables' size, after VACUUM FULL with `compact` (docs/operations.md)."""
    if isinstance(store, SqliteStore):

        def pages() -> int:
            page_size = store.db.execute("PRAGMA page_size").fetchone()[0]
            count = store.db.execute("PRAGMA page_count").fetchone()[0]
            free = store.db.execute("PRAGMA freelist_count").fetchone()[0]
            return int((count - free) * page_size)

        return await store._call(pages)
    assert isinstance(store, PostgresStore)
    connection = await asyncpg.connect(store.url)
    try:
        if compact:
            await connection.execute(f"VACUUM FULL {', '.join(PROJECTION_TABLES)}")
        return int(
            await connection.fetchval(
                "SELECT sum(pg_total_relation_size(t)) FROM unnest($1::regclass[]) t",
                list(PROJECTION_TABLES),
            )
        )
    finally:
        await connection.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_retention_keeps_exactly_the_last_week_of_a_month(kind: str, tmp_path: Path) -> None:
    month = Month()
    async with pipeline(kind, tmp_path, {"executions": "P7D", "batch_size": 1000}) as line:
        documents = month.documents()
        for start in range(0, len(documents), 5_000):
            await line.store.apply(documents[start : start + 5_000])
        files = write_files(line.storage, [*list(month.ended)[::100], *month.running])
        before = await database_bytes(line.store, compact=False)  # written by COPY: compact

        report = await line.job.run_once()

        cutoff = NOW - timedelta(days=7)
        gone = [i for i, ended in month.ended.items() if ended <= cutoff]
        kept = {i for i, ended in month.ended.items() if ended > cutoff} | month.running.keys()
        assert 7_000 < len(gone) < 8_000
        assert report.executions.executions == len(gone)
        assert report.executions.logs == 2 * len(gone)
        with_runs = [i for i in gone if int(i[1:]) % 10 == 0]
        assert report.executions.metrics == report.executions.task_runs == len(with_runs)
        _, total = await line.store.search_executions(ExecutionQuery(limit=1))
        assert total == len(kept)
        assert (await line.store.existing_executions(sorted(kept))).keys() == kept
        assert await line.store.purge_counts(gone) == (0, 0, 0)
        assert await line.store.unfinished_among(list(month.running)) == month.running.keys()
        assert {i for i, path in files.items() if path.exists()} == kept & files.keys()
        assert report.executions.files == len(files.keys() - kept)
        after = await database_bytes(line.store)
        assert after < before * 0.6, (before, after)

        # the next round finds nothing more; a day later, one more day goes
        assert (await line.job.run_once()).executions.executions == 0
        await line.clock.advance(86_400)
        next_day = [
            i for i, ended in month.ended.items() if cutoff < ended <= cutoff + timedelta(days=1)
        ]
        assert (await line.job.run_once()).executions.executions == len(next_day) > 300


async def test_files_and_logs_retention_with_a_namespace_that_keeps_more(tmp_path: Path) -> None:
    retention = {
        "files": "P3D",
        "logs": "P5D",
        "namespaces": {"company.team.keep": {"files": "P20D", "logs": "P20D"}},
    }
    async with pipeline("sqlite", tmp_path, retention) as line:
        headers = [execution(f"d{day}", NOW - timedelta(days=day)) for day in range(10)]
        headers += [
            execution(f"k{day}", NOW - timedelta(days=day), namespace="company.team.keep")
            for day in range(10)
        ]
        await apply(line.store, [e for h in headers for e in history(h)])
        paths = {}
        for header in headers:
            folder = (
                f"{header.namespace.replace('.', '/')}/nightly/executions/{header.execution_id}"
            )
            paths[header.execution_id] = line.storage.path_of(
                line.storage.write(f"{folder}/f.txt", b"x")
            )

        report = await line.job.run_once()

        # every execution stays; files past 3 days and logs past 5 days go, except in
        # the namespace that keeps them 20 days
        ids = [h.execution_id for h in headers]
        assert len(await line.store.existing_executions(ids)) == 20
        # (d3 ended a minute after the cutoff)
        assert {i for i, p in paths.items() if not p.exists()} == {f"d{d}" for d in range(4, 10)}
        assert report.files == 6
        assert report.logs == 2 * 5
        with_logs = {i for i in ids if await line.store.logs(i)}
        assert with_logs == {f"d{d}" for d in range(5)} | {f"k{d}" for d in range(10)}

        # the next round starts where this one stopped (kept in the trigger state)
        state = await line.store.get_trigger_state("retention/files/*")
        assert state is not None and state["id"] == "d4"
        await line.clock.advance(86_400)
        assert (await line.job.run_once()).files == 1  # d3 is now past 3 days


# -- Kafka: the topics keep what the store keeps ---------------------------------------


def test_the_events_and_requests_topics_get_the_longest_execution_retention() -> None:
    settings = load_settings(
        environ={"PODIUM_BUS": "kafka://127.0.0.1:9"},
        overrides={
            "retention.executions": "P7D",
            "retention.namespaces": {"prod": {"executions": "P30D"}},
        },
    )
    podium = Podium(settings)
    month = timedelta(days=30)
    assert podium._topic_retention() == {"podium.events": month, "podium.requests": month}
    bus = KafkaBus.from_url(settings.bus, topic_retention=podium._topic_retention())
    assert bus.topic_configs["podium.events"] == {"retention.ms": str(30 * 86_400_000)}
    assert "podium.kv" not in bus.topic_configs  # KV entries are state: kept
    assert Podium(load_settings(environ={}))._topic_retention() == {}


async def test_a_kafka_topic_is_created_with_its_retention_and_an_existing_one_is_told(
    kafka_url: str,  # noqa: F811 - the fixture
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Created with `retention.ms`; an existing topic gets AlterConfigs, and a broker
    that refuses it (the Tansu of the tests does) leaves the bus working and the
    operator the command to run."""
    topic = f"podium-retention-{os.urandom(4).hex()}"
    async with make_bus(kafka_url, topic_retention={topic: timedelta(days=7)}) as bus:
        await bus.publish(topic, "k", b"created")
    caplog.set_level(logging.INFO, logger="podium")
    async with make_bus(kafka_url, topic_retention={topic: timedelta(days=30)}) as bus:
        await bus.publish(topic, "k", b"again")
        values = [r.value async for batch in bus.read_all(topic) for r in batch]
        assert values == [b"created", b"again"]
    said = " ".join(r.getMessage() for r in caplog.records)
    assert f"set {{'retention.ms': '{30 * 86_400_000}'}}" in said or (
        f"--entity-name {topic} --add-config retention.ms={30 * 86_400_000}" in said
    ), said


async def test_an_execution_restarted_after_it_was_selected_keeps_its_rows_and_files(
    tmp_path: Path,
) -> None:
    async with pipeline("sqlite", tmp_path, {}) as line:
        old = NOW - timedelta(days=40)
        await apply(line.store, [*history(execution("a", old)), *history(execution("b", old))])
        folders = {
            i: line.storage.path_of(
                line.storage.write(f"company/team/nightly/executions/{i}/f.txt", b"x")
            )
            for i in ("a", "b")
        }
        purger = line.job.purger
        selected = await line.store.purge_candidates(PurgeSelection(end=NOW))
        assert [c.id for c in selected] == ["a", "b"]
        # between the read and the deletion, `a` is restarted: it runs again
        await apply(line.store, [execution("a", old, state=State.RESTARTED, seq=3)])

        counts = await purger._purge_batch(
            selected, executions=True, logs=True, metrics=True, storage=True
        )

        assert counts.executions == 1 and counts.files == 1
        stored = await line.store.get_execution("a")
        assert stored is not None and stored.state is State.RESTARTED
        assert len(await line.store.logs("a")) == 2 and folders["a"].exists()
        assert await line.store.get_execution("b") is None and not folders["b"].exists()


async def test_a_failing_round_is_reported_and_the_job_goes_on(tmp_path: Path) -> None:
    async with pipeline("sqlite", tmp_path, {"executions": "P7D", "interval": 1}) as line:
        assert isinstance(line.store, SqliteStore)
        await line.store.close()  # every read of the round now fails
        running = asyncio.create_task(line.job.run())
        await line.job.first_round.wait()
        assert line.job.last_error is not None and line.job.rounds == 0
        assert not running.done()  # it waits for the next round
        line.job.stop()
        await running
