"""The fields the walk's conformance added to events (`replay_of`, `original_id`,
`log_files`) are optional: events written before them still load, and new ones carry
them through the wire and back."""

from __future__ import annotations

import orjson

from engine.events import ExecutionChanged, TaskRunChanged, decode_event, encode
from engine.states import State

OLD_HEADER = {
    "kind": "ExecutionChanged", "v": 1, "event_id": "e1", "execution_id": "x",
    "namespace": "n", "flow_id": "f", "seq": 2, "at": "2026-01-01T00:00:00Z",
    "revision": 1, "state": "SUCCESS", "created_at": "2026-01-01T00:00:00Z",
}  # fmt: skip
OLD_RUN = {
    "kind": "TaskRunChanged", "v": 1, "event_id": "e2", "execution_id": "x",
    "namespace": "n", "flow_id": "f", "seq": 3, "at": "2026-01-01T00:00:00Z",
    "task_run_id": "t", "task_id": "a", "state": "FAILED", "attempt": 2,
    "created_at": "2026-01-01T00:00:00Z",
}  # fmt: skip


def test_events_from_before_the_new_fields_still_load() -> None:
    header = decode_event(orjson.dumps(OLD_HEADER))
    assert isinstance(header, ExecutionChanged)
    assert (header.replay_of, header.original_id) == (None, None)
    run = decode_event(orjson.dumps(OLD_RUN))
    assert isinstance(run, TaskRunChanged) and run.log_files == {}


def test_new_fields_travel() -> None:
    header = decode_event(orjson.dumps(OLD_HEADER)).model_copy(
        update={"replay_of": "a", "original_id": "b", "state": State.RETRIED}
    )
    back = decode_event(encode(header))
    assert (back.replay_of, back.original_id, back.state) == ("a", "b", State.RETRIED)
    run = decode_event(orjson.dumps({**OLD_RUN, "log_files": {"1": "kestra:///x/1.log"}}))
    assert run.log_files == {1: "kestra:///x/1.log"}
    assert decode_event(encode(run)).log_files == {1: "kestra:///x/1.log"}
