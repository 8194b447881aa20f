"""The wire form of events: `encode` (orjson over a model's fields) writes what pydantic's
serializer wrote before it, and `encode_new` (the walk's hot path, no model built) writes
what the model would. Readers of events recorded by either (or by older versions) see
the same thing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest

from engine.events import (
    EventDocument,
    ExecutionChanged,
    LogLine,
    LogsEmitted,
    ParentRef,
    TaskRunChanged,
    decode_event,
    encode,
    encode_new,
    evolve,
)
from engine.states import State
from tests.conftest import Harness

AT = datetime(2026, 12, 3, 23, 40, 1, 123456, tzinfo=UTC)
ON_THE_SECOND = datetime(2026, 12, 3, 23, 40, 1, tzinfo=UTC)
ELSEWHERE = datetime(2026, 12, 3, 23, 40, 1, tzinfo=timezone(timedelta(hours=2)))

RUN = {
    "execution_id": "e1",
    "namespace": "company.team",
    "flow_id": "flow",
    "seq": 7,
    "at": AT,
    "task_run_id": "r1",
    "task_id": "t",
    "parent_task_run_id": None,
    "value": None,
    "iteration": None,
    "state": State.SUCCESS,
    "attempt": 2,
    "recovered": 0,
    "created_at": ON_THE_SECOND,
    "started_at": ELSEWHERE,
    "ended_at": AT,
    "outputs": {"n": 1, "nested": {"list": [1, "two", None, 3.5]}, "when": AT.date()},
    "error": None,
    "log_files": {1: "kestra:///x/1.txt"},
}


HEADER = ExecutionChanged(
    execution_id="e1",
    namespace="company.team",
    flow_id="flow",
    seq=1,
    at=AT,
    revision=3,
    state=State.RUNNING,
    inputs={"a": [1, 2]},
    labels={"k": "v"},
    parent=ParentRef(execution_id="p", namespace="n", flow_id="f", task_run_id="r", task_id="t"),
    created_at=AT,
)


def pydantic_bytes(message: object) -> bytes:
    return message.__pydantic_serializer__.to_json(message)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "message",
    [
        TaskRunChanged(**RUN),
        HEADER,
        LogsEmitted(
            execution_id="e1",
            namespace="company.team",
            flow_id="flow",
            seq=2,
            at=AT,
            lines=(LogLine(at=AT, level="INFO", message="héllo", task_id="t"),),
        ),
    ],
    ids=lambda m: type(m).__name__,
)
def test_encode_writes_what_pydantic_wrote(message: object) -> None:
    assert encode(message) == pydantic_bytes(message)  # type: ignore[arg-type]


def test_values_orjson_cannot_write_are_written_as_pydantic_writes_them() -> None:
    outputs = {"set": {3}, "price": Decimal("1.10"), "huge": 2**70}
    run = TaskRunChanged(**{**RUN, "outputs": outputs})
    assert orjson.loads(encode(run)) == orjson.loads(pydantic_bytes(run))


def test_an_event_encoded_without_its_model_decodes_as_the_model() -> None:
    encoded = encode_new(TaskRunChanged, **RUN)
    assert encoded.key == "company.team/flow"
    decoded = decode_event(encode(encoded))
    expected = TaskRunChanged(**RUN, event_id=decoded.event_id)
    assert decoded == decode_event(pydantic_bytes(expected))
    assert orjson.loads(encode(encoded)) == orjson.loads(pydantic_bytes(expected))


def test_defaults_made_anew_are_made_for_each_event() -> None:
    fields = {k: v for k, v in RUN.items() if k not in ("outputs", "log_files")}
    first, second = (decode_event(encode_new(TaskRunChanged, **fields).data) for _ in range(2))
    assert first.event_id != second.event_id
    assert first.outputs == {} and first.log_files == {} and first.v == 1


def test_an_event_orjson_refuses_is_encoded_by_its_model() -> None:
    outputs = {"huge": 2**70, "set": {3}}
    encoded = encode_new(TaskRunChanged, **{**RUN, "outputs": outputs})
    assert decode_event(encoded.data).outputs == {"huge": 2**70, "set": [3]}


def test_an_event_without_a_field_the_projector_needs_is_refused() -> None:
    raw = orjson.dumps({"kind": "TaskRunChanged", "execution_id": "e", "seq": 1})
    with pytest.raises(ValueError, match="TaskRunChanged without state, task_run_id"):
        EventDocument.parse(raw)
    with pytest.raises(ValueError, match="unknown event kind 'Nothing'"):
        EventDocument.parse(b'{"kind": "Nothing"}')
    assert EventDocument.parse(raw[:-1] + b',"task_run_id":"t","state":"RUNNING"}').raw


def test_an_encoded_event_holds_no_more_memory_than_its_bytes() -> None:
    """An event lives on in a bus's log or an outbox: its bytes must not keep the whole
    buffer the JSON was written into (orjson 3.12+ hands back at least 4 KiB)."""
    import tracemalloc

    events = 200
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [encode_new(TaskRunChanged, **{**RUN, "seq": n}).data for n in range(events)]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    size = sum(map(len, kept))
    assert held < 2 * size, f"{held / events:.0f} bytes held per event of {size / events:.0f}"


async def test_the_walk_writes_task_run_events_with_exactly_their_models_fields(
    harness: Harness,
) -> None:
    """The walk writes its task-run events whole (`encode_whole`, not through the model):
    a field added to TaskRunChanged must be added there too, or its events would carry
    the default instead of the run's value."""
    podium = harness.podium
    watch = await podium.bus.subscribe(podium.topics.events, "test-fields", is_transient=True)
    await harness.run(
        """
id: fields
namespace: company.team
tasks:
  - {id: give, type: io.kestra.plugin.core.debug.Return, format: "{{ execution.id }}"}
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a"]
    tasks:
      - {id: fail, type: io.kestra.plugin.core.execution.Fail, allowFailure: true}
"""
    )
    runs = []
    while records := await watch.fetch(max_records=1_000, timeout=0.3):
        runs += [d for r in records if (d := orjson.loads(r.value))["kind"] == "TaskRunChanged"]
    await watch.close()
    assert len(runs) == 6  # started and ended: give, each, fail
    for doc in runs:
        assert doc.keys() == TaskRunChanged.model_fields.keys()
        assert decode_event(orjson.dumps(doc)) == TaskRunChanged(**doc)
    assert {d["state"] for d in runs if d["task_id"] == "fail"} >= {"RUNNING", "WARNING"}
    assert any(d["error"] for d in runs if d["task_id"] == "fail")


def test_evolve_copies_as_model_copy_does() -> None:
    update = {"state": State.SUCCESS, "seq": 2, "ended_at": AT, "labels": {"k": "w"}}
    ours, theirs = evolve(HEADER, update), HEADER.model_copy(update=update)
    assert type(ours) is ExecutionChanged and ours == theirs
    assert ours.model_fields_set == theirs.model_fields_set
    assert encode(ours) == encode(theirs) and repr(ours) == repr(theirs)
    assert HEADER.state is State.RUNNING and HEADER.labels == {"k": "v"}  # a copy
    with pytest.raises(ValueError, match="frozen"):
        ours.state = State.FAILED  # type: ignore[misc]
