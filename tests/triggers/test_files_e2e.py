"""File triggers end to end: a whole embedded Podium, real files, real watchfiles events.

Each test gets a Podium whose settings allow `<tmp>/allowed` (the shared fixtures use the
defaults, which allow no folder), drops files there and checks what the store holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine.events import ExecutionChanged
from engine.server import Podium
from engine.settings import TriggerSection
from engine.states import State
from tests.conftest import Harness, running_podium
from triggers import files_runners

# 10,000 files take 25-35 s on an idle 2-CPU machine and over a minute on a busy one, so
# the suite bursts 2,000 (PODIUM_TEST_FILE_BURST=10000 for the full size; bench/file_trigger.py
# measures it).
BURST = int(os.environ.get("PODIUM_TEST_FILE_BURST", "2000"))


@contextlib.asynccontextmanager
async def files_podium(tmp_path: Path) -> AsyncIterator[Podium]:
    """Podium on `<tmp>/data`, allowed to watch `<tmp>/allowed` (restartable)."""
    allowed = tmp_path / "allowed"
    allowed.mkdir(exist_ok=True)
    async with running_podium(
        tmp_path / "data", triggers=TriggerSection(allowed_paths=[allowed.resolve()])
    ) as podium:
        yield podium


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with files_podium(tmp_path) as podium:
        yield Harness(podium, None)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "allowed" / "inbox"
    folder.mkdir(parents=True)
    return folder


def realtime_flow(folder: Path, *, flow_id: str = "arrivals", extra: str = "") -> str:
    return f"""
id: {flow_id}
namespace: tests.files
triggers:
  - id: watch
    type: io.kestra.plugin.fs.local.RealtimeTrigger
    from: "{folder}"
{extra}
tasks:
  - id: seen
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ trigger.changeType }}}} {{{{ trigger.file.name }}}} {{{{ trigger.file.size }}}}"
"""


async def executions(
    podium: Podium, flow_id: str, count: int, *, timeout: float = 20.0
) -> list[ExecutionChanged]:
    """Wait until `count` executions of the flow ended; fail if more show up."""
    deadline = time.monotonic() + timeout
    while True:
        await podium.projector.caught_up()
        found = await podium.store.list_executions(flow_id=flow_id, limit=count + 50)
        ended = [e for e in found if e.state.is_terminal]
        if len(ended) >= count or time.monotonic() > deadline:
            assert len(found) == count, f"{len(found)} executions, expected {count}"
            assert len(ended) == count, [e.state for e in found]
            return ended
        await asyncio.sleep(0.05 if count < 100 else 0.5)  # big lists are costly to read


async def stays(podium: Podium, flow_id: str, count: int, seconds: float = 1.0) -> None:
    """Nothing more fires for a while (settling and a rescan-free quiet period)."""
    await asyncio.sleep(seconds)
    await executions(podium, flow_id, count, timeout=0)


async def messages(podium: Podium, execution: ExecutionChanged) -> list[str]:
    return [line.message for line in await podium.store.logs(execution.execution_id)]


# -- RealtimeTrigger ---------------------------------------------------------------


async def test_a_file_fires_once_and_its_copy_outlives_the_source(
    harness: Harness, inbox: Path
) -> None:
    flow = (
        realtime_flow(inbox)
        + """
  - id: hold
    type: io.kestra.plugin.core.flow.Pause
  - id: read
    type: io.kestra.plugin.core.flow.WorkingDirectory
    inputFiles:
      copy.csv: "{{ trigger.file.uri }}"
    tasks:
      - {id: where, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.file.path }}"}
