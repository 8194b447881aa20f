"""Internal storage: URIs map under the root and can never leave it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import StorageError
from engine.storage import LocalStorage, ScopedStorage, safe_name


def test_write_read_and_scoped_purge(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    scoped = ScopedStorage(storage, "company.team", "flow", "exec1", "task/run1")
    uri = scoped.put_bytes("out.csv", b"a,b\n")
    assert uri == "kestra:///company/team/flow/executions/exec1/tasks/task/run1/out.csv"
    assert scoped.read_bytes(uri) == b"a,b\n"
    assert scoped.purge_execution() == [uri]
    with pytest.raises(StorageError, match="no file"):
        storage.read(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "kestra:///../etc/passwd",
        "kestra:///a/../../etc/passwd",
        "kestra:///a/%2e%2e/%2e%2e/etc/passwd",
        "kestra:///a%2F..%2F..%2Fetc",
        "kestra:///a\\..\\..\\etc",
        "kestra:///a/b\x00c",
        "kestra:///a/%00",
        "kestra:///",
        "file:///etc/passwd",
        "/etc/passwd",
    ],
)
def test_uris_that_would_escape_are_refused(tmp_path: Path, uri: str) -> None:
    storage = LocalStorage(tmp_path / "root")
    with pytest.raises(StorageError):
        storage.path_of(uri)


def test_a_symlink_pointing_out_is_refused(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    (tmp_path / "secret.txt").write_text("s3cret")
    os.symlink(tmp_path / "secret.txt", storage.root / "link")
    with pytest.raises(StorageError, match="escapes"):
        storage.read("kestra:///link")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../x.csv", "x.csv"),
        ("a/b\\c.txt", "c.txt"),
        ("..", "file"),
        ("we ird:name.json", "we_ird_name.json"),
    ],
)
def test_safe_names_carry_no_path(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_execution_file_reaches_this_executions_files_only(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    mine = ScopedStorage(storage, "a.b", "f", "e1", "t/r1")
    other = ScopedStorage(storage, "a.b", "f", "e2", "t/r1")
    uri = mine.put_bytes("x.csv", b"1")
    assert mine.execution_file(uri).read_bytes() == b"1"
    with pytest.raises(StorageError, match="not a file of this execution"):
        other.execution_file(uri)
    # a sibling whose name starts with this execution's id is another execution
    sibling = ScopedStorage(storage, "a.b", "f", "e10", "t/r1").put_bytes("y", b"2")
    with pytest.raises(StorageError, match="not a file of this execution"):
        ScopedStorage(storage, "a.b", "f", "e1", "t/r1").execution_file(sibling)
