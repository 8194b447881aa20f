"""Fencing: an executor that lost an execution can no longer change what Podium shows.

An executor may lose its partitions without knowing it at once: paused (SIGSTOP, a long
GC or VM pause) past its session timeout, it wakes up with walks that go on and publish,
while another executor already resumed the same executions. Kafka cannot stop it from
producing, so the readers of the event log ignore it, by one rule:

- The high bits of an event's `seq` are its owner *epoch* (`epoch_of`). A new owner takes
  an execution over by publishing a *claim*: an ExecutionChanged whose seq is the first
  of the next epoch (`claim_seq`). Its own later events stay in that epoch.
- An event of an execution is *fenced* (dropped) when an ExecutionChanged of a higher
  epoch of that execution came before it in the log.

Events of one execution share a partition, so "before it in the log" is one order for
every reader: the projector (batch after batch, the epochs claimed so far kept in the
store's `execution_epochs`), `podium projector rebuild`, and the invariant checker in
tests all drop the same events. A new owner reads the execution only after its claim is
projected, so it sees whatever the old owner published before the claim, and nothing the
old owner publishes after it counts.

Deletion uses the same rule: an ExecutionDeleted's seq is the first of the last epoch
(`DELETED_SEQ`), so once it is in the log no event of that execution counts any more
(a walk still running, a late retry): a deleted execution stays deleted, on a rebuild too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.events import EventDocument

__all__ = ["DELETED_SEQ", "EPOCH_SHIFT", "Fence", "claim_seq", "epoch_of"]

# An epoch holds 2**32 seqs: more events than an execution publishes in one ownership
# (one log flush per 100 ms for 13 years).
EPOCH_SHIFT = 32
# The seq of an ExecutionDeleted: the first of the highest epoch a signed 64-bit seq holds
DELETED_SEQ = ((1 << 31) - 1) << EPOCH_SHIFT

_RAISING = frozenset({"ExecutionChanged", "ExecutionDeleted"})


def epoch_of(seq: int) -> int:
    return seq >> EPOCH_SHIFT


def claim_seq(last_seq: int) -> int:
    """The seq of a claim on an execution whose highest known seq is `last_seq`: the first
    of the next epoch, past any seq the previous owner may have used unrecorded."""
    return (epoch_of(last_seq) + 1) << EPOCH_SHIFT


class Fence:
    """The rule applied to event documents in log order.

    `epochs` are the highest epochs claimed so far (execution id → epoch; missing: 0),
    as the store remembers them; `raised` collects the ones this fence raised, for the
    caller to persist."""

    __slots__ = ("epochs", "raised")

    def __init__(self, epochs: Mapping[str, int] | None = None) -> None:
        self.epochs: dict[str, int] = dict(epochs or {})
        self.raised: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<Fence {len(self.epochs)} claimed executions>"

    def admits(self, doc: Mapping[str, Any]) -> bool:
        """Whether the event `doc` counts; a claim in it raises its execution's epoch."""
        seq = doc.get("seq")
        if seq is None:  # nothing to order it by (older writers): it counts
            return True
        execution_id = doc["execution_id"]
        epoch = seq >> EPOCH_SHIFT
        current = self.epochs.get(execution_id, 0)
        if epoch < current:
            return False
        if epoch > current and doc["kind"] in _RAISING:
            self.epochs[execution_id] = self.raised[execution_id] = epoch
        return True

    def admitted(self, events: Sequence[EventDocument]) -> list[EventDocument]:
        """The events that count, in order: `admits` each in turn. With nothing claimed
        and every seq in the first epoch, that is all of them and nothing is raised: the
        common batch skips the call per event (in bench/production.py's batches, about
        1,400 instructions an event)."""
        if not self.epochs and not any([(e.doc.get("seq") or 0) >> EPOCH_SHIFT for e in events]):
            return list(events)
        return [e for e in events if self.admits(e.doc)]