"""
    )
    podium = harness.podium
    await harness.deploy(flow)
    (inbox / "orders.csv").write_text("id,total\n1,9.5\n")
    [paused] = await _wait_state(podium, "arrivals", State.PAUSED)
    file = variables(paused)["file"]
    assert variables(paused)["changeType"] == "CREATE"
    assert (file["name"], file["size"]) == ("orders.csv", 15)
    assert file["localPath"] == file["path"] == str((inbox / "orders.csv").resolve())
    assert file["modifiedDate"].startswith("20") and file["isDirectory"] is False
    assert file["uri"].startswith(
        f"kestra:///tests/files/arrivals/executions/{paused.execution_id}/"
    )
    (inbox / "orders.csv").unlink()  # the flow reads the copy, not the source
    await podium.intake.resume(paused.execution_id, "tests.files", "arrivals")
    outcome = await harness.wait(paused.execution_id)
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert outcome.messages("seen") == ["CREATE orders.csv 15"]
    assert podium.storage.read(file["uri"]) == b"id,total\n1,9.5\n"
    await stays(podium, "arrivals", 1, seconds=0.5)


async def _wait_state(podium: Podium, flow_id: str, state: State) -> list[ExecutionChanged]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        await podium.projector.caught_up()
        found = await podium.store.list_executions(flow_id=flow_id, states=[state])
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {state} execution of {flow_id}")


async def test_a_slow_writer_fires_once_with_the_whole_file(harness: Harness, inbox: Path) -> None:
    await harness.deploy(realtime_flow(inbox))

    def write_slowly() -> None:  # in a thread, so a busy event loop cannot stretch the pauses
        with (inbox / "slow.bin").open("wb") as out:
            for _ in range(20):  # 2,000 bytes over ~0.6 s, pausing less than the settle time
                out.write(b"x" * 100)
                out.flush()
                time.sleep(0.03)

    await asyncio.to_thread(write_slowly)
    [done] = await executions(harness.podium, "arrivals", 1)
    assert await messages(harness.podium, done) == ["CREATE slow.bin 2000"]
    await stays(harness.podium, "arrivals", 1)


async def test_a_burst_gives_one_execution_per_file(harness: Harness, inbox: Path) -> None:
    await harness.deploy(realtime_flow(inbox))
    started = time.monotonic()
    for i in range(BURST):
        (inbox / f"f{i:05}.txt").write_bytes(b"%d" % i)
    done = await executions(harness.podium, "arrivals", BURST, timeout=BURST / 20)
    names = {variables(e)["file"]["name"] for e in done}
    assert len(names) == BURST and all(e.state is State.SUCCESS for e in done)
    logging.getLogger(__name__).info("%d files in %.1f s", BURST, time.monotonic() - started)


async def test_updates_deletes_and_the_on_property(harness: Harness, inbox: Path) -> None:
    await harness.deploy(realtime_flow(inbox, flow_id="creates", extra="    on: CREATE"))
    await harness.deploy(
        realtime_flow(inbox, flow_id="deletes", extra="    on: DELETE").replace(
            "from:", "recursive: true\n    from:"
        )
    )
    await harness.deploy(realtime_flow(inbox, flow_id="all"))
    podium = harness.podium
    (inbox / "a.txt").write_text("one")
    await executions(podium, "creates", 1)
    await executions(podium, "all", 1)
    with (inbox / "a.txt").open("a") as out:
        out.write("two")
    await executions(podium, "all", 2)
    (inbox / "a.txt").unlink()
    [deleted] = await executions(podium, "deletes", 1)
    # The size is the last version that watcher saw settle (both did, most likely).
    assert (await messages(podium, deleted))[0] in ("DELETE a.txt 6", "DELETE a.txt 3")
    (inbox / "a.txt").write_text("again")  # it left the folder: new again
    await executions(podium, "creates", 2)
    logs = sorted(
        [m for e in await executions(podium, "all", 3) for m in await messages(podium, e)]
    )
    assert logs == ["CREATE a.txt 3", "CREATE a.txt 5", "UPDATE a.txt 6"]


async def test_a_restart_fires_what_arrived_meanwhile_and_nothing_twice(
    tmp_path: Path, inbox: Path
) -> None:
    async with files_podium(tmp_path) as podium:
        await podium.flows.save(realtime_flow(inbox))
        (inbox / "before.txt").write_text("1")
        await executions(podium, "arrivals", 1)
    (inbox / "while-down-1.txt").write_text("22")
    (inbox / "while-down-2.txt").write_text("333")
    async with files_podium(tmp_path) as podium:
        done = await executions(podium, "arrivals", 3)
        names = sorted(variables(e)["file"]["name"] for e in done)
        assert names == ["before.txt", "while-down-1.txt", "while-down-2.txt"]
        await stays(podium, "arrivals", 3)


async def test_unsafe_files_and_folders_are_ignored(
    harness: Harness, inbox: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    await harness.deploy(realtime_flow(outside, flow_id="forbidden"))
    await harness.deploy(realtime_flow(inbox, extra="    recursive: true"))
    (inbox / "link.txt").symlink_to(outside / "secret.txt")
    (inbox / "linked").symlink_to(outside, target_is_directory=True)
    (outside / "new.txt").write_text("new")
    os.mkfifo(inbox / "pipe")
    (inbox / "real.txt").write_text("real")
    [done] = await executions(harness.podium, "arrivals", 1)
    assert await messages(harness.podium, done) == ["CREATE real.txt 4"]
    await stays(harness.podium, "arrivals", 1)
    await executions(harness.podium, "forbidden", 0, timeout=0)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("forbidden" in m and "not under an allowed path" in m for m in errors), errors


# -- the polling Trigger ---------------------------------------------------------


def polling_flow(folder: Path, *, flow_id: str, extra: str) -> str:
    return f"""
