"""Input and output file names: what may be written and matched, and what never."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from engine.errors import TaskFailed
from engine.storage import LocalStorage, ScopedStorage
from tasks.scripts.files import (
    check_relative_name,
    glob_regex,
    localize_storage_uris,
    match_output_files,
    upload_output_files,
    write_input_files,
)


class StorageContext:
    """Just enough of a RunContext for the file helpers: real storage on disk."""

    def __init__(self, root: Path) -> None:
        self.backend = LocalStorage(root)
        self.storage = ScopedStorage(self.backend, "ns", "flow", "exec1", "task/run1")


@pytest.mark.parametrize(
    "name", ["", "/etc/passwd", "../x", "a/../../x", "a\\b", "a\x00b", ".", "./"]
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(TaskFailed):
        check_relative_name(name)


def test_safe_names_keep_their_folders() -> None:
    assert str(check_relative_name("data/in.csv")) == "data/in.csv"
    assert str(check_relative_name("./a/./b.txt")) == "a/b.txt"
    assert str(check_relative_name("..hidden")) == "..hidden"


async def test_input_files_inline_and_from_storage(tmp_path: Path) -> None:
    ctx: Any = StorageContext(tmp_path / "storage")
    uri = ctx.storage.put_bytes("source.csv", b"a,b\n")
    folder = tmp_path / "work"
    folder.mkdir()
    await write_input_files(ctx, folder, {"in/text.txt": "hello", "copy.csv": uri})
    assert (folder / "in" / "text.txt").read_text() == "hello"
    assert (folder / "copy.csv").read_bytes() == b"a,b\n"
    with pytest.raises(TaskFailed, match="leave"):
        await write_input_files(ctx, folder, {"../evil": "x"})
    with pytest.raises(TaskFailed, match="no file"):
        await write_input_files(ctx, folder, {"x": "kestra:///ns/flow/missing"})


async def test_input_files_never_write_through_a_symlink_out(tmp_path: Path) -> None:
    ctx: Any = StorageContext(tmp_path / "storage")
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "link").symlink_to(outside)
    with pytest.raises(TaskFailed, match="leave"):
        await write_input_files(ctx, folder, {"link/x.txt": "x"})
    (folder / "file.txt").symlink_to(outside / "target.txt")
    await write_input_files(ctx, folder, {"file.txt": "inside"})
    assert not (outside / "target.txt").exists()
    assert (folder / "file.txt").read_text() == "inside"


def test_globs_follow_java_rules() -> None:
    assert glob_regex("*.csv").match("a.csv")
    assert not glob_regex("*.csv").match("sub/a.csv")
    assert glob_regex("**.csv").match("sub/a.csv")
    assert glob_regex("**/*.csv").match("x/y/a.csv")
    assert not glob_regex("**/*.csv").match("a.csv")
    assert glob_regex("*.{csv,json}").match("a.json")
    assert glob_regex("data?.[ct]sv").match("data1.tsv")
    assert not glob_regex("data[!0-9].csv").match("data1.csv")
    for bad in ("/etc/*", "../*", "a\\*", "{a,b"):
        with pytest.raises(TaskFailed):
            glob_regex(bad)


def test_output_matching_skips_symlinks_and_podium_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub" / "b.txt").write_text("b")
    (tmp_path / ".podium").mkdir()
    (tmp_path / ".podium" / "script.txt").write_text("internal")
    os.symlink("/etc/hostname", tmp_path / "leak.txt")
    assert list(match_output_files(tmp_path, ["**"])) == ["a.txt", "sub/b.txt"]
    assert list(match_output_files(tmp_path, ["*.txt"])) == ["a.txt"]
    assert match_output_files(tmp_path, []) == {}


async def test_uploads_keep_one_file_per_output_even_when_names_clash(tmp_path: Path) -> None:
    ctx: Any = StorageContext(tmp_path / "storage")
    folder = tmp_path / "work"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "b.txt").write_text("nested")
    (folder / "a__b.txt").write_text("flat")
    uris = await upload_output_files(ctx, folder, ["**.txt"])
    assert set(uris) == {"a/b.txt", "a__b.txt"}
    assert len(set(uris.values())) == 2
    assert ctx.storage.read_bytes(uris["a/b.txt"]) == b"nested"
    assert ctx.storage.read_bytes(uris["a__b.txt"]) == b"flat"


async def test_storage_uris_in_commands_become_local_copies(tmp_path: Path) -> None:
    ctx: Any = StorageContext(tmp_path / "storage")
    uri = ctx.storage.put_bytes("data.csv", b"1,2\n")
    folder = tmp_path / "work"
    folder.mkdir()
    [line] = await localize_storage_uris(ctx, folder, [f"cat {uri} | wc -l"])
    path = line.split()[1]
    assert Path(path).is_relative_to(folder) and Path(path).read_bytes() == b"1,2\n"
    assert await localize_storage_uris(ctx, folder, ["no uri"]) == ["no uri"]
    with pytest.raises(TaskFailed):
        await localize_storage_uris(ctx, folder, ["cat kestra:///../../etc/passwd"])
