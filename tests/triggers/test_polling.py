"""The generic polling runner (triggers/polling.py) on a real SQLite store.

The source polled is a `Shelf`, a trigger model of this test whose items live in a dict
the test edits: the runner is what is under test, the cloud triggers have their own tests
against real servers (tests/tasks/cloud).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from engine.catalog import default_registries
from engine.flow import Flow, Registries
from engine.plugin import PluginRegistry, PollContext, PolledItem, PolledTrigger, plugin
from engine.templating import Renderer, SecretStore
from tests.triggers.test_schedule_runner import Rig, make_rig, utc
from triggers import TriggerRunners
from triggers.base import slot_id, trigger_scope
from triggers.polling import LOST_AFTER, Poller, PollRunner, firing_key

SHELVES: dict[str, dict[str, str]] = {}  # shelf name -> {item id: name}
ACTED: list[list[str]] = []


@plugin("tests.polling.Shelf")
class Shelf(PolledTrigger):
    batch: ClassVar[bool] = True

    shelf: str
    maxItems: int = 10
    each: bool = False

    def max_items(self) -> int:
        return self.maxItems

    async def poll(self, ctx: PollContext) -> Sequence[PolledItem]:
        shelf = ctx.render(self.shelf)
        return [PolledItem(k, {"name": v}) for k, v in sorted(SHELVES[shelf].items())]

    async def variables(
        self, ctx: PollContext, execution_id: str, items: Sequence[PolledItem]
    ) -> Mapping[str, Any]:
        path, uri = ctx.download_target(execution_id, items[0].id, "../x/" + items[0].data["name"])
        path.write_text("copy")
        return {"names": [i.data["name"] for i in items], "uri": uri}

    async def after_fire(self, ctx: PollContext, items: Sequence[PolledItem]) -> None:
        ACTED.append([i.id for i in items])


@plugin("tests.polling.OneEach")
class OneEach(Shelf):
    batch: ClassVar[bool] = False


def registries() -> Registries:
    base = default_registries()
    triggers = PluginRegistry("trigger")
    triggers.register(*(cls for _, cls in base.triggers), Shelf, OneEach)
    triggers.freeze()
    return Registries(base.tasks, triggers, base.conditions)


FLOW = """
id: shelf
namespace: tests
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.names }}"}
triggers:
  - id: watch
    type: %s
    shelf: "{{ flow.namespace }}-shelf"
    interval: PT1M