id: {flow_id}
namespace: tests.files
triggers:
  - id: poll
    type: io.kestra.plugin.fs.local.Trigger
    from: "{folder}"
    interval: PT0.2S
{extra}
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{{{ trigger.files }}}}"
    tasks:
      - id: name
        type: io.kestra.plugin.core.debug.Return
        format: "{{{{ fromJson(taskrun.value).name }}}}"
  - id: count
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ trigger.count }}}}"
"""


def variables(execution: ExecutionChanged) -> Any:
    """`trigger` as the execution got it."""
    assert execution.trigger is not None
    return execution.trigger["variables"]


def _names(execution: ExecutionChanged) -> list[str]:
    return sorted(f["name"] for f in variables(execution)["files"])


async def test_polling_moves_its_batch_into_the_archive(
    harness: Harness, inbox: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "allowed" / "inbox" / "archive"  # inside the folder: not rescanned
    for name in ("a.csv", "b.csv", "c.csv"):
        (inbox / name).write_text(name)
    extra = f'    action: MOVE\n    moveDirectory: "{archive}"\n    recursive: true'
    await harness.deploy(polling_flow(inbox, flow_id="mover", extra=extra))
    [done] = await executions(harness.podium, "mover", 1)
    assert _names(done) == ["a.csv", "b.csv", "c.csv"]
    outcome = await harness.outcome(done.execution_id)
    assert outcome.state == "SUCCESS", outcome.task_runs
    assert sorted(r.outputs["value"] for r in outcome.runs("name")) == ["a.csv", "b.csv", "c.csv"]
    assert sorted(p.name for p in archive.iterdir()) == ["a.csv", "b.csv", "c.csv"]
    assert sorted(p.name for p in inbox.iterdir()) == ["archive"]
    for f in variables(done)["files"]:
        assert harness.podium.storage.read(f["uri"]) == f["name"].encode()
    await stays(harness.podium, "mover", 1)


async def test_polling_deletes_and_respects_max_files(harness: Harness, inbox: Path) -> None:
    for name in ("1.txt", "2.txt", "3.txt"):
        (inbox / name).write_text(name)
    extra = "    action: DELETE\n    maxFiles: 2"
    await harness.deploy(polling_flow(inbox, flow_id="deleter", extra=extra))
    done = await executions(harness.podium, "deleter", 2)
    assert sorted(len(_names(e)) for e in done) == [1, 2]
    assert sorted(n for e in done for n in _names(e)) == ["1.txt", "2.txt", "3.txt"]
    assert list(inbox.iterdir()) == []
    (inbox / "1.txt").write_text("back")  # deleted, then made again: a new file
    await executions(harness.podium, "deleter", 3)


async def test_polling_without_action_fires_new_versions_only(
    harness: Harness, inbox: Path
) -> None:
    (inbox / "keep.txt").write_text("v1")
    await harness.deploy(polling_flow(inbox, flow_id="keeper", extra=""))
    [first] = await executions(harness.podium, "keeper", 1)
    assert variables(first)["files"][0]["changeType"] == "CREATE"
    await stays(harness.podium, "keeper", 1, seconds=0.6)  # three polls, nothing new
    (inbox / "keep.txt").write_text("v2, longer")
    done = await executions(harness.podium, "keeper", 2)
    changes = sorted(variables(e)["files"][0]["changeType"] for e in done)
    assert changes == ["CREATE", "UPDATE"]


async def test_without_os_events_the_folder_is_polled(
    harness: Harness, inbox: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_awatch = files_runners.awatch

    def no_events(*paths: Any, force_polling: bool | None = None, **kwargs: Any) -> Any:
        if not force_polling:
            raise OSError("OS file watch limit reached")
        return real_awatch(*paths, force_polling=force_polling, **kwargs)

    monkeypatch.setattr(files_runners, "awatch", no_events)
    await harness.deploy(realtime_flow(inbox))
    (inbox / "polled.txt").write_text("polled")
    [done] = await executions(harness.podium, "arrivals", 1)
    assert await messages(harness.podium, done) == ["CREATE polled.txt 6"]
    assert "polling it instead" in caplog.text
