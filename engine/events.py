"""What travels on the bus: requests (commands to an executor) and events (facts).

Both topics are keyed by `namespace/flow_id` (see DESIGN.md, "Partition by flow").
Every message is a frozen pydantic model with a `kind` discriminator and a schema
version `v`; readers ignore fields they do not know (`extra="ignore"`), so a newer
writer never breaks an older reader.

Requests (topic `requests`):   ExecutionRequested, KillRequested, ResumeRequested,
                               ChildExecutionEnded, RestartRequested, ReplayRequested,
                               LabelsRequested, StatusChangeRequested, UnqueueRequested,
                               ForceRunRequested, TaskRunStateRequested, ConditionsMet
Events   (topic `events`):     ExecutionChanged, TaskRunChanged, LogsEmitted, MetricEmitted,
                               ExecutionDeleted (engine/deletion.py), and the purges
                               ExecutionsPurged, LogsPurged (engine/purge.py)

Events carry `event_id` and a per-execution `seq`; the projector applies an event to a
row only when its `seq` is newer than the row's, so redelivery is harmless.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal, TypeVar, get_args

import orjson
import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from engine.states import State

__all__ = [
    "ChildExecutionEnded",
    "ConditionWindow",
    "ConditionsMet",
    "Encoded",
    "Event",
    "EventDocument",
    "ExecutionChanged",
    "ExecutionDeleted",
    "ExecutionRequested",
    "ExecutionsPurged",
    "ForceRunRequested",
    "KillRequested",
    "LogLine",
    "LogsEmitted",
    "LogsPurged",
    "Message",
    "MetricEmitted",
    "PURGE_KINDS",
    "ParentRef",
    "Request",
    "LabelsRequested",
    "ReplayRequested",
    "RestartRequested",
    "ResumeRequested",
    "StatusChangeRequested",
    "TaskRunChanged",
    "TaskRunStateRequested",
    "UnqueueRequested",
    "decode",
    "encode",
    "encode_new",
    "encode_whole",
    "evolve",
    "new_id",
]


def new_id() -> str:
    """A random 88-bit id as 22 hex digits: short enough for URLs, never guessed."""
    return os.urandom(11).hex()


def new_event_id() -> str:
    """An event id: unique, not secret, so a fast PRNG will do (no syscall per event)."""
    return f"{_fast_random.getrandbits(88):022x}"


_fast_random = random.Random(os.urandom(16))


# Every model builds its schema on first use (`defer_build`): a process builds those it
# validates or creates (the request union's adapter, `_requests()`, builds the requests'
# inline), not the two dozen of this module at import (~9 ms of `podium flow run`).
_CONFIG = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class Wire(BaseModel):
    model_config = _CONFIG
    v: int = 1

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.flow_id}"  # type: ignore[attr-defined]


class ParentRef(Wire):
    """The task run of another execution that waits for this one (a Subflow)."""

    execution_id: str
    namespace: str
    flow_id: str
    task_run_id: str
    task_id: str
    # Kestra's deprecated Subflow `outputs`: templates the child renders against its own
    # context when its flow declares no `outputs` (absent from older events)
    outputs: dict[str, Any] | None = None


# -- requests -----------------------------------------------------------------


class ExecutionRequested(Wire):
    kind: Literal["ExecutionRequested"] = "ExecutionRequested"
    execution_id: str
    namespace: str
    flow_id: str
    revision: int | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    trigger: dict[str, Any] | None = None
    parent: ParentRef | None = None
    requested_at: datetime
    not_before: datetime | None = None  # start no earlier (flow retry with a delay)
    # the messages of the flow's `checks` that failed with FAIL_EXECUTION (engine/checks.py):
    # the execution is created FAILED
    failed_checks: tuple[str, ...] = ()


class KillRequested(Wire):
    kind: Literal["KillRequested"] = "KillRequested"
    execution_id: str
    namespace: str
    flow_id: str


class ResumeRequested(Wire):
    kind: Literal["ResumeRequested"] = "ResumeRequested"
    execution_id: str
    namespace: str
    flow_id: str
    # the paused Pause's `onResume` inputs, validated by whoever sent the request
    inputs: dict[str, Any] = Field(default_factory=dict)


class ChildExecutionEnded(Wire):
    """A subflow's execution ended; keyed by the parent's flow so its owner hears it."""

    kind: Literal["ChildExecutionEnded"] = "ChildExecutionEnded"
    namespace: str  # the parent's
    flow_id: str
    parent_execution_id: str
    parent_task_run_id: str
    child_execution_id: str
    state: State
    outputs: dict[str, Any] = Field(default_factory=dict)


class RestartRequested(Wire):
    """Run an ended (FAILED or KILLED) execution again, in place: its failed task runs
    get a new attempt, the ones that succeeded keep their outputs."""

    kind: Literal["RestartRequested"] = "RestartRequested"
    execution_id: str
    namespace: str
    flow_id: str


class ReplayRequested(Wire):
    """A new execution copying an ended one: with `task_run_id`, the task runs that ended
    before that one are copied and the walk goes on from it; without, from the start."""

    kind: Literal["ReplayRequested"] = "ReplayRequested"
    execution_id: str  # the original
    new_execution_id: str  # minted at the edge, like every execution id
    namespace: str
    flow_id: str
    task_run_id: str | None = None
    requested_at: datetime


class LabelsRequested(Wire):
    """Set (add or replace) labels of an execution, running or ended."""

    kind: Literal["LabelsRequested"] = "LabelsRequested"
    execution_id: str
    namespace: str
    flow_id: str
    labels: dict[str, str]


class StatusChangeRequested(Wire):
    """Set an ended execution's state to another terminal state (Kestra's change-status):
    its task runs are left as they are."""

    kind: Literal["StatusChangeRequested"] = "StatusChangeRequested"
    execution_id: str
    namespace: str
    flow_id: str
    state: State


class UnqueueRequested(Wire):
    """Take an execution out of its flow's concurrency queue: RUNNING starts it at once
    (past the limit), CANCELLED or FAILED end it."""

    kind: Literal["UnqueueRequested"] = "UnqueueRequested"
    execution_id: str
    namespace: str
    flow_id: str
    state: State = State.RUNNING


class TaskRunStateRequested(Wire):
    """Give a task run of an ended execution another state and go on from there
    (Kestra's "change task run state", engine/reruns.py `plan_mark`)."""

    kind: Literal["TaskRunStateRequested"] = "TaskRunStateRequested"
    execution_id: str
    namespace: str
    flow_id: str
    task_run_id: str
    state: State


class ForceRunRequested(Wire):
    """Start an execution now: a QUEUED one past its flow's concurrency limit, a CREATED
    one without waiting for its `not_before` (a flow retry's delay)."""

    kind: Literal["ForceRunRequested"] = "ForceRunRequested"
    execution_id: str
    namespace: str
    flow_id: str


class ConditionWindow(BaseModel):
    """One MultipleCondition (or a Flow trigger's `preconditions`) as an upstream execution
    left it: the keys of its conditions, those this execution met, and the time window
    that opens if none is open (engine/trigger_windows.py)."""

    model_config = _CONFIG
    condition_id: str
    keys: tuple[str, ...]
    matched: tuple[str, ...]
    start: datetime
    end: datetime
    reset_on_success: bool = True


class ConditionsMet(Wire):
    """An upstream execution met some conditions of a Flow trigger that waits for several
    (MultipleCondition, `preconditions`): keyed by the listening flow, so the executor that
    owns it is the one writer of its windows, and fires `request` once they are all met."""

    kind: Literal["ConditionsMet"] = "ConditionsMet"
    namespace: str  # the listening flow's
    flow_id: str
    trigger_id: str
    upstream_execution_id: str
    at: datetime
    windows: tuple[ConditionWindow, ...]
    request: ExecutionRequested  # its execution id is minted when the windows are full


Request = Annotated[
    ExecutionRequested
    | ConditionsMet
    | KillRequested
    | ResumeRequested
    | ChildExecutionEnded
    | RestartRequested
    | ReplayRequested
    | LabelsRequested
    | StatusChangeRequested
    | UnqueueRequested
    | ForceRunRequested
    | TaskRunStateRequested,
    Field(discriminator="kind"),
]

M = TypeVar("M", bound=BaseModel)

_new_object = object.__new__
_set_attribute = object.__setattr__


def evolve(message: M, update: dict[str, Any]) -> M:
    """`message.model_copy(update=update)`: a shallow copy with these fields changed (not
    validated, as with `model_copy`). The executor's and the walk's execution headers,
    four copies per execution: pydantic's copy goes through `copy.copy` and `__copy__`,
    23k instructions for an ExecutionChanged, this 13k. It sets what pydantic's copy
    sets, through the instance attributes pydantic documents; tests/engine/
    test_event_encoding.py compares the two."""
    copy = _new_object(type(message))
    _set_attribute(copy, "__dict__", {**message.__dict__, **update})
    _set_attribute(copy, "__pydantic_fields_set__", message.__pydantic_fields_set__ | update.keys())
    extra, private = message.__pydantic_extra__, message.__pydantic_private__
    _set_attribute(copy, "__pydantic_extra__", None if extra is None else dict(extra))
    _set_attribute(copy, "__pydantic_private__", None if private is None else dict(private))
    return copy


# -- events -------------------------------------------------------------------


class EventBase(Wire):
    event_id: str = Field(default_factory=new_event_id)
    execution_id: str
    namespace: str
    flow_id: str
    seq: int
    at: datetime


class ExecutionChanged(EventBase):
    """The whole header of an execution, as of this event."""

    kind: Literal["ExecutionChanged"] = "ExecutionChanged"
    revision: int | None
    state: State
    inputs: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)
    # True once a task (SetVariables, UnsetVariables) changed the execution's `vars`:
    # `variables` then holds them all; before, they are the flow's `variables`.
    has_own_variables: bool = False
    trigger: dict[str, Any] | None = None
    parent: ParentRef | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    not_before: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    # Kestra's lineage of reruns (absent from older events): a replay names the execution
    # it was replayed from (`parentId`) and the first execution of the chain (`originalId`).
    replay_of: str | None = None
    original_id: str | None = None
    # Set on the one event that changed an ended execution's state to another terminal
    # state (change-status): equal to its `seq`, it lets the store take that change
    # where it otherwise never moves a terminal state but to RESTARTED.
    status_changed_seq: int | None = None


