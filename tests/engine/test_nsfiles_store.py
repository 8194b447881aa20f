"""Namespace files over both stores: revisions, deletes as revisions, one transaction per
write, the namespace size limit, files never shadowing folders; and the path checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.nsfiles import NamespaceFileError, NamespaceFileLimits, NamespaceFiles, clean_path
from engine.store.base import Store
from engine.store.nsfiles import FileChange
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore
from tests.support.postgres import SERVER, fresh_database_async


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        async with SqliteStore(tmp_path / "s.db") as opened:
            yield opened
        return
    async with (
        fresh_database_async("podium_nsfiles") as name,
        PostgresStore(f"{SERVER}/{name}") as opened,
    ):
        yield opened


async def test_revisions_deletes_and_listing(store: Store) -> None:
    files = NamespaceFiles(store)
    await files.write("team", {"a/one.txt": b"1", "/b.sql": b"select 1"})
    await files.write("team", {"a/one.txt": b"1"})  # same bytes: no new revision
    await files.write("team", {"a/one.txt": b"one"})
    record, data = await files.get("team", "/a/one.txt")
    assert (record.revision, data) == (2, b"one")
    assert (await files.get("team", "a/one.txt", revision=1))[1] == b"1"
    assert [r.path for r in await files.files("team")] == ["/a/one.txt", "/b.sql"]
    children = await files.children("team")
    assert [(e.name, e.is_directory) for e in children] == [("a", True), ("b.sql", False)]
    assert await files.delete("team", ["a"]) == ["/a/one.txt"]
    with pytest.raises(NamespaceFileError) as missing:
        await files.get("team", "a/one.txt")
    assert missing.value.status == 404
    revisions = await store.namespace_file_revisions("team", "/a/one.txt")
    assert [(r.revision, r.is_deleted) for r in revisions] == [(1, False), (2, False), (3, True)]
    assert (await files.get("team", "a/one.txt", revision=2))[1] == b"one"  # history kept
    assert await files.namespaces() == ["team"]
    assert await files.files("other") == []


async def test_one_transaction_and_the_namespace_limit(store: Store) -> None:
    files = NamespaceFiles(store, NamespaceFileLimits(max_file_bytes=10, max_namespace_bytes=15))
    await files.write("ns", {"a": b"x" * 10})
    with pytest.raises(NamespaceFileError) as too_big:
        await files.write("ns", {"b": b"y" * 11})
    assert too_big.value.status == 413
    with pytest.raises(NamespaceFileError) as full:
        await files.write("ns", {"b": b"y" * 3, "c": b"z" * 3})  # 16 > 15: neither lands
    assert full.value.status == 413
    assert [r.path for r in await files.files("ns")] == ["/a"]
    await files.write("ns", {"b": b"y" * 5}, delete=["a"])  # a delete in the same write frees room
    assert [r.path for r in await files.files("ns")] == ["/b"]


async def test_move_and_shapes(store: Store) -> None:
    files = NamespaceFiles(store)
    await files.write("ns", {"src/x.py": b"x", "src/deep/y.py": b"y"}, folders=["empty"])
    await files.move("ns", "src", "dst/code")
    assert [r.path for r in await files.files("ns")] == ["/dst/code/deep/y.py", "/dst/code/x.py"]
    assert {e.name for e in await files.children("ns")} == {"dst", "empty"}
    with pytest.raises(NamespaceFileError) as clash:
        await files.write("ns", {"dst": b"a file over a folder"})
    assert clash.value.status == 409
    with pytest.raises(NamespaceFileError):
        await files.write("ns", {"dst/code/x.py/inner": b"under a file"})
    with pytest.raises(NamespaceFileError) as exists:
        await files.move("ns", "dst/code/x.py", "dst/code/deep/y.py")
    assert exists.value.status == 409


@pytest.mark.parametrize(
    "raw",
    ["", "/", "../x", "a/../../x", "a//b", "./a", "a\\b", "a\x00b", "a\nb", "_flows/f.yml",
     "x" * 256, "a/" * 600],
)  # fmt: skip
def test_paths_that_are_refused(raw: str) -> None:
    with pytest.raises(NamespaceFileError) as refused:
        clean_path(raw)
    assert refused.value.status == 400


def test_paths_that_are_accepted() -> None:
    assert clean_path("a/b.txt") == "/a/b.txt"
    assert clean_path("/a b/ü.txt") == "/a b/ü.txt"
    assert clean_path("..a/b..") == "/..a/b.."
    assert clean_path("/", folder=True) == "/"
    assert clean_path("a/b/", folder=True) == "/a/b/"


async def test_one_write_that_changes_a_path_twice(store: Store) -> None:
    files = NamespaceFiles(store)
    await files.write("ns", {"dir/x.txt": b"x", "f.txt": b"1"})
    # a folder deleted and a file of its name written in the same write
    await files.write("ns", {"dir": b"now a file"}, delete=["dir"])
    assert [r.path for r in await files.files("ns")] == ["/dir", "/f.txt"]
    # a move onto itself back and forth leaves one revision per path, and none when the
    # bytes end as they were
    written = await store.write_namespace_files(
        "ns",
        [FileChange("/f.txt", delete=True), FileChange("/f.txt", b"1")],
        max_namespace_bytes=1 << 20,
    )
    assert written == []
    written = await store.write_namespace_files(
        "ns",
        [FileChange("/f.txt", b"2"), FileChange("/f.txt", b"3")],
        max_namespace_bytes=1 << 20,
    )
    assert [(r.path, r.revision) for r in written] == [("/f.txt", 2)]
    assert (await files.get("ns", "f.txt"))[1] == b"3"
    contents = await store.namespace_file_contents("ns", [("/f.txt", 2), ("/dir", 1), ("/nope", 1)])
    assert contents == {"/f.txt": b"3", "/dir": b"now a file"}


async def test_concurrent_writers_get_distinct_revisions(store: Store) -> None:
    files = NamespaceFiles(store)
    await asyncio.gather(*(files.write("ns", {"same.txt": f"{i}".encode()}) for i in range(10)))
    revisions = await store.namespace_file_revisions("ns", "/same.txt")
    assert [r.revision for r in revisions] == list(range(1, 11))
    assert len(await files.files("ns")) == 1
