"""Retention: the scheduler role's job that deletes what is past `retention.*`.

Settings (engine/settings.py, `RetentionSection`) give how long ended executions, log
lines and execution files are kept, globally and per namespace. They resolve into
`RetentionScope`s, one per namespace named plus the global one, each knowing the
namespaces beneath it that have a scope of their own (and so are left to it). Each round
(`RetentionJob.run_once`, at start and every `retention.interval` seconds) purges, per
scope, through the `Purger` (engine/purge.py), in batches:

- executions that ended before now − `executions`, with their task runs, state history,
  logs, metrics and files (never one that has not ended);
- log lines stamped before now − `logs` (of executions kept longer, or of none);
- the files of executions that ended before now − `files`, the execution kept; where it
  stopped is kept in the trigger state, so each round starts where the last one ended.

On Kafka the events and requests topics get the same retention (`topic_retention`), so
the bus does not keep for ever what the store no longer does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.clock import Clock, SystemClock
from engine.errors import TransientError
from engine.plugin import LogSelection, PurgeCounts, PurgeSelection
from engine.purge import Purger
from engine.settings import RetentionRule, RetentionSection

__all__ = ["RetentionJob", "RetentionScope", "retention_scopes", "topic_retention"]

log = logging.getLogger("podium.retention")

FILES_STATE = "retention/files/"  # + the scope's namespace, or `*`


@dataclass(frozen=True)
class RetentionScope:
    """The periods that apply to `namespace` and its children (None: the global scope),
    except the namespaces in `excluded`, which have scopes of their own."""

    namespace: str | None
    executions: timedelta | None
    logs: timedelta | None
    files: timedelta | None
    excluded: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"<RetentionScope {self.namespace or '*'} executions={self.executions} logs={self.logs} files={self.files}>"


def _is_within(name: str, namespace: str) -> bool:
    return name == namespace or name.startswith(namespace + ".")


def retention_scopes(section: RetentionSection) -> list[RetentionScope]:
    """The global scope and one per namespace named, with what each inherits filled in."""
    names = sorted(section.namespaces)

    def resolved(namespace: str | None, field: str) -> timedelta | None:
        rules: list[RetentionRule] = [section]
        if namespace is not None:  # less specific first
            rules += [section.namespaces[n] for n in names if _is_within(namespace, n)]
        value = None
        for rule in rules:
            value = getattr(rule, field) or value
        return value

    scopes = []
    for namespace in (None, *names):
        beneath = tuple(
            n for n in names if n != namespace and (namespace is None or _is_within(n, namespace))
        )
        scopes.append(
            RetentionScope(
                namespace,
                resolved(namespace, "executions"),
                resolved(namespace, "logs"),
                resolved(namespace, "files"),
                beneath,
            )
        )
    return scopes


def topic_retention(section: RetentionSection) -> timedelta | None:
    """How long the events and requests topics keep records: the longest execution
    retention of any scope; None (the broker's default) when some scope keeps its
    executions for ever."""
    periods = [scope.executions for scope in retention_scopes(section)]
    if not section.is_set or any(p is None for p in periods):
        return None
    return max(p for p in periods if p is not None)


@dataclass
class RetentionReport:
    """What one round deleted."""

    executions: PurgeCounts
    logs: int
    files: int

    def __repr__(self) -> str:
        done = self.executions
        return (
            f"<RetentionReport executions={done.executions} (their logs={done.logs},"
            f" files={done.files}) logs={self.logs} files={self.files}>"
        )


class RetentionJob:
    def __init__(
        self, purger: Purger, section: RetentionSection, *, clock: Clock | None = None
    ) -> None:
        self.purger = purger
        self.section = section
        self.scopes = retention_scopes(section)
        self.clock = clock or SystemClock()
        self.rounds = 0
        self.last_error: str | None = None
        self._stopping = asyncio.Event()
        self.first_round = asyncio.Event()  # set once the round at start is over

    def __repr__(self) -> str:
        return f"<RetentionJob {len(self.scopes)} scopes rounds={self.rounds}>"

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """A round now, then one every `interval` seconds, until `stop()`."""
        while not self._stopping.is_set():
            try:
                report = await self.run_once()
                self.last_error = None
                log.info("retention: %r", report)
            except TransientError as exc:  # the store or bus is away: the next round
                self.last_error = str(exc)
                log.warning("retention round failed: %s", exc)
            except Exception as exc:  # a bug here must not stop the scheduler's triggers
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("retention round failed")
            self.first_round.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.section.interval)

    async def run_once(self) -> RetentionReport:
        now = self.clock.now()
        report = RetentionReport(PurgeCounts(), 0, 0)
        for scope in self.scopes:
            if self._stopping.is_set():
                break
            if scope.executions is not None:
                progress = await self.purger.purge(
                    PurgeSelection(
                        end=now - scope.executions,
                        namespace=scope.namespace,
                        excluded=scope.excluded,
                    ),
                    batch_size=self.section.batch_size,
                )
                report.executions += progress.counts
            if scope.logs is not None:
                report.logs += await self.purger.purge_logs(
                    LogSelection(
                        end=now - scope.logs, namespace=scope.namespace, excluded=scope.excluded
                    )
                )
            if scope.files is not None:
                report.files += await self._purge_files(scope, now - scope.files)
        self.rounds += 1
        return report

    async def _purge_files(self, scope: RetentionScope, cutoff: datetime) -> int:
        store = self.purger.store
        key = FILES_STATE + (scope.namespace or "*")
        state = await store.get_trigger_state(key) or {}
        after = (datetime.fromisoformat(state["ended_at"]), state["id"]) if state else None
        progress = await self.purger.purge(
            PurgeSelection(end=cutoff, namespace=scope.namespace, excluded=scope.excluded),
            executions=False,
            logs=False,
            metrics=False,
            storage=True,
            batch_size=self.section.batch_size,
            after=after,
        )
        if progress.last is not None and progress.last != after:
            ended_at, execution_id = progress.last
            await store.set_trigger_state(
                key, {"ended_at": ended_at.isoformat(), "id": execution_id}
            )
        return progress.counts.files