class TaskRunChanged(EventBase):
    """The whole of one task run, as of this event."""

    kind: Literal["TaskRunChanged"] = "TaskRunChanged"
    task_run_id: str
    task_id: str
    parent_task_run_id: str | None = None
    value: str | None = None
    iteration: int | None = None
    state: State
    attempt: int = 1
    # Of `attempt`, how many were runs again after an executor stopped in the middle of
    # one (engine/walk.py): they are attempts like any other in the API, but keep the
    # attempt's keys (PODIUM_ATTEMPT_KEY, a subflow's id) and spend no retry.
    recovered: int = 0
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    # attempt number -> the internal-storage URI of its log file (`logToFile: true`);
    # absent from older events
    log_files: dict[int, str] = Field(default_factory=dict)


class LogLine(BaseModel):
    model_config = _CONFIG
    at: datetime
    level: str
    message: str
    task_run_id: str | None = None
    task_id: str | None = None
    attempt: int | None = None


class LogsEmitted(EventBase):
    kind: Literal["LogsEmitted"] = "LogsEmitted"
    lines: tuple[LogLine, ...]


class MetricEmitted(EventBase):
    kind: Literal["MetricEmitted"] = "MetricEmitted"
    task_run_id: str | None
    task_id: str | None
    name: str
    metric_kind: str
    value: float
    tags: dict[str, str] = Field(default_factory=dict)


