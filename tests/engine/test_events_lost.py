"""When the bus says events were not written (EventsLost: a Kafka produce that failed
after `send` returned), the executor neither crashes nor fails the execution: it drops
what it holds in memory and takes its partitions over again from the store."""

from __future__ import annotations

import pytest

from engine.errors import EventsLost
from engine.fencing import epoch_of
from tests.conftest import Harness

FLOW = """
id: steps
namespace: lost
tasks:
  - {id: a, type: io.kestra.plugin.core.debug.Return, format: "one"}
  - {id: b, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.a.value }} two"}
  - {id: c, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.b.value }} three"}
"""


async def test_events_that_were_not_written_are_taken_over_again(
    real_time_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    podium = real_time_harness.podium
    real_send = podium.bus.send
    sent = 0

    async def send_losing_the_fifth(topic: str, key: str, value: bytes) -> None:
        nonlocal sent
        sent += 1
        if sent == 5:  # not written, and the bus says so on this call
            raise EventsLost("the broker did not take it (test)")
        await real_send(topic, key, value)

    monkeypatch.setattr(podium.bus, "send", send_losing_the_fifth)
    outcome = await real_time_harness.wait(await real_time_harness.start(FLOW))
    assert outcome.state == "SUCCESS", outcome.messages()
    assert outcome.run("c").outputs == {"value": "one two three"}
    assert epoch_of(outcome.execution.seq) == 1  # claimed again after the loss
    # and the executor goes on with new work
    again = await real_time_harness.wait(await real_time_harness.start(FLOW))
    assert again.state == "SUCCESS"