%s
"""


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    SHELVES.clear()
    SHELVES["tests-shelf"] = {}
    ACTED.clear()
    async with make_rig(tmp_path, utc(2026, 1, 1)) as made:
        made.flows.registries = registries()
        yield made


async def deploy(rig: Rig, kind: str = "tests.polling.Shelf", extra: str = "") -> Flow:
    return await rig.flows.save(FLOW % (kind, extra))


def poller_of(rig: Rig, flow: Flow) -> Poller:
    trigger = flow.triggers[0]
    assert isinstance(trigger, PolledTrigger)
    return Poller(flow, trigger, rig.ctx)


def names(rig: Rig) -> list[list[str]]:
    return [(r.trigger or {})["variables"]["names"] for r in rig.intake.requests]


def test_every_polled_trigger_type_gets_the_runner() -> None:
    runners = TriggerRunners()
    assert isinstance(runners[Shelf], PollRunner) and runners[OneEach] is runners[Shelf]


async def test_each_item_fires_once_and_a_new_version_fires_again(rig: Rig) -> None:
    flow = await deploy(rig)
    poller = poller_of(rig, flow)
    SHELVES["tests-shelf"].update({"a@1": "a.csv", "b@1": "b.csv"})
    assert await poller.poll_once() == 1
    assert await poller.poll_once() == 0
    SHELVES["tests-shelf"]["a@2"] = "a.csv"  # a new version of a.csv
    assert await poller.poll_once() == 1
    assert names(rig) == [["a.csv", "b.csv"], ["a.csv"]]
    assert ACTED == [["a@1", "b@1"], ["a@2"]]
    first = rig.intake.requests[0]
    scope = trigger_scope(flow, flow.triggers[0])
    items = [PolledItem("b@1", {}), PolledItem("a@1", {})]
    assert first.execution_id == slot_id(scope, firing_key(items, batch=True))
    # the copy went under the execution's own folder, with a name that cannot escape it
    uri = (first.trigger or {})["variables"]["uri"]
    assert f"/executions/{first.execution_id}/trigger/" in uri and uri.endswith("/a.csv")
    assert rig.ctx.storage.read(uri) == b"copy"
    state = await rig.store.get_trigger_state(trigger_scope(flow, flow.triggers[0]))
    assert state == {"pending": []}


async def test_two_schedulers_fire_an_item_once(rig: Rig) -> None:
    flow = await deploy(rig)
    SHELVES["tests-shelf"].update({f"f{i}": f"f{i}" for i in range(30)})
    pollers = [poller_of(rig, flow) for _ in range(3)]
    await asyncio.gather(*(p.poll_once() for p in pollers))
    fired = sorted(n for batch in names(rig) for n in batch)
    assert fired == sorted(f"f{i}" for i in range(30))


async def test_max_items_leaves_the_rest_for_the_next_poll(rig: Rig) -> None:
    flow = await deploy(rig, extra="    maxItems: 2")
    poller = poller_of(rig, flow)
    SHELVES["tests-shelf"].update({"a": "a", "b": "b", "c": "c"})
    await poller.poll_once()
    await poller.poll_once()
    assert names(rig) == [["a", "b"], ["c"]]


async def test_one_execution_per_item_when_the_model_says_so(rig: Rig) -> None:
    flow = await deploy(rig, "tests.polling.OneEach")
    poller = poller_of(rig, flow)
    SHELVES["tests-shelf"].update({"a": "a", "b": "b"})
    assert await poller.poll_once() == 2
    scope = trigger_scope(flow, flow.triggers[0])
    assert [r.execution_id for r in rig.intake.requests] == [
        slot_id(scope, "a"),
        slot_id(scope, "b"),
    ]


async def test_an_item_that_left_and_came_back_fires_again(rig: Rig) -> None:
    flow = await deploy(rig)
    poller = poller_of(rig, flow)
    SHELVES["tests-shelf"]["a"] = "a"
    await poller.poll_once()
    del SHELVES["tests-shelf"]["a"]
    await poller.poll_once()  # gone: its claim is given back
    SHELVES["tests-shelf"]["a"] = "a"
    await poller.poll_once()
    assert names(rig) == [["a"], ["a"]]


async def test_a_failed_firing_is_tried_again_at_the_next_poll(rig: Rig) -> None:
    flow = await deploy(rig)
    poller = poller_of(rig, flow)
    SHELVES["tests-shelf"]["a"] = "a"
    original = rig.intake.execute

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the bus is away")

    rig.intake.execute = refuse  # type: ignore[method-assign]
    await poller.poll_once()
    assert rig.intake.requests == [] and ACTED == []
    rig.intake.execute = original  # type: ignore[method-assign]
    await poller.poll_once()
    assert names(rig) == [["a"]] and ACTED == [["a"]]


async def test_a_failing_poll_is_logged_masked_and_polling_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    flow = await deploy(rig)
    poller = poller_of(rig, flow)
    SHELVES.clear()  # the shelf does not exist: poll raises KeyError
    assert await poller.poll_once() == 0
    assert "poll failed" in caplog.text
    SHELVES["tests-shelf"] = {"a": "a"}
    assert await poller.poll_once() == 1


async def test_a_runner_stopped_after_the_claim_fires_on_restart(rig: Rig, tmp_path: Path) -> None:
    flow = await deploy(rig)
    SHELVES["tests-shelf"]["a"] = "a"
    rig.intake.gate = asyncio.Event()  # publishing waits: the runner is stopped there
    first = asyncio.create_task(PollRunner().run(flow, flow.triggers[0], rig.ctx))
    await rig.intake.waiting.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert rig.intake.requests == [] and ACTED == []
    rig.intake.gate = None
    restarted = poller_of(rig, flow)
    await restarted.recover()
    assert names(rig) == [["a"]] and ACTED == [["a"]]
    assert await restarted.poll_once() == 0  # claimed before the stop: never twice
    scope = trigger_scope(flow, flow.triggers[0])
    assert await rig.store.get_trigger_state(scope) == {"pending": []}


@pytest.mark.parametrize("kind", ["tests.polling.Shelf", "tests.polling.OneEach"])
async def test_the_claims_journal_what_they_won_in_their_own_transaction(
    rig: Rig, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claimed in chunks (CLAIM_CHUNK = 2 here), each chunk's transaction journals what
    was won so far: a process dying at any point after a claim loses nothing."""
    monkeypatch.setattr("triggers.polling.CLAIM_CHUNK", 2)
    flow = await deploy(rig, kind, "    maxItems: 5")
    SHELVES["tests-shelf"].update({f"f{i}": f"f{i}" for i in range(5)})
    writes: list[dict[str, Any]] = []
    set_state = rig.store.set_trigger_state

    async def counted(scope: str, state: dict[str, Any]) -> None:
        writes.append(state)
        await set_state(scope, state)

    monkeypatch.setattr(rig.store, "set_trigger_state", counted)
    rig.intake.gate = asyncio.Event()  # the process dies as it publishes the first request
    first = asyncio.create_task(poller_of(rig, flow).poll_once())
    await rig.intake.waiting.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert writes == []  # nothing but the claims wrote the journal …
    scope = trigger_scope(flow, flow.triggers[0])
    pending = ((await rig.store.get_trigger_state(scope)) or {})["pending"]
    expected = (
        [[f"f{i}" for i in range(5)]] if kind.endswith("Shelf") else [[f"f{i}"] for i in range(5)]
    )
    assert [[i["id"] for i in entry["items"]] for entry in pending] == expected
    rig.intake.gate = None
    await poller_of(rig, flow).recover()  # … and a restart fires every item once
    assert sorted(n for names_ in names(rig) for n in names_) == [f"f{i}" for i in range(5)]
    assert ((await rig.store.get_trigger_state(scope)) or {})["pending"] == []