class ExecutionsPurged(Wire):
    """Delete what these ended executions of one flow left in the store (a purge or the
    retention job, engine/purge.py). Keyed by their flow, so it comes after their events.
    The projector skips any of them that is not ended when it applies this (a restart in
    between), so nothing running is ever deleted; applied again, it deletes nothing."""

    kind: Literal["ExecutionsPurged"] = "ExecutionsPurged"
    event_id: str = Field(default_factory=new_event_id)
    namespace: str
    flow_id: str
    execution_ids: tuple[str, ...]
    executions: bool = True  # the rows: execution, task runs, state history
    logs: bool = True
    metrics: bool = True
    at: datetime


class LogsPurged(Wire):
    """Delete at most `limit` log lines that match (engine.plugin.LogSelection's fields);
    a bounded delete keeps each projector transaction short."""

    kind: Literal["LogsPurged"] = "LogsPurged"
    event_id: str = Field(default_factory=new_event_id)
    namespace: str | None = None
    flow_id: str | None = None
    execution_id: str | None = None
    levels: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime
    excluded: tuple[str, ...] = ()
    limit: int = Field(default=10_000, ge=1)
    at: datetime

    @property
    def key(self) -> str:
        return f"{self.namespace or ''}/{self.flow_id or ''}"


class ExecutionDeleted(EventBase):
    """An execution was deleted: the store drops its rows (execution, task runs, state
    history, logs, metrics) and, by the fence (engine/fencing.py: its `seq` is the first
    of the last epoch), every later event of it. Published by whoever deletes it (the
    API, engine/deletion.py), which then removes its files from internal storage."""

    kind: Literal["ExecutionDeleted"] = "ExecutionDeleted"
    # Kestra's deleteLogs / deleteMetrics: False keeps them (searchable in the logs)
    delete_logs: bool = True
    delete_metrics: bool = True


