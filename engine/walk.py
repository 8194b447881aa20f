"""Walking one execution: task runs, attempts, retries, timeouts, branches, events.

An `ExecutionWalk` is the life of one execution inside its owning executor. It turns the
flow's task tree into task runs with deterministic ids (execution id + parent run + task
id + loop value + iteration), so walking the same execution again after a crash meets the
same ids: runs that had finished return their recorded outputs, the others run again.

Every state change is published as an event before anything depends on it. The walk
never touches the store; the projector turns its events into rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from engine import sla
from engine.clock import Clock
from engine.context import TaskRunContext
from engine.durations import parse_duration
from engine.errors import PodiumError, TaskFailed, TaskTimeout, TemplateError
from engine.events import (
    ExecutionChanged,
    ExecutionRequested,
    KillRequested,
    LogLine,
    LogsEmitted,
    MetricEmitted,
    Request,
    TaskRunChanged,
    encode_new,
    encode_whole,
    evolve,
    new_event_id,
)
from engine.file_reader import file_reader_for
from engine.flow import Flow
from engine.flows import FlowRepository
from engine.kv.loading import load_snapshot, mentions_kv, task_templates
from engine.kv.service import KvService
from engine.nsfiles import NamespaceFiles
from engine.plugin import ExecutionHistory, Retry, Task, TriggerSwitch
from engine.states import State, worst
from engine.storage import LocalStorage, safe_name
from engine.task_cache import cache_key, rendered_properties, run_cached
from engine.templating import Renderer
from engine.templating.execution_functions import ERROR_LOGS
from engine.templating.kv import KvSnapshot, reading_kv
from engine.templating.reading import reading
from engine.values import jsonable

__all__ = ["ExecutionWalk", "Exit", "Runtime", "TaskRun", "task_run_id"]

log = logging.getLogger("podium.walk")

LOG_FLUSH_SECONDS = 0.1
LOG_FLUSH_LINES = 500
LOG_FLUSH_BYTES = 256 << 10
ERROR_LOGS_KEPT = 100  # for `errorLogs()`: an alert needs the last errors, not all
MAX_LOG_LINE_BYTES = 1 << 20  # longer lines are cut (and say so); as the script runners
_NO_TIMEOUT = contextlib.nullcontext()


def task_run_id(parent_id: str, task_id: str, value: str | None, iteration: int | None) -> str:
    """Deterministic, so a replayed walk finds the runs it already did."""
    key = f"{parent_id}\x1f{task_id}\x1f{value if value is not None else ''}\x1f{iteration if iteration is not None else ''}"
    return hashlib.blake2b(key.encode(), digest_size=11).hexdigest()


@dataclass
class Runtime:
    """What the executor lends every walk."""

    publish_event: Callable[[Any], Awaitable[None]]
    publish_request: Callable[[Request], Awaitable[None]]
    clock: Clock
    renderer: Renderer
    storage: LocalStorage
    task_slots: asyncio.Semaphore
    work_root: Path
    cache_root: Path
    namespace_files: NamespaceFiles
    envs: Mapping[str, str] = field(default_factory=dict)
    # Server variables scripts may see besides PATH, HOME, LANG, TZ (scripts.env_allow).
    script_env_allow: tuple[str, ...] = ()
    globals: Mapping[str, Any] = field(default_factory=dict)  # Kestra's server-wide variables
    fetch_logs: Callable[..., Awaitable[list[LogLine]]] | None = None
    # (header, task runs) of an execution once projected; None when unknown
    fetch_execution: (
        Callable[[str], Awaitable[tuple[ExecutionChanged, list[TaskRunChanged]] | None]] | None
    ) = None
    ui_url: str = "http://localhost:8080"  # the server's public URL, for links to the UI
    kv: KvService | None = None  # set by the server; None where KV is not served
    # RunContext.history (counting and purging past executions); set by the server
    purger: ExecutionHistory | None = None
    flows: FlowRepository | None = None  # for git.SyncFlows/PushFlows (RunContext.flows)
    triggers: TriggerSwitch | None = None  # for trigger.Toggle; set by the server
    is_shutting_down: bool = False
    # Outputs travel inside events: above this (JSON bytes) a task run fails with a clear
    # error rather than an event the bus refuses (settings: max_record_bytes).
    max_output_bytes: int = 4 << 20
    # The next attempt of a failed execution as a new one (engine/reruns.py: plan_retry),
    # or None when the policy does not retry that way or is spent.
    plan_retry: Callable[[ExecutionChanged, Retry | None], ExecutionRequested | None] | None = None


@dataclass(frozen=True)
class Exit:
    """An Exit task ended the execution: `state` is its end, `runs` the Exit's own run
    and its ancestors, which end in that state too."""

    state: State
    task_run_id: str
    runs: frozenset[str]


@dataclass(eq=False)
class TaskRun:
    id: str
    task: Task
    parent: TaskRun | None
    value: str | None
    values: tuple[str, ...]
    iteration: int | None
    created_at: datetime
    state: State = State.CREATED
    attempt: int = 1
    recovered: int = 0  # attempts that were runs again after a stopped executor
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    child_states: list[State] = field(default_factory=list)
    has_warning: bool = False
    shared_dir: Path | None = None  # set by WorkingDirectory for its children
    log_files: dict[int, str] = field(default_factory=dict)  # attempt -> URI (logToFile)
    kv: KvSnapshot | None = None  # the KV entries its templates read (engine/kv/loading.py)

    def __repr__(self) -> str:
        return f"<TaskRun {self.task.id} {self.id} {self.state} attempt={self.attempt}>"


class ExecutionWalk:
    def __init__(
        self,
        runtime: Runtime,
        flow: Flow,
        header: ExecutionChanged,
        *,
        recorded: Sequence[TaskRunChanged] = (),
        last_seq: int = 0,
    ) -> None:
        self.runtime = runtime
        self.flow = flow
        self._event_key = flow.key  # every event of the execution is keyed by its flow
        self.header = header
        self.execution_id = header.execution_id  # the header is replaced; its id stays
        self.seq = max(last_seq, header.seq)
        self.recorded = {r.task_run_id: r for r in recorded}
        self.inputs: dict[str, Any] = dict(header.inputs)
        self.labels: dict[str, str] = dict(header.labels)
        # `vars`: the flow's variables until a task (SetVariables…) changes them
        self.variables: dict[str, Any] = (
            dict(header.variables) if header.has_own_variables else flow.variables
        )
        self.variables_changed = False
        self.exit: Exit | None = None  # set by an Exit task: nothing more starts
        self.outputs: dict[str, Any] = {}
        self.is_killing = False
        # Why the walk is stopped when not by a kill: (state, error), an SLA's (engine/sla.py)
        self.ended_by: tuple[State, str] | None = None
        # Given up by this executor (shutdown, or its partition moved): stop without
        # recording anything, so the next owner resumes the execution where it stands.
        self.is_abandoned = False
        self._start_forced: asyncio.Event | None = None  # set: stop waiting for not_before
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._log_buffer: list[LogLine] = []
        # What `errorLogs()` answers: the ERROR lines this walk emitted (the latest ones).
        self._error_logs: deque[LogLine] = deque(maxlen=ERROR_LOGS_KEPT)
        self._log_bytes = 0
        self._log_wakeup = asyncio.Event()
        # (task run id, attempt) -> the file its lines also go to (`logToFile: true`)
        self._log_files: dict[tuple[str, int], Path] = {}
        self._resume_waiters: dict[str, asyncio.Future[str]] = {}
        # a Pause's `onResume` inputs as the resume gave them, by task run id
        self.resumed_with: dict[str, dict[str, Any]] = {}
        self._child_waiters: dict[str, asyncio.Future[tuple[State, dict[str, Any]]]] = {}
        self._child_results: dict[str, tuple[State, dict[str, Any]]] = {}
        self._paused = 0
        self.labels_changed = False
        # a task `retry` with behavior CREATE_NEW_EXECUTION whose task failed: the whole
        # execution is retried as a new one, as Kestra does
        self.retry_as_new: Retry | None = None
        self.pending_metrics: list[tuple[TaskRun, str, float, str, dict[str, str]]] = []
        self._labels_seen: dict[str, str] | None = None
        self._labels_view: dict[str, Any] = {}
        self._base_context = self._make_base_context()
        self._reads_kv = runtime.kv is not None and "kv(" in (flow.source or flow.model_dump_json())

    def __repr__(self) -> str:
        return f"<ExecutionWalk {self.flow.key} {self.header.execution_id} {self.header.state}>"

    @property
    def is_leaving(self) -> bool:
        return (self.runtime.is_shutting_down or self.is_abandoned) and not self.is_killing

    @property
    def is_paused(self) -> bool:
        return self._paused > 0

    # -- events -------------------------------------------------------------------

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def set_state(self, state: State, **changes: Any) -> None:
        now = self.runtime.clock.now()
        if state is State.RUNNING and self.header.started_at is None:
            changes.setdefault("started_at", now)
        if state.is_terminal:
            changes.setdefault("ended_at", now)
        if changes.get("error"):
            changes["error"] = self._masked(changes["error"])
        self.header = evolve(
            self.header,
            {
                "state": state,
                "seq": self.next_seq(),
                "at": now,
                "labels": dict(self.labels),
                **changes,
            },
        )
        await self.runtime.publish_event(self.header)

    async def _publish_run(self, run: TaskRun, at: datetime | None = None) -> None:
        """Publish the run as it stands; `at` is when it changed (now if not given: a
        start or an end passes the time it recorded, so both read one clock)."""
        if self._log_buffer or self.pending_metrics:  # what flush_logs has to publish
            await self.flush_logs()
        self.seq += 1
        await self.runtime.publish_event(
            encode_whole(
                TaskRunChanged,
                self._event_key,
                {
                    "v": 1,
                    "kind": "TaskRunChanged",
                    "event_id": new_event_id(),
                    "execution_id": self.execution_id,
                    "namespace": self.flow.namespace,
                    "flow_id": self.flow.id,
                    "seq": self.seq,
                    "at": at if at is not None else self.runtime.clock.now(),
                    "task_run_id": run.id,
                    "task_id": run.task.id,
                    "parent_task_run_id": run.parent.id if run.parent else None,
                    "value": run.value,
                    "iteration": run.iteration,
                    "state": run.state,
                    "attempt": run.attempt,
                    "recovered": run.recovered,
                    "created_at": run.created_at,
                    "started_at": run.started_at,
                    "ended_at": run.ended_at,
                    "outputs": run.outputs,
                    "error": None if run.error is None else self._masked(run.error),
                    "log_files": run.log_files,
                },
            )
        )

    def log(self, run: TaskRun | None, level: str, message: str) -> None:
        """Buffer a log line. Safe to call from a task's worker thread too."""
        if self._loop_thread != threading.get_ident():
            self._loop.call_soon_threadsafe(self.log, run, level, message)
            return
        secrets = self.runtime.renderer.secrets
        if secrets is not None:
            message = secrets.mask(message)
        # a batch of lines must fit in one record too
        longest = min(MAX_LOG_LINE_BYTES, self.runtime.max_output_bytes // 4)
        if len(message) > longest:
            message = f"{message[:longest]}… [{len(message) - longest} more characters cut]"
        self._log_bytes += len(message)
        line = LogLine(
            at=self.runtime.clock.now(),
            level=level,
            message=message,
            task_run_id=run.id if run else None,
            task_id=run.task.id if run else None,
            attempt=run.attempt if run else None,
        )
        self._log_buffer.append(line)
        if level == "ERROR":
            self._error_logs.append(line)
        if len(self._log_buffer) >= LOG_FLUSH_LINES or self._log_bytes >= min(
            LOG_FLUSH_BYTES, self.runtime.max_output_bytes // 4
        ):
            self._log_wakeup.set()

    async def flush_logs(self) -> None:
        """Publish buffered log lines and metrics."""
        if self.pending_metrics:
            metrics, self.pending_metrics = self.pending_metrics, []
            for run, name, value, kind, tags in metrics:
                await self.metric(run, name, value, kind, tags)
        if not self._log_buffer:
            return
        lines, self._log_buffer, self._log_bytes = self._log_buffer, [], 0
        if self._log_files:
            await self._write_log_files(lines)
        await self.runtime.publish_event(
            encode_new(
                LogsEmitted,
                execution_id=self.execution_id,
                namespace=self.flow.namespace,
                flow_id=self.flow.id,
                seq=self.next_seq(),
                at=self.runtime.clock.now(),
                lines=tuple(lines),
            )
        )

    async def _write_log_files(self, lines: Sequence[LogLine]) -> None:
        """Append the lines of `logToFile` attempts to their files (the log stream keeps
        them too, so the API and UI show them as any other)."""
        by_file: dict[Path, list[str]] = {}
        for line in lines:
            if line.task_run_id is None or line.attempt is None:
                continue
            path = self._log_files.get((line.task_run_id, line.attempt))
            if path is not None:
                text = f"{line.at.isoformat()} {line.level} {line.message}\n"
                by_file.setdefault(path, []).append(text)
        if by_file:
            await asyncio.to_thread(_append_texts, by_file)

    def _open_log_file(self, run: TaskRun) -> None:
        """Name the internal-storage file of this attempt's log lines."""
        storage = self.runtime.storage
        uri = storage.uri_for(
            f"{self.flow.namespace.replace('.', '/')}/{self.flow.id}/executions/"
            f"{self.execution_id}/tasks/{safe_name(run.task.id)}/{run.id}/"
            f"attempt-{run.attempt}.log"
        )
        run.log_files[run.attempt] = uri
        self._log_files[(run.id, run.attempt)] = storage.path_of(uri)

    async def _flush_periodically(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._log_wakeup.wait(), LOG_FLUSH_SECONDS)
            except TimeoutError:
                pass
            self._log_wakeup.clear()
            await self.flush_logs()

    async def metric(
        self, run: TaskRun, name: str, value: float, kind: str, tags: Mapping[str, str]
    ) -> None:
        await self.runtime.publish_event(
            MetricEmitted(
                execution_id=self.execution_id,
                namespace=self.flow.namespace,
                flow_id=self.flow.id,
                seq=self.next_seq(),
                at=self.runtime.clock.now(),
                task_run_id=run.id,
                task_id=run.task.id,
                name=name,
                metric_kind=kind,
                value=value,
                tags=dict(tags),
            )
        )

    # -- the walk -------------------------------------------------------------------

    def error_logs(self) -> list[dict[str, Any]]:
        """The ERROR lines so far, as Kestra's `errorLogs()` gives them."""
        return [
            {
                "namespace": self.flow.namespace,
                "flowId": self.flow.id,
                "executionId": self.execution_id,
                "taskId": line.task_id,
                "taskRunId": line.task_run_id,
                "attemptNumber": line.attempt,
                "level": line.level,
                "message": line.message,
                "timestamp": line.at.isoformat(),
            }
            for line in self._error_logs
        ]

    def force_start(self) -> bool:
        """Stop waiting for `not_before` (a force-run); False when the walk is not waiting."""
        if self._start_forced is None or self._start_forced.is_set():
            return False
        self._start_forced.set()
        return True

    async def _wait_until(self, not_before: datetime) -> None:
        self._start_forced = forced = asyncio.Event()
        delay = (not_before - self.runtime.clock.now()).total_seconds()
        try:
            async with asyncio.TaskGroup() as group:
                napping = group.create_task(self.runtime.clock.sleep(delay))
                woken = group.create_task(forced.wait())
                await asyncio.wait((napping, woken), return_when=asyncio.FIRST_COMPLETED)
                napping.cancel()
                woken.cancel()
        finally:
            forced.set()

    async def run(self) -> State:
        """Walk the execution to its end and return its final state."""
        flow = self.flow
        ERROR_LOGS.set(self.error_logs)  # this task's context: every task run inherits it
        not_before = self.header.not_before
        if not_before is not None and self.header.started_at is None:
            await self._wait_until(not_before)
        if self.header.state is not State.RUNNING:
            await self.set_state(State.RUNNING)
        ending = await self._check_sla(is_start=True)
        if ending is not None:
            await self.set_state(ending[0], error=ending[1])
            return ending[0]
        try:
            async with asyncio.TaskGroup() as group:
                flusher = group.create_task(self._flush_periodically())
                try:
                    state = await self.run_list(
                        flow.tasks, parent=None, errors=flow.errors, finally_=flow.finally_
                    )
                    if self.exit is not None:
                        state = self.exit.state
                        self.exit = None  # afterExecution still runs, as after any end
                    outputs, error = await self._flow_outputs(state)
                    if error:
                        state = worst([state, State.FAILED])
                    if flow.afterExecution:
                        # they see the final state but cannot change it, as in Kestra
                        self._base_context["execution"]["state"] = state.value
                        await self.run_list(flow.afterExecution, parent=None)
                finally:
                    flusher.cancel()
            ending = await self._check_sla()
            if ending is not None:
                state, error = ending
            await self.flush_logs()
            if state is State.FAILED:
                state = await self._retry_as_new_execution(state)
            await self.set_state(state, outputs=outputs, error=error)
            return state
        except asyncio.CancelledError:
            if self.is_leaving:
                raise  # left RUNNING on purpose: the next owner resumes it
            self.is_killing = True
            await self.flush_logs()
            state, error = self.ended_by or (State.KILLED, None)
            await self.set_state(state, error=error)
            raise

    async def _check_sla(self, *, is_start: bool = False) -> tuple[State, str] | None:
        """The flow's EXECUTION_ASSERTION SLAs, checked now: the state to end in, if one
        that fails or cancels is violated (engine/sla.py). At the start, an assertion
        that cannot be rendered yet (it reads outputs) is left for the end."""
        if not self.flow.sla:
            return None
        violations = sla.assertion_violations(
            self.flow.sla, self.context_for(None), self.runtime.renderer
        )
        if is_start:
            violations = [v for v in violations if not v.is_error]
        state = sla.apply(self, violations) if violations else None
        await self.flush_logs()
        if state is None:
            if is_start and self.labels_changed:  # a NONE violation's labels, shown now
                self.labels_changed = False
                await self.set_state(self.header.state)
            return None
        return state, sla.ending_reason(violations)

    async def _retry_as_new_execution(self, state: State) -> State:
        """FAILED, or RETRIED once the next attempt is requested as a new execution."""
        plan = self.runtime.plan_retry
        if plan is None:
            return state
        retry = plan(self.header, self.retry_as_new or self.flow.retry)
        if retry is None:
            return state
        # published first: the id is its idempotency key if this walk is done again
        await self.runtime.publish_request(retry)
        self.log(None, "WARN", f"retried as execution {retry.execution_id}")
        await self.flush_logs()
        return State.RETRIED

    async def run_list(
        self,
        tasks: Sequence[Task],
        *,
        parent: TaskRun | None,
        value: str | None = None,
        is_new_value: bool = False,
        iteration: int | None = None,
        errors: Sequence[Task] = (),
        finally_: Sequence[Task] = (),
    ) -> State:
        """Run tasks one after another; the first failure stops the list and runs
        `errors`; `finally_` always runs. Returns the list's folded state."""
        states: list[State] = []
        for task in tasks:
            if task.disabled:
                continue
            state = await self.run_task(
                task, parent, value=value, is_new_value=is_new_value, iteration=iteration
            )
            states.append(state)
            if state.is_failure or self.exit is not None:
                break
        result = worst(states)
        if self.exit is not None:
            return result  # an Exit ended the execution: no errors or finally branch
        if result.is_failure and errors:
            await self.run_list(
                errors, parent=parent, value=value, is_new_value=is_new_value, iteration=iteration
            )
        if finally_:
            result = worst(
                [
                    result,
                    await self.run_list(
                        finally_,
                        parent=parent,
                        value=value,
                        is_new_value=is_new_value,
                        iteration=iteration,
                    ),
                ]
            )
        return result

    async def run_task(
        self,
        task: Task,
        parent: TaskRun | None,
        *,
        value: str | None = None,
        is_new_value: bool = False,
        iteration: int | None = None,
    ) -> State:
        # `taskrun.value` is the loop value on a ForEach's direct children only (Kestra);
        # deeper runs keep the chain of values in `values`, which keys their outputs.
        if parent is not None:
            values = (
                (*parent.values, value) if is_new_value and value is not None else parent.values
            )
            value = value if is_new_value else None
        else:
            values = (value,) if value is not None else ()
        run_id = task_run_id(parent.id if parent else self.execution_id, task.id, value, iteration)
        now = self.runtime.clock.now()
        run = TaskRun(run_id, task, parent, value, values, iteration, created_at=now)
        recorded = self.recorded.get(run_id)
        if recorded is not None:
            run.created_at = recorded.created_at
            run.attempt = recorded.attempt
            run.recovered = recorded.recovered
            run.log_files = dict(recorded.log_files)
            if recorded.state.is_terminal:
                run.state = recorded.state
                run.outputs = dict(recorded.outputs)
                self._record_outputs(run)
                if recorded.state is State.FAILED:  # walked again: decide the retry again
                    self._note_retry_as_new(self._retry_for(task, parent))
                exited = recorded.state is not State.SKIPPED and recorded.error is None
                if task.ends_execution and exited:  # rather than skipped or failed
                    self.exit_at(run, recorded.state)
                return recorded.state
            self._continue_after_stop(run, recorded.state)
        elif self.exit is not None:
            return State.SKIPPED  # never started: an Exit ended the execution
        if task.runIf is not None:
            try:
                await self._load_kv(run)
                should_run = self._run_if(task, run)
            except PodiumError as exc:
                run.error = f"runIf: {exc}"
                self.log(run, "ERROR", run.error)
                should_run, run.state = False, State.FAILED
            if not should_run:
                run.state = State.FAILED if run.error else State.SKIPPED
                run.ended_at = now
                await self._publish_run(run, now)
                return run.state

        policy = self._retry_for(task, parent)
        first_start = now
        state = State.FAILED
        while True:
            run.state = State.RUNNING
            run.started_at = self.runtime.clock.now()
            run.child_states.clear()
            run.has_warning = False
            run.error = None
            if task.logToFile:
                self._open_log_file(run)
            await self._publish_run(run, run.started_at)
            ctx = TaskRunContext(self, run)
            try:
                await self._load_kv(run)
                outputs = await self._attempt(task, ctx)
                run.outputs = self._masked(jsonable(outputs)) if outputs else {}
                self._check_size(f"the outputs of task {task.id}", run)
                state = worst(run.child_states) if task.is_flowable else State.SUCCESS
                if run.has_warning:
                    state = worst([state, State.WARNING])
            except asyncio.CancelledError:
                if not self.is_leaving:
                    run.state = State.KILLED
                    run.ended_at = self.runtime.clock.now()
                    await self._publish_run(run, run.ended_at)
                raise
            except Exception as exc:  # a task's failure, whatever its kind, fails the run
                if not isinstance(exc, PodiumError):
                    log.debug("task %s raised", task.id, exc_info=True)
                run.error = _describe(exc)
                if isinstance(exc, TaskFailed) and exc.outputs:
                    run.outputs = self._masked(jsonable(exc.outputs))
                self.log(run, "ERROR", run.error)
                state = State.FAILED
            finally:
                ctx.close()
            if (
                state is State.FAILED
                and policy is not None
                and policy.behavior == "RETRY_FAILED_TASK"
                and self._may_retry(policy, run, first_start)
            ):
                delay = policy.delay(run.attempt - run.recovered, random.random()).total_seconds()
                run.state = State.RETRYING
                self.log(run, "WARN", f"attempt {run.attempt} failed; retrying in {delay:g}s")
                await self._publish_run(run)
                await self.runtime.clock.sleep(delay)
                run.attempt += 1
                continue
            break

        if task.is_flowable:
            extra_errors = getattr(task, "errors", ())
            extra_finally = getattr(task, "finally_", ())
            if state.is_failure and extra_errors:
                await self.run_list(extra_errors, parent=run)
            if extra_finally:
                state = worst([state, await self.run_list(extra_finally, parent=run)])
        if (
            state is State.SUCCESS
            and run.attempt > 1
            and policy is not None
            and policy.warningOnRetry
        ):
            state = State.WARNING
        if state is State.FAILED and task.allowFailure:
            state = State.WARNING
        if state is State.WARNING and task.allowWarning:
            state = State.SUCCESS
        if self.exit is not None and run.id in self.exit.runs:
            state = self.exit.state
        if state is State.FAILED:
            self._note_retry_as_new(policy)
        if self.variables_changed:  # recorded before the run that changed them ends
            self.variables_changed = False
            await self.set_state(
                self.header.state,
                variables=self._masked(self.variables),
                has_own_variables=True,
            )
        run.state = state
        run.ended_at = self.runtime.clock.now()
        await self._publish_run(run, run.ended_at)
        self._record_outputs(run)
        if self.exit is not None and self.exit.task_run_id == run.id:
            await self._after_exit(run, self.exit.state)
        if self.labels_changed:
            self.labels_changed = False
            await self.set_state(self.header.state)
        return state

    async def _attempt(self, task: Task, ctx: Any) -> Mapping[str, Any] | None:
        cache = task.taskCache
        if cache is None or not cache.enabled or task.is_flowable:
            return await self._attempt_uncached(task, ctx)
        key = cache_key(
            self.flow.namespace, self.flow.id, task, rendered_properties(task, ctx.render)
        )
        return await run_cached(
            self.runtime.cache_root / "task-cache",
            key,
            cache.ttl,
            self.runtime.clock.now(),
            lambda: self._attempt_uncached(task, ctx),
            lambda at: ctx.logger.info(
                f"outputs taken from the task cache (stored {at.isoformat()})"
            ),
            kept=lambda outputs: self._masked(jsonable(outputs)) if outputs else {},
        )

    async def _attempt_uncached(self, task: Task, ctx: Any) -> Mapping[str, Any] | None:
        timeout = task.timeout
        seconds: float | None = None
        if timeout is not None:
            if isinstance(timeout, str):
                timeout = parse_duration(str(ctx.render_text(timeout)))
            seconds = timeout.total_seconds()
        uses_slot = getattr(type(task), "uses_worker_slot", True) and not task.is_flowable
        runtime = self.runtime
        reader = await file_reader_for(
            self.flow,
            task,
            self.execution_id,
            self.header.parent,
            runtime.storage,
            runtime.namespace_files,
        )
        try:
            # no Timeout to build and arm for the many tasks without one
            async with asyncio.timeout(seconds) if seconds is not None else _NO_TIMEOUT:
                with reading(reader):
                    if uses_slot:
                        async with runtime.task_slots:
                            return await task.run(ctx)
                    return await task.run(ctx)
        except TimeoutError as exc:
            raise TaskTimeout(f"timed out after {timeout}") from exc

    def _run_if(self, task: Task, run: TaskRun) -> bool:
        condition = task.runIf
        if isinstance(condition, bool):
            return condition
        assert condition is not None
        with reading_kv(run.kv):
            return self.runtime.renderer.is_true(condition, self.context_for(run))

    async def _load_kv(self, run: TaskRun) -> None:
        """Read the KV entries the task's templates ask for, afresh for each attempt."""
        if self._reads_kv and self.runtime.kv is not None and mentions_kv(run.task):
            run.kv = await load_snapshot(
                self.runtime.kv,
                self.runtime.renderer,
                task_templates(run.task),
                self.context_for(run),
                self.flow.namespace,
                what=f"task {run.task.id}",
            )

    def _retry_for(self, task: Task, parent: TaskRun | None) -> Retry | None:
        """The task's own policy, else the nearest flowable ancestor's, else the flow's."""
        if task.retry is not None:
            return task.retry
        node = parent
        while node is not None:
            if node.task.retry is not None:
                return node.task.retry
            node = node.parent
        if self.flow.retry is not None and self.flow.retry.behavior == "RETRY_FAILED_TASK":
            return self.flow.retry
        return None

    def _continue_after_stop(self, run: TaskRun, state: State) -> None:
        """A run this walk resumes, unfinished when its executor stopped: an attempt that
        was RUNNING (its body may have run, in part or whole) runs again as a new attempt,
        so the API, the Gantt chart and the logs show both; one that was RETRYING goes on
        with the attempt after it. A flowable task's attempt goes on: its children are
        the ones that run again."""
        if state is State.RETRYING:
            run.attempt += 1
        elif state is State.RUNNING and not run.task.is_flowable:
            run.attempt += 1
            run.recovered += 1
            self.log(
                run, "WARN",
                f"attempt {run.attempt - 1} was interrupted (its executor stopped while it "
                f"ran); running the task again as attempt {run.attempt}",
            )  # fmt: skip

    def exit_at(self, run: TaskRun, state: State) -> None:
        """End the execution in `state` once `run` ends (an Exit task): the first wins."""
        if self.exit is not None:
            return
        runs = set()
        node: TaskRun | None = run
        while node is not None:
            runs.add(node.id)
            node = node.parent
        self.exit = Exit(state, run.id, frozenset(runs))

    async def _after_exit(self, run: TaskRun, state: State) -> None:
        self.log(run, "INFO", f"exit: the execution ends in {state}")
        if state is State.KILLED:
            # as Kestra's Exit: a kill, so tasks still running (a Parallel branch) stop
            # too; it reaches the executor that owns the execution like any other kill
            await self.runtime.publish_request(
                KillRequested(
                    execution_id=self.execution_id,
                    namespace=self.flow.namespace,
                    flow_id=self.flow.id,
                )
            )

    def set_variables(self, variables: Mapping[str, Any]) -> None:
        """The execution's `vars` from now on (SetVariables, UnsetVariables)."""
        self._check_size("the execution's variables", None, dict(variables))
        self.variables = dict(variables)
        self._base_context["vars"] = self.variables
        self.variables_changed = True

    def _note_retry_as_new(self, policy: Retry | None) -> None:
        if policy is not None and policy.behavior == "CREATE_NEW_EXECUTION":
            self.retry_as_new = policy

    def _may_retry(self, policy: Retry, run: TaskRun, first_start: datetime) -> bool:
        tried = run.attempt - run.recovered  # a run again after a crash spends no retry
        if policy.maxAttempts is not None and tried >= policy.maxAttempts:
            return False
        if policy.maxDuration is not None:
            elapsed = self.runtime.clock.now() - first_start
            if elapsed + policy.delay(tried, 0.5) > policy.maxDuration:
                return False
        return True

    def _record_outputs(self, run: TaskRun) -> None:
        if not run.outputs and run.task.is_flowable:
            return
        if not run.values:
            self.outputs[run.task.id] = run.outputs
            return
        node = self.outputs.setdefault(run.task.id, {})
        for value in run.values[:-1]:
            node = node.setdefault(value, {})
        node[run.values[-1]] = run.outputs

    async def _flow_outputs(self, state: State) -> tuple[dict[str, Any], str | None]:
        parent = self.header.parent
        if not self.flow.outputs and parent is not None and parent.outputs:
            return await self._legacy_subflow_outputs(state, parent.outputs)
        if not self.flow.outputs or state.is_failure:
            return {}, None
        context = self.context_for(None)
        out: dict[str, Any] = {}
        try:
            kv = None
            if self._reads_kv and self.runtime.kv is not None:
                kv = await load_snapshot(
                    self.runtime.kv,
                    self.runtime.renderer,
                    [o.value for o in self.flow.outputs],
                    context,
                    self.flow.namespace,
                    what="the flow's outputs",
                )
            for output in self.flow.outputs:
                with reading_kv(kv):
                    value = self.runtime.renderer.render_value(output.value, context)
                out[output.id] = self._masked(jsonable(output.coerce(value)))
            self._check_size("the flow's outputs", None, out)
        except (PodiumError, ValueError) as exc:
            self.log(None, "ERROR", f"flow output failed: {exc}")
            return {}, f"flow output failed: {exc}"
        return out, None

    async def _legacy_subflow_outputs(
        self, state: State, templates: dict[str, Any]
    ) -> tuple[dict[str, Any], str | None]:
        """Kestra's deprecated Subflow `outputs`: the calling task's templates rendered
        against this (the child) execution's context, used when the flow declares none."""
        if state.is_failure:
            return {}, None
        context = self.context_for(None)
        try:
            kv = None
            if self.runtime.kv is not None:
                kv = await load_snapshot(
                    self.runtime.kv,
                    self.runtime.renderer,
                    list(templates.values()),
                    context,
                    self.flow.namespace,
                    what="the Subflow task's outputs",
                )
            with reading_kv(kv):
                rendered = self.runtime.renderer.render_value(templates, context)
            out = {str(k): self._masked(jsonable(v)) for k, v in rendered.items()}
            self._check_size("the Subflow task's outputs", None, out)
        except (PodiumError, ValueError) as exc:
            self.log(None, "ERROR", f"subflow output failed: {exc}")
            return {}, f"subflow output failed: {exc}"
        return out, None

    def _check_size(
        self, what: str, run: TaskRun | None, outputs: dict[str, Any] | None = None
    ) -> None:
        """Outputs ride inside one event; refuse what the bus could not carry."""
        if outputs is None:
            assert run is not None
            outputs = run.outputs
        if not outputs:
            return
        size = len(orjson.dumps(outputs, default=str))
        limit = self.runtime.max_output_bytes
        if size > limit:
            if run is not None:
                run.outputs = {}
            raise TaskFailed(
                f"{what} are {size:,} bytes of JSON, above the limit of {limit:,} "
                "(max_record_bytes): write large results to a file (e.g. fetchType: STORE, "
                "outputFiles) and pass its kestra:/// URI instead"
            )

    def _masked(self, value: Any) -> Any:
        """Outputs never carry a secret this execution revealed."""
        secrets = self.runtime.renderer.secrets
        if secrets is None or not secrets.revealed:
            return value
        if isinstance(value, str):
            return secrets.mask(value)
        if isinstance(value, dict):
            return {k: self._masked(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._masked(v) for v in value]
        return value

    # -- template context -----------------------------------------------------------------

    def _make_base_context(self) -> dict[str, Any]:
        header = self.header
        trigger = dict(header.trigger.get("variables", {})) if header.trigger else {}
        return {
            "flow": {
                "id": self.flow.id,
                "namespace": self.flow.namespace,
                "revision": header.revision,
                "tenantId": None,
            },
            "execution": {
                "id": header.execution_id,
                "startDate": header.created_at,
                "originalId": header.original_id or header.execution_id,
                "state": header.state.value,
            },
            "inputs": self.inputs,
            "vars": self.variables,
            "outputs": self.outputs,
            "trigger": trigger,
            "labels": self.labels,
            "envs": self.runtime.envs,
            "globals": self.runtime.globals,
        }

    def context_for(self, run: TaskRun | None) -> dict[str, Any]:
        context = dict(self._base_context)
        if self._labels_seen != self.labels:  # labels change rarely: built once per change
            self._labels_seen = dict(self.labels)
            self._labels_view = nested_labels(self.labels)
        context["labels"] = self._labels_view
        if run is None:
            return context
        context["task"] = {"id": run.task.id, "type": run.task.type}
        context["taskrun"] = {
            "id": run.id,
            "startDate": run.started_at,
            # Kestra counts the attempts already made: 0 while the first one runs
            "attemptsCount": run.attempt - 1,
            "parentId": run.parent.id if run.parent else None,
            "value": run.value,
            "iteration": run.iteration,
        }
        parents = []
        child, node = run, run.parent
        while node is not None:
            parents.append(
                {
                    "taskrun": {"id": node.id, "value": node.value, "iteration": node.iteration},
                    "outputs": node.outputs,
                }
            )
            kind = node.task.type
            if kind.endswith(".WorkingDirectory") and "workerTaskrun" not in context:
                # Kestra: the WorkingDirectory's own task run, seen from the tasks inside
                context["workerTaskrun"] = {
                    "id": node.id,
                    "taskId": node.task.id,
                    "startDate": node.started_at,
                    "attemptsCount": node.attempt - 1,  # as taskrun's: attempts made before
                    "value": node.value,
                }
            elif kind.endswith(".WaitFor") and child.iteration is not None:
                # Kestra: inside a WaitFor, outputs.<it>.iterationCount is the current one
                count = {"iterationCount": child.iteration + 1}
                outputs = context["outputs"]
                context["outputs"] = {
                    **outputs,
                    node.task.id: {**outputs.get(node.task.id, {}), **count},
                }
            child, node = node, node.parent
        if parents:
            context["parent"] = parents[0]
            context["parents"] = parents
        return context

    # -- signals from outside (the executor calls these) --------------------------------------

    def resume(self, inputs: Mapping[str, Any] | None = None) -> bool:
        waiting = [(k, f) for k, f in self._resume_waiters.items() if not f.done()]
        for run_id, future in waiting:
            self.resumed_with[run_id] = dict(inputs or {})
            future.set_result("RESUMED")
        return bool(waiting)

    def child_ended(self, task_run_id: str, state: State, outputs: dict[str, Any]) -> None:
        future = self._child_waiters.get(task_run_id)
        if future is not None and not future.done():
            future.set_result((state, outputs))
        else:
            self._child_results[task_run_id] = (state, outputs)

    async def wait_resume(self, run: TaskRun, timeout: float | None) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._resume_waiters[run.id] = future
        self._paused += 1
        run.state = State.PAUSED
        await self._publish_run(run)
        if self._paused == 1:
            await self.set_state(State.PAUSED)
        try:
            if timeout is None:
                return await future

            async def expire() -> None:
                await self.runtime.clock.sleep(timeout)
                if not future.done():
                    future.set_result("TIMEOUT")

            async with asyncio.TaskGroup() as group:
                timer = group.create_task(expire())
                result = await future
                timer.cancel()
            return result
        finally:
            self._resume_waiters.pop(run.id, None)
            self._paused -= 1
            if not self.is_killing and self._paused == 0:
                await self.set_state(State.RUNNING)
            run.state = State.RUNNING

    async def wait_child(self, key: str) -> tuple[State, dict[str, Any]]:
        """Wait for the subflow execution started under `key` (a task run id) to end."""
        if key in self._child_results:
            return self._child_results.pop(key)
        future: asyncio.Future[tuple[State, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._child_waiters[key] = future
        try:
            return await future
        finally:
            self._child_waiters.pop(key, None)


def _append_texts(by_file: Mapping[Path, list[str]]) -> None:
    for path, texts in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.writelines(texts)


def nested_labels(labels: Mapping[str, str]) -> dict[str, Any]:
    """Labels for templates: each by its name, and dotted names as nested maps too, as
    Kestra gives them (`{{ labels.system.correlationId }}`, `{{ labels['team'] }}`)."""
    view: dict[str, Any] = dict(labels)
    for key, value in labels.items():
        if "." not in key:
            continue
        *path, last = key.split(".")
        node = view
        for part in path:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break  # a label of that very name: it wins
            node = child
        else:
            node.setdefault(last, value)
    return view


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TaskFailed | TemplateError | PodiumError):
        return str(exc) or type(exc).__name__
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
