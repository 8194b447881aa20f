"""A seeded chaos run: Podium's roles as processes on a Tansu broker and a private
PostgreSQL, a random mix of work, a fault every few seconds, then the invariant checker.

    ChaosRun(seconds, seed).run()  ->  ChaosReport

Work: executions of each API flow (sequential, parallel, ForEach, subflow, retries,
a shell script that prints a secret, a concurrency-limited flow) started through the API,
webhook calls, files dropped into a watched folder, and a schedule firing every 2 s.
Faults, one every `fault_every` seconds, in a seeded order that goes through every kind
before repeating one: kill -9 an executor, the projector, the scheduler or the webserver
(each restarted at once), restart PostgreSQL, SIGSTOP an executor past its session timeout,
add an executor, remove one (SIGTERM), kill -9 the executor of a script in the middle of
the script's body, and kill -9 the executor of a script between the script's start and
its guard's (executors wait PODIUM_TEST_GUARD_DELAY_SECONDS there, so that moment can
be hit). After the settling, no process of any script may be left (orphans).

When the time is up every role is running again; the scheduler is stopped (no new
slots), every accepted execution must settle, the projector must catch up, and then
tests/support/invariants.py checks the event log and the store, including that the
secret appears in no event, no stored row, no API answer and no role's log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.states import State
from engine.store import open_store
from tests.chaos.flows import (
    API_FLOWS,
    CONCURRENCY_LIMITS,
    NAMESPACE,
    SCHEDULE_EVERY,
    SECRET_ENV,
    SECRET_VALUE,
    WEBHOOK_KEY,
    flow_sources,
)
from tests.e2e.production.cluster import ADMIN, Cluster, Role
from tests.support.invariants import check_invariants
from tests.support.kafka import make_bus, running_broker
from tests.support.pg_instance import PostgresInstance

__all__ = ["FAULTS", "ChaosReport", "ChaosRun"]

FAULTS = (
    "kill-executor",
    "kill-projector",
    "kill-scheduler",
    "kill-webserver",
    "restart-postgresql",
    "stop-executor",
    "add-executor",
    "remove-executor",
    "kill-in-task-body",
    "kill-before-guard",
)
GUARD_DELAY_SECONDS = 0.5
TARGET_SECONDS = 10.0  # how long a script fault waits for a script to be in its moment
SESSION_TIMEOUT_SECONDS = 3.0  # KAFKA_TEST_OPTIONS in tests/e2e/production/cluster.py
SETTLE_SECONDS = 180.0
SETTLE_BOUND = timedelta(seconds=240)


@dataclass
class ChaosReport:
    seed: int
    seconds: float
    actions: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    by_flow: Counter[str] = field(default_factory=Counter)
    files_dropped: int = 0
    slots_fired: int = 0
    longest_execution_seconds: float = 0.0
    events: int = 0
    problems: list[str] = field(default_factory=list)
    fenced: int = 0  # events of executors that had lost their executions (engine/fencing.py)
    elapsed: float = 0.0
    # script faults that found no script in their moment, and fell back to kill-executor
    missed: Counter[str] = field(default_factory=Counter)
    orphans: int = 0

    def summary(self) -> str:
        lines = [
            f"chaos run: seed {self.seed}, {self.seconds:g}s of chaos, {self.elapsed:.0f}s in all",
            f"  work: {dict(sorted(self.actions.items()))}",
            f"  refused while a role was down: {dict(sorted(self.refused.items()))}",
            f"  faults: {sum(self.faults.values())} {dict(sorted(self.faults.items()))}"
            + (f" (no script found in time: {dict(self.missed)})" if self.missed else ""),
            f"  executions: {sum(self.states.values())} "
            f"({len(self.accepted)} accepted by the API or a webhook, "
            f"{self.files_dropped} files dropped, {self.slots_fired} schedule slots)",
            f"  by flow: {dict(sorted(self.by_flow.items()))}",
            f"  final states: {dict(sorted(self.states.items()))}",
            f"  longest execution: {self.longest_execution_seconds:.1f}s; events: {self.events}"
            f" ({self.fenced} fenced off, from executors that had lost their executions)",
            f"  script processes left after the run: {self.orphans}",
        ]
        if self.problems:
            lines.append(f"  INVARIANTS BROKEN ({len(self.problems)}):")
            lines += [f"    - {p}" for p in self.problems[:50]]
        else:
            lines.append("  every invariant held")
        return "\n".join(lines)


class ChaosRun:
    def __init__(
        self,
        seconds: float,
        seed: int,
        workdir: Path,
        *,
        fault_every: float = 5.0,
        faults: tuple[str, ...] = FAULTS,
        say: Any = print,
    ) -> None:
        self.faults = faults
        self.seconds = seconds
        self.seed = seed
        self.workdir = workdir
        self.fault_every = fault_every
        self.random = random.Random(seed)
        self.report = ChaosReport(seed, seconds)
        self._say = say
        self._start = time.monotonic()
        self._serial = 0
        self._logs: list[Path] = []
        self._stopped: dict[str, datetime] = {}  # executors under SIGSTOP, since when
        self._zombie_touched: set[str] = set()  # executions a woken executor wrote to
        self.run_marker = f"chaos-{seed}-{time.time_ns()}"

    def __repr__(self) -> str:
        return f"<ChaosRun seed={self.seed} {self.seconds:g}s>"

    def say(self, text: str) -> None:
        self._say(f"[{time.monotonic() - self._start:6.1f}s] {text}")

    # -- the run ----------------------------------------------------------------

    def run(self) -> ChaosReport:
        drops = self.workdir / "drops"
        drops.mkdir(parents=True, exist_ok=True)
        with running_broker() as broker, PostgresInstance() as postgres:
            self.postgres = postgres
            cluster = self.cluster = Cluster(self.workdir, broker.url, postgres.url)
            cluster.environ.update(
                SECRET_ENV,
                PODIUM_ALLOWED_PATHS=str(drops),
                PODIUM_TEST_GUARD_DELAY_SECONDS=str(GUARD_DELAY_SECONDS),
            )
            try:
                self._deploy(drops)
                self._start_roles()
                self._chaos(drops)
                self._settle()
                self._check(broker.url)
            finally:
                for name in list(self._stopped):
                    with contextlib.suppress(ProcessLookupError):
                        cluster.roles[name].process.send_signal(signal.SIGCONT)
                cluster.stop_all()
        self.report.elapsed = time.monotonic() - self._start
        return self.report

    def _deploy(self, drops: Path) -> None:
        folder = self.workdir / "flows"
        folder.mkdir(exist_ok=True)
        for name, source in flow_sources(drops, self.run_marker).items():
            (folder / f"{name}.yaml").write_text(source)
        self.cluster.cli("db", "migrate")
        self.cluster.cli("flow", "deploy", str(folder))

    def _start_roles(self) -> None:
        for role in ("projector", "executor", "executor", "scheduler", "webserver"):
            self._launch(role, wait=False)
        for started in list(self.cluster.roles.values()):
            self.cluster.wait_up(started)
        self.say(f"started {sorted(self.cluster.roles)}")

    def _launch(self, role: str, *, wait: bool = True) -> Role:
        self._serial += 1
        started = self.cluster.start(f"{role}-{self._serial}", role, wait=wait)
        self._logs.append(started.log)
        return started

    def _roles(self, role: str) -> list[str]:
        return sorted(
            name
            for name, r in self.cluster.roles.items()
            if r.role == role and r.is_running and name not in self._stopped
        )

    def _chaos(self, drops: Path) -> None:
        deadline = self._start + self.seconds + self._elapsed_before_chaos()
        plan: list[str] = []
        next_fault = time.monotonic() + self.fault_every / 2
        rounds = 0
        # Past the deadline only to finish the first round: every kind of fault happens.
        while time.monotonic() < deadline or (rounds == 1 and plan):
            if time.monotonic() >= next_fault:
                if not plan:
                    plan = list(self.faults)
                    self.random.shuffle(plan)
                    rounds += 1
                self._fault(plan.pop())
                next_fault = time.monotonic() + self.fault_every * self.random.uniform(0.6, 1.4)
            self._work(drops)
            self._watch_roles()
            time.sleep(self.random.uniform(0.05, 0.35))
        for name in list(self._stopped):
            self._continue(name)

    def _elapsed_before_chaos(self) -> float:
        return time.monotonic() - self._start

    # -- work ---------------------------------------------------------------------

    def _work(self, drops: Path) -> None:
        roll = self.random.random()
        if roll < 0.7:
            flow = self.random.choice(API_FLOWS)
            self.report.actions[f"api:{flow}"] += 1
            try:
                body = {"n": self.random.randint(0, 999)} if flow == "sequential" else {}
                created = self._api("POST", f"/api/v1/executions/{NAMESPACE}/{flow}", body)
                self.report.accepted.append(str(created["id"]))
            except (OSError, urllib.error.URLError) as exc:
                self.report.refused[f"api: {_reason(exc)}"] += 1
        elif roll < 0.9:
            self.report.actions["webhook"] += 1
            try:
                path = f"/api/v1/executions/webhook/{NAMESPACE}/hooked/{WEBHOOK_KEY}"
                created = self._api("POST", path, {"n": self._serial}, auth=False)
                self.report.accepted.append(str(created["id"]))
            except (OSError, urllib.error.URLError) as exc:
                self.report.refused[f"webhook: {_reason(exc)}"] += 1
        else:
            self.report.actions["file-drop"] += 1
            self.report.files_dropped += 1
            target = drops / f"drop-{self.report.files_dropped:05}.txt"
            partial = target.with_suffix(".tmp")
            partial.write_text(f"file {self.report.files_dropped}\n")
            partial.rename(target)

    def _api(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        running = self._roles("webserver")
        if not running:
            raise ConnectionRefusedError("no webserver is running")
        webserver = self.cluster.roles[running[0]]
        headers = {"Content-Type": "application/json"}
        if auth:
            token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(
            f"http://127.0.0.1:{webserver.port}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    # -- faults -------------------------------------------------------------------

    def _fault(self, kind: str) -> None:
        self.report.faults[kind] += 1
        if kind in ("kill-in-task-body", "kill-before-guard"):
            self._kill_script_executor(is_gated=kind == "kill-before-guard")
        elif kind.startswith("kill-"):
            role = kind.removeprefix("kill-")
            victim = self.random.choice(self._roles(role))
            pid = self.cluster.roles[victim].process.pid
            self.cluster.kill(victim)
            del self.cluster.roles[victim]
            replacement = self._launch(role)
            self.say(f"kill -9 {victim} (pid {pid}); started {replacement.name}")
        elif kind == "restart-postgresql":
            down = self.random.uniform(0.5, 3.0)
            self.postgres.restart(down_seconds=down)
            self.say(f"restarted PostgreSQL ({down:.1f}s down)")
        elif kind == "stop-executor":
            victim = self.random.choice(self._roles("executor"))
            pause = SESSION_TIMEOUT_SECONDS + self.random.uniform(1.0, 4.0)
            self.cluster.roles[victim].process.send_signal(signal.SIGSTOP)
            self._stopped[victim] = datetime.now(UTC)
            self.say(f"SIGSTOP {victim} for {pause:.1f}s (session timeout 3s)")
            time.sleep(pause)
            self._continue(victim)
        elif kind == "add-executor":
            added = self._launch("executor")
            self.say(f"added {added.name} (executors: {self._roles('executor')})")
        elif kind == "remove-executor":
            executors = self._roles("executor")
            if len(executors) < 2:
                added = self._launch("executor")
                executors = self._roles("executor")
                self.say(f"added {added.name} first, to keep one executor")
            victim = self.random.choice(executors)
            self.cluster.kill(victim, signal.SIGTERM)
            del self.cluster.roles[victim]
            self.say(f"removed {victim} with SIGTERM (executors: {self._roles('executor')})")

    def _scripts(self, *, is_gated: bool) -> list[tuple[int, int]]:
        """(pid, parent pid) of this run's script processes: waiting at their gate for
        the guard (`is_gated`), or running the script's body."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                status = (entry / "status").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if f"CHAOS_RUN={self.run_marker}".encode() not in environ or "State:\tZ" in status:
                continue
            if (b"\x00podium-gate\x00" in cmdline) is is_gated:
                ppid = int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
                found.append((int(entry.name), ppid))
        return found

    def _kill_script_executor(self, *, is_gated: bool) -> None:
        """kill -9 the executor that runs a script now, in the moment the fault is about;
        a plain kill-executor if no script gets there within TARGET_SECONDS."""
        kind = "kill-before-guard" if is_gated else "kill-in-task-body"
        with contextlib.suppress(OSError, urllib.error.URLError):  # a script to be there
            created = self._api("POST", f"/api/v1/executions/{NAMESPACE}/script", {})
            self.report.accepted.append(str(created["id"]))
            self.report.actions["api:script"] += 1
        deadline = time.monotonic() + TARGET_SECONDS
        while time.monotonic() < deadline:
            executors = {self.cluster.roles[n].process.pid: n for n in self._roles("executor")}
            targets = [(pid, executors[ppid]) for pid, ppid in self._scripts(is_gated=is_gated)
                       if ppid in executors]  # fmt: skip
            if targets:
                script, victim = targets[0]
                self.cluster.kill(victim)
                del self.cluster.roles[victim]
                replacement = self._launch("executor")
                self.say(f"{kind}: kill -9 {victim} (script pid {script}); started "
                         f"{replacement.name}")  # fmt: skip
                return
            time.sleep(0.01)
        self.report.missed[kind] += 1
        self.say(f"{kind}: no script in that moment within {TARGET_SECONDS:g}s; kill-executor")
        self._fault("kill-executor")
        self.report.faults["kill-executor"] -= 1  # counted as the fault it stood in for

    def _watch_roles(self) -> None:
        """A role that exits without being told to is a finding: reported, and replaced."""
        for name, role in list(self.cluster.roles.items()):
            if role.is_running:
                continue
            tail = role.log_tail(1500).strip().splitlines()[-6:]
            kept = Path(tempfile.gettempdir()) / "podium-chaos-crashes" / f"{self.seed}-{name}.log"
            kept.parent.mkdir(exist_ok=True)
            shutil.copyfile(role.log, kept)
            self.report.problems.append(
                f"{name} exited by itself (code {role.process.returncode}; log kept in "
                f"{kept}): " + " | ".join(tail)
            )
            del self.cluster.roles[name]
            replacement = self._launch(role.role)
            self.say(
                f"{name} EXITED BY ITSELF (code {role.process.returncode}); started {replacement.name}"
            )

    def _explain(self, events: list[dict[str, Any]]) -> None:
        """The events of the executions a remaining problem names, to see what happened."""
        named = {m for p in self.report.problems for m in re.findall(r"execution (\w+)", p)}
        for execution_id in sorted(named)[:5]:
            self.say(f"events of execution {execution_id}:")
            for doc in sorted(
                (d for d in events if d.get("execution_id") == execution_id),
                key=lambda d: (d.get("seq", 0), d["kind"]),
            ):
                self.say(
                    f"    seq {doc.get('seq')} {doc['at']} {doc['kind']} "
                    f"{doc.get('task_id') or ''} {doc.get('state') or ''} "
                    f"attempt={doc.get('attempt', '')}"
                )

    def _continue(self, name: str) -> None:
        del self._stopped[name]
        self.cluster.roles[name].process.send_signal(signal.SIGCONT)
        self.say(f"SIGCONT {name}")

    # -- the end ------------------------------------------------------------------

    def _settle(self) -> None:
        self.say("chaos over; waiting for every dropped file to fire")
        asyncio.run(self._wait_settled(files_only=True))
        for name in self._roles("scheduler"):  # no new slots from here on
            self.cluster.kill(name, signal.SIGTERM)
            del self.cluster.roles[name]
        self.say("scheduler stopped; waiting for every execution to settle")
        asyncio.run(self._wait_settled())
        self.say("settled; projector caught up")

    async def _wait_settled(self, *, files_only: bool = False) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        async with open_store(self.cluster.store_url) as store:
            while True:
                executions = await store.list_executions(limit=1_000_000)
                known = {e.execution_id: e for e in executions}
                pending = [i for i in self.report.accepted if i not in known]
                pending += [
                    e.execution_id
                    for e in executions
                    if not e.state.is_terminal and e.state not in (State.QUEUED, State.PAUSED)
                ]
                by_flow = Counter(e.flow_id for e in executions)
                files_missing = by_flow["dropped"] < self.report.files_dropped
                projector = self.cluster.roles[self._roles("projector")[0]]
                lag = (await asyncio.to_thread(projector.health))["projector"]["lag"]
                if files_only and not files_missing:
                    return
                if not pending and not files_missing and lag == 0:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"after {SETTLE_SECONDS:g}s: {len(pending)} executions unsettled "
                        f"(e.g. {pending[:5]}), {by_flow['dropped']} of "
                        f"{self.report.files_dropped} files fired, projector lag {lag}"
                    )
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.5)  # the last log batches of ended executions
        self.report.states = Counter(e.state.value for e in executions)
        self.report.by_flow = by_flow
        self.report.slots_fired = by_flow["ticking"]
        self.report.longest_execution_seconds = max(
            ((e.ended_at - e.created_at).total_seconds() for e in executions if e.ended_at),
            default=0.0,
        )

    def _check(self, broker_url: str) -> None:
        left = self._scripts(is_gated=True) + self._scripts(is_gated=False)
        self.report.orphans = len(left)
        if left:
            self.report.problems.append(
                f"{len(left)} script processes outlived the run (pid, parent): {left[:10]}"
            )
            for pid, _ in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        asyncio.run(self._check_async(broker_url))
        self.report.elapsed = time.monotonic() - self._start  # so far: the roles still stop
        self.say(self.report.summary())

    async def _check_async(self, broker_url: str) -> None:
        texts = {f"log {path.name}": path.read_text(errors="replace") for path in self._logs}
        for execution_id in self.report.accepted[-20:]:
            with contextlib.suppress(OSError, urllib.error.URLError):
                answer = self._api("GET", f"/api/v1/executions/{execution_id}")
                texts[f"GET /api/v1/executions/{execution_id}"] = json.dumps(answer)
                logs = self._api("GET", f"/api/v1/logs/{execution_id}")
                texts[f"GET /api/v1/logs/{execution_id}"] = json.dumps(logs)
        replay_url = self.postgres.url.rsplit("/", 1)[0] + "/replay"
        import asyncpg

        connection = await asyncpg.connect(self.postgres.url)
        try:
            await connection.execute("CREATE DATABASE replay")
        finally:
            await connection.close()
        from tests.support.invariants import counted, read_events

        async with (
            make_bus(broker_url) as bus,
            open_store(self.cluster.store_url) as store,
            open_store(replay_url) as empty,
        ):
            events = await read_events(bus)
            self.report.events = len(events)
            self.report.fenced = len(events) - len(counted(events))
            self.report.problems += await check_invariants(
                bus,
                store,
                empty,
                settle_within=SETTLE_BOUND,
                concurrency_limits=CONCURRENCY_LIMITS,
                contiguous_schedules={f"{NAMESPACE}/ticking": SCHEDULE_EVERY},
                secrets=[SECRET_VALUE],
                texts=texts,
            )
        self._explain(events)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", exc)
    return type(reason).__name__


@contextlib.contextmanager
def temporary_workdir(keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="podium-chaos-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
