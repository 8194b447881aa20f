"""File triggers, unit level: models, filters, versions, safety, settling, claims, recovery."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import ValidationError

from engine.clock import FakeClock
from engine.errors import InputError
from engine.flow import Flow
from engine.intake import Intake
from engine.storage import LocalStorage
from engine.store.base import Journal
from engine.templating import Renderer
from triggers.base import TriggerContext, slot_id, trigger_scope
from triggers.conditions import Expression
from triggers.files import RUNNERS, TRIGGERS, PollingTrigger, RealtimeTrigger
from triggers.files_firing import FileFirer
from triggers.files_runners import FOLDER_RETRY_SECONDS, open_folder
from triggers.files_scan import (
    FileVersion,
    Folder,
    Settler,
    copy_version,
    describe,
    folder_problem,
    move_or_delete,
    scan,
    stat_paths,
)

# -- models ----------------------------------------------------------------------


def test_models_have_kestras_names_and_defaults() -> None:
    assert (RealtimeTrigger, PollingTrigger) == TRIGGERS and set(RUNNERS) == set(TRIGGERS)
    assert RealtimeTrigger.type_name == "io.kestra.plugin.fs.local.RealtimeTrigger"
    assert PollingTrigger.type_name == "io.kestra.plugin.fs.local.Trigger"
    realtime = RealtimeTrigger.model_validate({"id": "w", "type": "x", "from": "/data"})
    assert (realtime.folder, realtime.on, realtime.recursive) == (
        "/data",
        "CREATE_OR_UPDATE",
        False,
    )
    polling = PollingTrigger.model_validate({"id": "p", "type": "x", "from": "/data"})
    assert polling.interval == timedelta(seconds=60)
    assert (polling.maxFiles, polling.action, polling.on) == (25, "NONE", "CREATE_OR_UPDATE")


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (PollingTrigger, {"action": "MOVE"}, "moveDirectory"),
        (PollingTrigger, {"interval": "PT0S"}, "positive"),
        (PollingTrigger, {"maxFiles": 0}, "greater than or equal"),
        (RealtimeTrigger, {"regExp": "(unclosed"}, "regular expression"),
        (RealtimeTrigger, {"on": "RENAME"}, "CREATE"),
        (RealtimeTrigger, {"fromm": "/x"}, "Extra inputs"),
    ],
)
def test_models_refuse_bad_properties(model: Any, data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        model.model_validate({"id": "t", "type": "x", "from": "/data", **data})


def test_templated_regexp_is_checked_at_run_time_only() -> None:
    trigger = RealtimeTrigger.model_validate(
        {"id": "w", "type": "x", "from": "/d", "regExp": "{{ envs.pattern }}"}
    )
    assert trigger.regExp == "{{ envs.pattern }}"


# -- filters and safety -------------------------------------------------------------


def test_folder_filters_by_name_only(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    flat = Folder(root)
    assert flat.wants(f"{root}/a.csv")
    assert not flat.wants(f"{root}/sub/a.csv")  # not recursive
    assert not flat.wants(f"{root}/../a.csv")
    assert not flat.wants(f"{root}/sub/../a.csv")
    assert not flat.wants(f"{root}x/a.csv")  # a sibling that shares the prefix
    assert not flat.wants(str(root))
    deep = Folder(root, recursive=True, pattern=re.compile(r".*\.csv"))
    assert deep.wants(f"{root}/sub/a.csv") and not deep.wants(f"{root}/sub/a.json")
    # Kestra's regExp must match the whole absolute path (Java's matches()).
    assert not Folder(root, pattern=re.compile(r"a\.csv")).wants(f"{root}/a.csv")
    by_name = Folder(root, recursive=True, glob="*.csv")
    assert by_name.wants(f"{root}/x/y/a.csv") and not by_name.wants(f"{root}/a.txt")
    by_path = Folder(root, recursive=True, glob="in/*.csv")
    assert by_path.wants(f"{root}/in/a.csv") and not by_path.wants(f"{root}/out/a.csv")
    excluding = Folder(root, recursive=True, exclude=(root / "archive",))
    assert not excluding.wants(f"{root}/archive/a.csv") and excluding.wants(f"{root}/archived.csv")


def test_scan_ignores_symlinks_special_files_and_excluded_trees(tmp_path: Path) -> None:
    root = (tmp_path / "in").resolve()
    (root / "sub").mkdir(parents=True)
    (root / "archive").mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("bb")
    (root / "archive" / "old.txt").write_text("old")
    (root / "link.txt").symlink_to(outside)
    (root / "inside-link.txt").symlink_to(root / "a.txt")
    (root / "linked-dir").symlink_to(tmp_path)
    os.mkfifo(root / "pipe")
    folder = Folder(root, recursive=True, exclude=(root / "archive",))
    found = {Path(v.path).relative_to(root).as_posix(): v.size for v in scan(folder)}
    assert found == {"a.txt": 1, "sub/b.txt": 2}
    looks = stat_paths(
        [f"{root}/link.txt", f"{root}/linked-dir/secret.txt", f"{root}/pipe", f"{root}/a.txt"],
        folder,
    )
    assert [p for p, v in looks.items() if v is not None] == [f"{root}/a.txt"]
    assert folder_problem(root, []) is not None
    assert folder_problem(root, [tmp_path.resolve()]) is None
    problem = folder_problem(tmp_path.resolve(), [root])
    assert problem is not None and "not under an allowed path" in problem


def test_version_keys_round_trip_and_name_the_content(tmp_path: Path) -> None:
    file = tmp_path / "a b:c.txt"
    file.write_text("one")
    [first] = stat_paths([str(file)], Folder(tmp_path.resolve())).values()
    assert first is not None
    again = FileVersion.from_key(first.key)
    assert (again.path, again.size, again.mtime_ns) == (first.path, 3, first.mtime_ns)
    os.utime(file, ns=(first.atime_ns, first.mtime_ns + 1))
    [touched] = stat_paths([str(file)], Folder(tmp_path.resolve())).values()
    assert touched is not None and touched.key != first.key and not touched.is_same(first)
    described = describe(first, "kestra:///x")
    assert described["name"] == "a b:c.txt" and described["size"] == 3
    assert described["uri"] == "kestra:///x" and described["localPath"] == str(file)
    assert described["modifiedDate"].startswith("20")


def test_copy_takes_only_the_settled_version(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"12345")
    folder = Folder(tmp_path.resolve())
    [version] = stat_paths([str(source)], folder).values()
    assert version is not None
    assert copy_version(version, tmp_path / "copies" / "one")
    assert (tmp_path / "copies" / "one").read_bytes() == b"12345"
    source.write_bytes(b"123456")  # changed since it settled
    assert not copy_version(version, tmp_path / "copies" / "two")
    source.unlink()
    source.symlink_to(tmp_path / "copies" / "one")  # swapped for a symlink: refused
    assert not copy_version(version, tmp_path / "copies" / "three")
    assert sorted(p.name for p in (tmp_path / "copies").iterdir()) == ["one"]


def test_move_or_delete_leaves_newer_versions(tmp_path: Path) -> None:
    folder = Folder(tmp_path.resolve())
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    looks = stat_paths([str(tmp_path / "a"), str(tmp_path / "b")], folder)
    a, b = looks[str(tmp_path / "a")], looks[str(tmp_path / "b")]
    assert a is not None and b is not None
    assert move_or_delete(a, "MOVE", tmp_path / "archive")
    assert (tmp_path / "archive" / "a").read_text() == "a" and not (tmp_path / "a").exists()
    (tmp_path / "b").write_text("b2")
    assert not move_or_delete(b, "DELETE", None) and (tmp_path / "b").exists()


# -- settling ------------------------------------------------------------------------


def _v(path: str, size: int, mtime: int = 1) -> FileVersion:
    return FileVersion(path, size, mtime)


def test_settler_needs_two_equal_looks_a_settle_apart() -> None:
    settler = Settler(settle=0.15)
    settler.saw("/f")
    assert settler.due(0.0) == ["/f"] and settler.wait_time(0.0) == 0.0
    assert settler.update({"/f": _v("/f", 10)}, 0.0) == []
    assert settler.due(0.1) == [] and settler.wait_time(0.1) == pytest.approx(0.05)
    assert settler.update({"/f": _v("/f", 20)}, 0.15) == []  # still growing
    assert settler.update({"/f": _v("/f", 20)}, 0.30) == [_v("/f", 20)]
    assert len(settler) == 0 and settler.wait_time(1.0) is None
    settler.seed(_v("/g", 1), 1.0)
    settler.saw("/g")  # an event for a path already settling does not reset it
    assert settler.due(1.1) == [] and settler.due(1.2) == ["/g"]
    settler.forget("/g")
    assert settler.update({"/g": _v("/g", 1)}, 1.3) == []  # forgotten while looked at
    settler.saw("/h")
    assert settler.update({"/h": None}, 2.0) == [] and len(settler) == 0


# -- claims, journal, recovery -------------------------------------------------------


class MemoryState:
    """The TriggerStateStore contract, in memory."""

    def __init__(self) -> None:
        self.claims: set[tuple[str, str]] = set()
        self.states: dict[str, dict[str, Any]] = {}
        self.claim_calls = 0
        self.set_calls = 0

    async def get_trigger_state(self, scope: str) -> dict[str, Any] | None:
        return self.states.get(scope)

    async def set_trigger_state(self, scope: str, state: dict[str, Any]) -> None:
        self.set_calls += 1
        self.states[scope] = state

    async def claim(
        self, scope: str, items: list[str], *, journal: Journal | None = None
    ) -> list[str]:
        self.claim_calls += 1
        won = [i for i in items if (scope, i) not in self.claims]
        state = journal(self.states.get(scope), won) if journal is not None else None
        self.claims.update((scope, i) for i in items)  # with the journal, or not at all
        if state is not None:
            self.states[scope] = state
        return won

    async def release(self, scope: str, items: list[str]) -> None:
        self.claims.difference_update((scope, i) for i in items)


class RecordingIntake:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next: Exception | None = None

    async def execute(self, namespace: str, flow_id: str, **kwargs: Any) -> Any:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.requests.append(kwargs)
        return kwargs


class _FakeFlow:
    namespace, id, revision, key = "company.team", "etl", 1, "company.team/etl"


FLOW = cast(Flow, _FakeFlow())  # what the firer and open_folder read of a flow


def _firer(tmp_path: Path, trigger: Any, **kwargs: Any) -> tuple[FileFirer, RecordingIntake]:
    intake = RecordingIntake()
    ctx = TriggerContext(
        intake=cast(Intake, intake),
        state=MemoryState(),
        clock=FakeClock(),
        renderer=Renderer(),
        storage=LocalStorage(tmp_path / "storage"),
    )
    return FileFirer(FLOW, trigger, ctx, **kwargs), intake


def _files(tmp_path: Path, *names: str) -> list[FileVersion]:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    for name in names:
        (inbox / name).write_text(f"content of {name}")
    looks = stat_paths([str(inbox / n) for n in names], Folder(inbox.resolve()))
    return [v for v in looks.values() if v is not None]


REALTIME = RealtimeTrigger.model_validate({"id": "watch", "type": "x", "from": "/in"})


async def test_claims_are_batched_and_say_create_then_update(tmp_path: Path) -> None:
    firer, _ = _firer(tmp_path, REALTIME, on="CREATE_OR_UPDATE")
    versions = _files(tmp_path, "a", "b", "c")
    won = await firer.claim(versions)
    assert [change for _, change in won] == ["CREATE"] * 3
    assert cast(MemoryState, firer.ctx.state).claim_calls == 1
    assert await firer.claim(versions) == []  # the same versions never again
    newer = FileVersion(versions[0].path, 99, versions[0].mtime_ns + 1)
    assert await firer.claim([newer]) == [(newer, "UPDATE")]
    firer.left(versions[1].path)  # left the folder: a file made there again is new
    await firer.flush_releases()
    again = FileVersion(versions[1].path, 5, versions[1].mtime_ns + 7)
    assert await firer.claim([again]) == [(again, "CREATE")]


async def test_fire_each_copies_then_fires_with_the_version_as_item(tmp_path: Path) -> None:
    firer, intake = _firer(tmp_path, REALTIME, on="CREATE")
    versions = _files(tmp_path, "a.csv", "b.csv")
    assert await firer.fire_each(versions) == 2
    assert await firer.fire_each(versions) == 0  # claimed already
    newer = FileVersion(versions[0].path, 99, versions[0].mtime_ns + 1)
    assert await firer.fire_each([newer]) == 0  # an UPDATE, and `on: CREATE`
    scope = trigger_scope(FLOW, REALTIME)
    [first, _] = intake.requests
    assert first["execution_id"] == slot_id(scope, versions[0].key)
    file = first["trigger"]["variables"]["file"]
    assert file["uri"] == (
        f"kestra:///company/team/etl/executions/{first['execution_id']}/trigger/a.csv"
    )
    assert first["trigger"]["variables"]["changeType"] == "CREATE"
    assert firer.ctx.storage.read(file["uri"]) == b"content of a.csv"
    assert (await firer.ctx.state.get_trigger_state(scope) or {}).get("pending")  # owed …
    await firer.finish()
    assert await firer.ctx.state.get_trigger_state(scope) == {}  # … until the runner is done


async def test_a_firing_cut_short_is_finished_by_the_next_runner(tmp_path: Path) -> None:
    firer, intake = _firer(tmp_path, REALTIME, on="CREATE_OR_UPDATE")
    versions = _files(tmp_path, "a", "b")
    intake.fail_next = ConnectionError("bus down")  # not a PodiumError: the runner dies
    with pytest.raises(ConnectionError):
        await firer.fire_each(versions)
    (tmp_path / "inbox" / "a").unlink()  # gone since: the copy made before firing is used
    again = FileFirer(FLOW, REALTIME, firer.ctx, on="CREATE_OR_UPDATE")
    assert await again.claim(versions) == []  # claimed for good …
    assert await again.recover() == 2  # … and fired by the recovery, once each
    assert sorted(r["trigger"]["variables"]["file"]["name"] for r in intake.requests) == ["a", "b"]
    assert await again.recover() == 0


async def test_the_claim_journals_what_it_won_in_the_same_store_call(tmp_path: Path) -> None:
    """No store write between the claim and the journal: a process that dies after the
    claim cannot lose the versions it won (claimed, never fired)."""
    polling = PollingTrigger.model_validate({"id": "poll", "type": "x", "from": "/in"})
    for trigger in (REALTIME, polling):
        firer, intake = _firer(tmp_path / trigger.id, trigger, on="CREATE_OR_UPDATE")
        state = cast(MemoryState, firer.ctx.state)
        versions = _files(tmp_path / trigger.id, "a", "b", "c")
        await firer.claim(versions[:1])  # "a" fired in an earlier run
        intake.fail_next = ConnectionError("the process dies as it fires")
        # batch: claimed in two chunks ("a" lost and "b" won, then "c"), each journaled
        firing = firer.fire_each(versions) if trigger is REALTIME else firer.fire_batch(versions, 2)
        with pytest.raises(ConnectionError):
            await firing
        assert state.set_calls == 0  # the journal came with the claims
        again = FileFirer(FLOW, trigger, firer.ctx, on="CREATE_OR_UPDATE")
        assert await again.recover() == (2 if trigger is REALTIME else 1)
        fired = intake.requests[-1]["trigger"]["variables"]
        names = [f["name"] for f in fired.get("files", [fired.get("file")])]
        assert names == (["c"] if trigger is REALTIME else ["b", "c"])


async def test_a_recovery_fires_only_what_the_conditions_let_through(tmp_path: Path) -> None:
    condition = Expression.model_validate(
        {
            "type": "io.kestra.plugin.core.condition.Expression",
            "expression": "{{ trigger.file.name != 'skip' }}",
        }
    )
    trigger = REALTIME.model_copy(update={"conditions": (condition,)})
    firer, intake = _firer(tmp_path, trigger, on="CREATE_OR_UPDATE")
    intake.fail_next = ConnectionError("the process dies as it fires")
    with pytest.raises(ConnectionError):
        await firer.fire_each(_files(tmp_path, "keep", "skip"))
    again = FileFirer(FLOW, trigger, firer.ctx, on="CREATE_OR_UPDATE")
    assert await again.recover() == 1
    assert [r["trigger"]["variables"]["file"]["name"] for r in intake.requests] == ["keep"]


async def test_refused_requests_are_logged_and_their_copy_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    firer, intake = _firer(tmp_path, REALTIME, on="CREATE_OR_UPDATE")
    intake.fail_next = InputError({"x": "missing"})
    assert await firer.fire_each(_files(tmp_path, "a")) == 0
    assert "did not fire" in caplog.text
    assert not [p for p in (tmp_path / "storage").rglob("*") if p.is_file()]


async def test_batch_fires_once_moves_and_survives_a_restart(tmp_path: Path) -> None:
    trigger = PollingTrigger.model_validate(
        {"id": "poll", "type": "x", "from": "/in", "action": "MOVE", "moveDirectory": "/out"}
    )
    firer, intake = _firer(
        tmp_path, trigger, on="CREATE_OR_UPDATE", action="MOVE", move_to=tmp_path / "out"
    )
    versions = _files(tmp_path, "a", "b")
    intake.fail_next = ConnectionError("bus down")
    with pytest.raises(ConnectionError):
        await firer.fire_batch(versions, 25)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "b"]  # moved first
    assert await firer.recover() == 1
    [request] = intake.requests
    variables = request["trigger"]["variables"]
    assert variables["count"] == 2 and {f["changeType"] for f in variables["files"]} == {"CREATE"}
    uris = [f["uri"] for f in variables["files"]]
    assert sorted(firer.ctx.storage.read(u) for u in uris) == [b"content of a", b"content of b"]
    assert await firer.claim(versions) == []


async def test_a_cancelled_runner_still_journals_what_it_claimed(tmp_path: Path) -> None:
    firer, intake = _firer(tmp_path, REALTIME, on="CREATE_OR_UPDATE")
    state = cast(MemoryState, firer.ctx.state)
    claim = state.claim

    async def slow_claim(
        scope: str, items: list[str], *, journal: Journal | None = None
    ) -> list[str]:
        await asyncio.sleep(0.05)
        return await claim(scope, items, journal=journal)

    setattr(state, "claim", slow_claim)  # noqa: B010
    firing = asyncio.ensure_future(firer.fire_each(_files(tmp_path, "a", "b")))
    await asyncio.sleep(0.01)  # the flow was edited: the service cancels the runner …
    firing.cancel()
    await asyncio.sleep(0.01)
    firing.cancel()  # … and shutdown cancels it again
    with pytest.raises(asyncio.CancelledError):
        await firing
    assert intake.requests == []
    again = FileFirer(FLOW, REALTIME, firer.ctx, on="CREATE_OR_UPDATE")
    assert await again.recover() == 2


async def test_polling_claims_until_max_files_are_won(tmp_path: Path) -> None:
    trigger = PollingTrigger.model_validate({"id": "poll", "type": "x", "from": "/in"})
    firer, intake = _firer(tmp_path, trigger, on="CREATE_OR_UPDATE")
    versions = _files(tmp_path, "1", "2", "3", "4", "5")
    await firer.claim(versions[:2])  # fired in an earlier run
    assert await firer.fire_batch(versions, 2) == 4  # 2 lost, then 2 won
    [request] = intake.requests
    assert [f["name"] for f in request["trigger"]["variables"]["files"]] == ["3", "4"]
    assert await firer.fire_batch(versions[4:], 2) == 1


# -- opening the folder --------------------------------------------------------------


def _context(tmp_path: Path, *allowed: Path, clock: Any = None, **envs: str) -> TriggerContext:
    return TriggerContext(
        intake=cast(Intake, RecordingIntake()),
        state=MemoryState(),
        clock=clock or FakeClock(),
        renderer=Renderer(),
        storage=LocalStorage(tmp_path / "data" / "storage"),
        allowed_paths=tuple(a.resolve() for a in allowed),
        envs=envs,
    )


async def test_open_folder_renders_checks_and_excludes_podiums_data(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    ctx = _context(tmp_path, tmp_path, inbox=str(tmp_path / "in"))
    trigger = RealtimeTrigger.model_validate(
        {"id": "w", "type": "x", "from": "{{ envs.inbox }}", "regExp": r".*\.csv"}
    )
    folder = await open_folder(FLOW, trigger, ctx)
    assert folder.root == (tmp_path / "in").resolve() and folder.pattern is not None
    everything = RealtimeTrigger.model_validate(
        {"id": "w", "type": "x", "from": str(tmp_path), "recursive": True}
    )
    folder = await open_folder(FLOW, everything, ctx)
    assert not folder.wants(str(tmp_path.resolve() / "data" / "podium.db"))
    assert folder.wants(str(tmp_path.resolve() / "in" / "a.csv"))


async def test_a_folder_outside_the_allowed_paths_is_never_watched(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "allowed").mkdir()
    for ctx in (_context(tmp_path, tmp_path / "allowed"), _context(tmp_path)):
        trigger = RealtimeTrigger.model_validate({"id": "w", "type": "x", "from": str(tmp_path)})
        with pytest.raises(TimeoutError):  # parked: it logs, then waits to be cancelled
            await asyncio.wait_for(open_folder(FLOW, trigger, ctx), 0.1)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "not under an allowed path" in errors[0]
    assert "no allowed paths are configured" in errors[1]


async def test_a_missing_folder_is_waited_for(tmp_path: Path) -> None:
    clock = FakeClock()
    ctx = _context(tmp_path, tmp_path, clock=clock)
    trigger = RealtimeTrigger.model_validate(
        {"id": "w", "type": "x", "from": str(tmp_path / "later")}
    )
    opening = asyncio.ensure_future(open_folder(FLOW, trigger, ctx))
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert not opening.done()
    (tmp_path / "later").mkdir()
    await clock.advance(FOLDER_RETRY_SECONDS)
    folder = await asyncio.wait_for(opening, 5)
    assert folder.root == (tmp_path / "later").resolve()
