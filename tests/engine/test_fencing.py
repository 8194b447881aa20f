"""The fencing rule (engine/fencing.py) on event documents in log order."""

from __future__ import annotations

from typing import Any

from engine.events import EventDocument
from engine.fencing import Fence, claim_seq, epoch_of

EPOCH = 1 << 32


def doc(kind: str, seq: int, execution_id: str = "e") -> dict[str, Any]:
    return {"kind": kind, "seq": seq, "execution_id": execution_id}


def test_a_claim_is_the_first_seq_of_the_next_epoch() -> None:
    assert claim_seq(0) == claim_seq(41) == EPOCH
    assert claim_seq(EPOCH + 7) == 2 * EPOCH
    assert epoch_of(claim_seq(EPOCH - 1)) == 1


def test_what_follows_a_claim_from_an_older_epoch_is_dropped() -> None:
    log = [
        doc("ExecutionChanged", 1),
        doc("TaskRunChanged", 5),  # the old owner, before the claim: counts
        doc("ExecutionChanged", EPOCH),  # the claim
        doc("LogsEmitted", 6),  # the old owner, woken up: fenced
        doc("TaskRunChanged", 7),
        doc("ExecutionChanged", 8),
        doc("TaskRunChanged", EPOCH + 1),  # the new owner
        doc("TaskRunChanged", 9, execution_id="other"),  # another execution: not claimed
    ]
    fence = Fence()
    kept = [d["seq"] for d in log if fence.admits(d)]
    assert kept == [1, 5, EPOCH, EPOCH + 1, 9]
    assert fence.raised == {"e": 1}


def test_only_an_execution_header_raises_the_epoch() -> None:
    fence = Fence({"e": 1})
    assert fence.admits(doc("TaskRunChanged", 2 * EPOCH))
    assert fence.admits(doc("TaskRunChanged", EPOCH + 3))
    assert not fence.admits(doc("TaskRunChanged", 3))
    assert fence.raised == {}
    assert fence.admits({"kind": "LogsEmitted", "execution_id": "e"})  # no seq: counts


def test_admitted_is_admits_in_turn() -> None:
    """`admitted` skips `admits` for a batch of the first epoch with nothing claimed: it
    must keep the same events and raise the same epochs as `admits` does in turn."""
    first = [doc("ExecutionChanged", 1), {"kind": "LogsPurged"}, doc("TaskRunChanged", 2)]
    batches: list[tuple[dict[str, int], list[dict[str, Any]]]] = [
        ({}, first),
        ({"e": 1}, first),  # claimed before: fenced
        ({}, [*first, doc("ExecutionChanged", EPOCH), doc("TaskRunChanged", 3)]),
        ({}, [doc("TaskRunChanged", -1), *first]),  # malformed, below the first epoch
        ({"other": 2}, first),
    ]
    for epochs, docs in batches:
        events = [EventDocument(d, b"") for d in docs]
        one_by_one, together = Fence(epochs), Fence(epochs)
        expected = [e for e in events if one_by_one.admits(e.doc)]
        assert together.admitted(events) == expected
        assert together.raised == one_by_one.raised
        assert together.epochs == one_by_one.epochs
