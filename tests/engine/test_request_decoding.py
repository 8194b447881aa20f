"""`decode_request` decodes a request with the model its `kind` names, not the union's
adapter (bench/README.md, session 11): what it gives, and every error it raises, is
what the union gives."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from engine.events import Request, _request_models, _requests, decode_request

# Every field any request has (each model ignores those it does not know).
EVERY_FIELD: dict[str, Any] = {
    "execution_id": "e1",
    "new_execution_id": "e2",
    "namespace": "company.team",
    "flow_id": "flow",
    "requested_at": "2026-12-04T09:00:00Z",
    "not_before": "2026-12-04T09:00:01.5+02:00",
    "inputs": {"n": 1, "nested": [1, "two", None]},
    "labels": {"team": "data"},
    "trigger": {"id": "t"},
    "parent": {
        "execution_id": "p",
        "namespace": "n",
        "flow_id": "f",
        "task_run_id": "r",
        "task_id": "t",
    },
    "failed_checks": ["a"],
    "parent_execution_id": "p",
    "parent_task_run_id": "r",
    "child_execution_id": "c",
    "state": "SUCCESS",
    "outputs": {"x": 1},
    "task_run_id": "r1",
    "trigger_id": "t",
    "upstream_execution_id": "u",
    "at": "2026-12-04T09:00:00Z",
    "windows": [
        {
            "condition_id": "c",
            "keys": ["a", "b"],
            "matched": ["a"],
            "start": "2026-12-04T09:00:00Z",
            "end": "2026-12-05T09:00:00Z",
        }
    ],
    "request": {
        "kind": "ExecutionRequested",
        "execution_id": "e3",
        "namespace": "company.team",
        "flow_id": "flow",
        "requested_at": "2026-12-04T09:00:00Z",
    },
    "unknown_field": "ignored",
}


def test_every_request_kind_has_its_model() -> None:
    assert sorted(_request_models()) == sorted(
        model.__name__
        for model in Request.__origin__.__args__  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize("kind", sorted(_request_models()))
def test_a_request_decodes_as_the_union_decodes_it(kind: str) -> None:
    data = orjson.dumps({**EVERY_FIELD, "kind": kind})
    decoded = decode_request(data)
    assert type(decoded) is _request_models()[kind]
    assert decoded == _requests().validate_json(data)


BAD = [
    b"not json",
    b"[1, 2]",
    b'"ExecutionRequested"',
    b"{}",
    b'{"kind": 3}',
    b'{"kind": ["KillRequested"]}',
    b'{"kind": "Nope", "execution_id": "e"}',
    b'{"kind": "KillRequested"}',
    b'{"kind": "KillRequested", "execution_id": 1, "namespace": "n", "flow_id": "f"}',
    b'{"kind": "ExecutionRequested", "execution_id": "e", "namespace": "n", "flow_id": "f",'
    b' "requested_at": "yesterday"}',
    b'{"kind": "UnqueueRequested", "execution_id": "e", "namespace": "n", "flow_id": "f",'
    b' "state": "NOT_A_STATE"}',
    b'{"kind": "ConditionsMet", "namespace": "n", "flow_id": "f", "trigger_id": "t",'
    b' "upstream_execution_id": "u", "at": "2026-12-04T09:00:00Z", "windows": [],'
    b' "request": {"kind": "ExecutionRequested"}}',
    b'{"kind": "KillRequested", "execution_id": "e", "namespace": "n", "flow_id": "f", "v": NaN}',
    b'{"kind": "KillRequested", "execution_id": "e", "namespace": "n", "flow_id": "f", "v": 1.5}',
]

# Decodable, but orjson refuses them (an integer past 64 bits) or reads them otherwise
# (a repeated key): the union decides.
ODD = [
    b'{"kind": "KillRequested", "execution_id": "e", "namespace": "n", "flow_id": "f",'
    b' "v": 123456789012345678901234567890}',
    b'{"kind": "Nope", "kind": "KillRequested", "execution_id": "e", "namespace": "n",'
    b' "flow_id": "f"}',
]


@pytest.mark.parametrize("data", ODD)
def test_what_orjson_reads_otherwise_decodes_as_the_union_decodes_it(data: bytes) -> None:
    assert decode_request(data) == _requests().validate_json(data)


@pytest.mark.parametrize("data", BAD)
def test_an_undecodable_request_raises_the_unions_error(data: bytes) -> None:
    with pytest.raises(ValidationError) as union:
        _requests().validate_json(data)
    with pytest.raises(ValidationError) as ours:
        decode_request(data)
    assert str(ours.value) == str(union.value)
    assert ours.value.json() == union.value.json()  # NaN != NaN in errors()