Event = Annotated[
    ExecutionChanged
    | TaskRunChanged
    | LogsEmitted
    | MetricEmitted
    | ExecutionDeleted
    | ExecutionsPurged
    | LogsPurged,
    Field(discriminator="kind"),
]
Message = Request | Event

_REQUIRED = {
    kind: frozenset(fields)
    for kind, fields in {
        "ExecutionChanged": ("execution_id", "namespace", "flow_id", "seq", "state", "created_at"),
        "TaskRunChanged": ("execution_id", "task_run_id", "seq", "state"),
        "LogsEmitted": ("event_id", "execution_id", "lines"),
        "MetricEmitted": ("event_id", "execution_id", "name", "metric_kind", "value", "at"),
        "ExecutionsPurged": ("event_id", "namespace", "flow_id", "execution_ids"),
        "LogsPurged": ("event_id", "end"),
        "ExecutionDeleted": ("event_id", "execution_id", "seq"),
    }.items()
}

# Events that delete rather than describe: they carry no execution id and no seq.
PURGE_KINDS = frozenset({"ExecutionsPurged", "LogsPurged"})


@dataclass(slots=True)
class EventDocument:
    """An event as the projector applies it: its JSON parsed once (orjson, no model
    validation: the projector's hot path) and its bytes, stored as they travelled.

    Treat it as read-only. It is not a frozen dataclass because one is built per event
    and a frozen one's `__init__` sets each field through `object.__setattr__`: 0.6 µs
    against 0.2."""

    doc: dict[str, Any]
    raw: bytes

    def __repr__(self) -> str:
        return f"<EventDocument {self.doc.get('kind')} {self.doc.get('execution_id')}#{self.doc.get('seq')}>"

    @classmethod
    def parse(cls, raw: bytes) -> EventDocument:
        """Raises ValueError for what is not an event this version can apply."""
        doc = orjson.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("an event is a JSON object")
        required = _REQUIRED.get(doc.get("kind", ""))
        if required is None:
            raise ValueError(f"unknown event kind {doc.get('kind')!r}")
        if not doc.keys() >= required:
            missing = sorted(required - doc.keys())
            raise ValueError(f"{doc['kind']} without {', '.join(missing)}")
        return cls(doc, raw)

    @classmethod
    def of(cls, event: Wire) -> EventDocument:
        return cls.parse(encode(event))


# The adapters of the two unions are built on first use (some 80 ms together):
# `podium flow run` and processes that decode one kind of message never pay for both.
@cache
def _requests() -> TypeAdapter[Any]:
    return TypeAdapter(Request)


@cache
def _events() -> TypeAdapter[Any]:
    return TypeAdapter(Event)


@dataclass(slots=True)
class Encoded:
    """A message already in its wire form (`encode_new`, `encode_whole`): `encode` hands
    its bytes on. Treat it as read-only: not frozen, because a frozen dataclass's
    `__init__` sets each field through `object.__setattr__`, twice the instructions, and
    the walk makes one per event."""

    key: str
    data: bytes

    def __repr__(self) -> str:
        return f"<Encoded {self.key} {len(self.data)} bytes>"


# The wire form is what pydantic's serializer writes (datetimes in ISO 8601, UTC as "Z",
# integer keys as strings), written by orjson: a third of the CPU.
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def _jsonable(value: Any) -> Any:
    """What orjson cannot write itself: the wire models inside a message as their fields,
    anything else (a set, a Decimal, a Path in a task's outputs) as pydantic writes it."""
    if isinstance(value, Wire | LogLine | ConditionWindow):
        return value.__dict__
    return pydantic_core.to_jsonable_python(value)