async def test_secrets_rendered_by_a_poll_are_masked_in_its_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = SecretStore({"SECRET_SHELF": base64.b64encode(b"hidden-shelf-name").decode()})
    async with make_rig(tmp_path, utc(2026, 1, 1)) as rig:
        rig.flows.registries = registries()
        rig.ctx.renderer = Renderer(secrets=secrets)
        flow = await rig.flows.save(
            (FLOW % ("tests.polling.Shelf", "")).replace(
                '"{{ flow.namespace }}-shelf"', "\"{{ secret('SHELF') }}\""
            )
        )
        poller = poller_of(rig, flow)
        assert await poller.poll_once() == 0  # KeyError naming the shelf
    assert "poll failed" in caplog.text and "hidden-shelf-name" not in caplog.text


async def test_conditions_hold_back_a_firing_without_firing_it_later(rig: Rig) -> None:
    condition = """
    conditions:
      - type: io.kestra.plugin.core.condition.Expression
        expression: "{{ trigger.names | length > 1 }}"
"""
    flow = await deploy(rig, extra=condition)
    poller = poller_of(rig, flow)
    SHELVES["tests-shelf"]["a"] = "a"
    await poller.poll_once()
    assert rig.intake.requests == [] and ACTED == []
    SHELVES["tests-shelf"].update({"b": "b", "c": "c"})
    await poller.poll_once()
    assert names(rig) == [["b", "c"]]


@plugin("tests.polling.Exclusive")
class Exclusive(Shelf):
    """A shelf that, like the HTTP trigger, does not poll while its execution runs."""

    def is_exclusive(self) -> bool:
        return True


async def test_an_exclusive_trigger_waits_and_forgets_an_execution_never_stored(
    rig: Rig,
) -> None:
    """The recording intake stores no execution: the id the trigger watches is unknown,
    so it holds the trigger back until LOST_AFTER, then is forgotten."""
    base = registries()
    triggers = PluginRegistry("trigger")
    triggers.register(*(cls for _, cls in base.triggers), Exclusive)
    triggers.freeze()
    rig.flows.registries = Registries(base.tasks, triggers, base.conditions)
    flow = await deploy(rig, "tests.polling.Exclusive", "    stopAfter: [FAILED]")
    poller = poller_of(rig, flow)
    SHELVES["tests-shelf"]["a"] = "a"
    assert not await poller.is_held()
    assert await poller.poll_once() == 1
    [request] = rig.intake.requests
    watched = (await rig.state(flow))["watch"]
    assert [w["id"] for w in watched] == [request.execution_id]
    assert await poller.is_held()  # its execution may still be on its way
    await rig.clock.advance(LOST_AFTER.total_seconds() + 1)
    assert not await poller.is_held()
    assert (await rig.state(flow))["watch"] == []