def _dumps(doc: dict[str, Any]) -> bytes:
    """Raises orjson.JSONEncodeError for what orjson refuses (an integer past 64 bits, a
    value neither it nor pydantic knows): the model's own serializer then decides.

    The bytes are copied once: orjson (3.12 and later) hands back its whole buffer, at
    least 4 KiB and rounded up to a power of two, whatever the length of the JSON in it,
    and an event lives on in a bus's log, an outbox or a projector's batch. Kept as
    orjson wrote it, a 500-byte event held 4 KiB to 8 KiB: a 100,000-item ForEach
    peaked at 1.7 GB instead of 0.27 (bench/foundation.py --only memory). The copy costs
    about 0.1 µs."""
    return bytes(memoryview(orjson.dumps(doc, default=_jsonable, option=_JSON_OPTIONS)))


def encode(message: Wire | Encoded) -> bytes:
    if isinstance(message, Encoded):
        return message.data
    try:
        return _dumps(message.__dict__)
    except orjson.JSONEncodeError:
        return message.__pydantic_serializer__.to_json(message)


@functools.cache
def _defaults(
    model: type[Wire],
) -> tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]:
    """A model's fields that have a default: the constant ones, and those made anew."""
    constant: dict[str, Any] = {}
    made: list[tuple[str, Callable[[], Any]]] = []
    for name, info in model.model_fields.items():
        if info.default_factory is not None:
            made.append((name, info.default_factory))  # type: ignore[arg-type]
        elif not info.is_required():
            constant[name] = info.default
    return constant, tuple(made)


def encode_new(model: type[Wire], **fields: Any) -> Encoded:
    """What `encode(model(**fields))` gives, without building and validating the model:
    the executor's hot path, where an event is written once and never read back. The
    caller passes values of the fields' types (the walk has them so; the conformance tests
    decode what it emits with the models)."""
    constant, made = _defaults(model)
    doc = {**constant, **fields}
    for name, factory in made:
        if name not in doc:
            doc[name] = factory()
    key = f"{fields['namespace']}/{fields['flow_id']}"
    try:
        return Encoded(key, _dumps(doc))
    except orjson.JSONEncodeError:
        return Encoded(key, encode(model(**doc)))


def encode_whole(model: type[Wire], key: str, doc: dict[str, Any]) -> Encoded:
    """What `encode(model(**doc))` gives, for a `doc` its caller wrote whole: every field
    of `model`, `v`, `kind` and `event_id` included, with values of the fields' types.
    The walk's task-run events, two per task run: `encode_new`'s keyword arguments and
    its merge with the defaults were a third of such an event's instructions (58k of
    which the JSON is 18k; bench/README.md). tests/engine/test_event_encoding.py checks
    that what the walk writes has exactly the model's fields."""
    try:
        return Encoded(key, _dumps(doc))
    except orjson.JSONEncodeError:
        return Encoded(key, encode(model(**doc)))


@cache
def _request_models() -> dict[str, type[Wire]]:
    members: tuple[type[Wire], ...] = get_args(get_args(Request)[0])
    return {model.model_fields["kind"].default: model for model in members}


def decode_request(data: bytes) -> Any:
    """A request decoded by the model its `kind` names: the union's adapter builds every
    request model (~18 M instructions at a process's first request, bench/README.md).
    What that model refuses, and what has no such kind, goes through the union, so an
    undecodable request raises the union's error, as it always did."""
    try:
        model = _request_models().get(orjson.loads(data)["kind"])
    except (ValueError, TypeError, KeyError):
        model = None
    if model is not None:
        try:
            return model.model_validate_json(data)
        except ValueError:
            pass
    return _requests().validate_json(data)


def decode_event(data: bytes) -> Any:
    return _events().validate_json(data)


def decode(data: bytes) -> Any:
    """Decode any message by its kind."""
    kind = orjson.loads(data).get("kind", "")
    return decode_event(data) if kind in _EVENT_KINDS else decode_request(data)


_EVENT_KINDS = {
    "ExecutionChanged",
    "TaskRunChanged",
    "LogsEmitted",
    "MetricEmitted",
    "ExecutionDeleted",
    *PURGE_KINDS,
}
