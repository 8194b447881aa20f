"""The line reading and splitting behind storage.Split, Reverse and the item tasks
(tasks/core/lines.py), and the `vars` merging of SetVariables/UnsetVariables, checked
against small references written from Kestra's Java (readLine, StorageService.split,
MapUtils.deepMerge) on many random inputs and block sizes."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest

from engine.errors import TaskFailed
from tasks.core.execution import _remove, deep_merge
from tasks.core.lines import (
    Parts,
    iter_line_blocks,
    iter_reversed_lines,
    iter_spans,
    parse_size,
    split_by_bytes,
    split_by_pattern,
    split_by_rows,
    split_into_partitions,
)


def java_read_lines(data: bytes) -> list[bytes]:
    """BufferedReader.readLine, line after line: \\n, \\r\\n and \\r end a line."""
    lines, current, i = [], bytearray(), 0
    while i < len(data):
        byte = data[i : i + 1]
        if byte in (b"\n", b"\r"):
            lines.append(bytes(current))
            current = bytearray()
            if byte == b"\r" and data[i + 1 : i + 2] == b"\n":
                i += 1
        else:
            current += byte
        i += 1
    if current:
        lines.append(bytes(current))
    return lines


def lines_of(data: bytes, block: int) -> list[bytes]:
    return [
        line for lines in iter_line_blocks(io.BytesIO(data), block_bytes=block) for line in lines
    ]


def test_lines_are_cut_as_java_reads_them_whatever_the_block_size(tmp_path: Path) -> None:
    rnd = random.Random(20)
    for _ in range(400):
        data = bytes(rnd.choice(b"ab\r\n") for _ in range(rnd.randint(0, 40)))
        block = rnd.randint(1, 9)
        expected = java_read_lines(data)
        assert lines_of(data, block) == expected, (data, block)
        path = tmp_path / "f"
        path.write_bytes(data)
        backwards = iter_reversed_lines(path, block_bytes=block)
        assert [line for lines in backwards for line in lines] == expected[::-1], (data, block)


def test_a_line_longer_than_the_bound_is_refused(tmp_path: Path) -> None:
    endless = io.BytesIO(b"x" * 100)
    with pytest.raises(TaskFailed, match="line 1 is longer than 10 bytes"):
        list(iter_line_blocks(endless, block_bytes=8, max_line=10))
    path = tmp_path / "f"
    path.write_bytes(b"ok\n" + b"x" * 100 + b"\nok\n")
    with pytest.raises(TaskFailed, match="longer than 10 bytes"):
        list(iter_reversed_lines(path, block_bytes=8, max_line=10))


def split(
    tmp_path: Path, strategy, data: bytes, argument, sep: bytes = b"\n", block: int = 7
) -> list[bytes]:  # type: ignore[no-untyped-def]
    folder = tmp_path / f"parts-{random.random()}"
    folder.mkdir()
    parts = Parts(lambda index: folder / f"{index}.part")
    try:
        strategy(iter_spans(io.BytesIO(data), block_bytes=block), parts, argument, sep)
    finally:
        parts.close()
    return [path.read_bytes() for path in parts.paths]


def test_split_by_bytes_ends_a_part_with_the_line_that_reaches_the_size(tmp_path: Path) -> None:
    """SplitTest.bytes: 12288 lines of 21 bytes in parts of 1KB are 251 parts."""
    content = b"".join(str(n).rjust(20).encode() + b"\n" for n in range(12288))
    parts = split(tmp_path, split_by_bytes, content, 1024, block=4096)
    assert len(parts) == 251 and b"".join(parts) == content
    rnd = random.Random(7)
    for _ in range(120):
        lines = [b"z" * rnd.randint(0, 9) for _ in range(rnd.randint(1, 30))]
        limit, sep = rnd.randint(1, 25), rnd.choice([b"\n", b";;", b"\r\n"])
        expected, current = [], b""
        for line in lines:  # StorageService.split: a new file once the current holds `limit`
            if current and len(current) >= limit:
                expected.append(current)
                current = b""
            current += line + sep
        expected.append(current)
        data = b"\n".join(lines) + b"\n"
        assert split(tmp_path, split_by_bytes, data, limit, sep, rnd.randint(1, 12)) == expected


def test_split_by_rows_and_partitions(tmp_path: Path) -> None:
    """SplitTest.rows (1000 lines by 10: 100 parts, the same text) and .partition (8
    parts holding every line); a partition that gets no line is not written."""
    lines = [str(n).rjust(20).encode() for n in range(1000)]
    data = b"\n".join(lines) + b"\n"
    by_rows = split(tmp_path, split_by_rows, data, 10, block=333)
    assert len(by_rows) == 100 and b"".join(by_rows) == data
    dealt = split(tmp_path, split_into_partitions, data, 8, block=333)
    assert len(dealt) == 8 and sum(p.count(b"\n") for p in dealt) == 1000
    assert dealt[3].split(b"\n")[:3] == [lines[3], lines[11], lines[19]]
    assert split(tmp_path, split_into_partitions, b"a\nb", 5) == [b"a\n", b"b\n"]
    assert split(tmp_path, split_by_rows, b"", 5) == []


def test_split_by_rows_cuts_blocks_at_the_right_line(tmp_path: Path) -> None:
    rnd = random.Random(3)
    for _ in range(60):
        lines = [b"r" * rnd.randint(0, 3) for _ in range(rnd.randint(1, 300))]
        rows, sep = rnd.choice([1, 2, 7, 33, 40, 100]), rnd.choice([b"\n", b"|"])
        data = b"\r\n".join(lines) + rnd.choice([b"", b"\n", b"\r"])
        lines = java_read_lines(data)
        expected = [
            b"".join(line + sep for line in lines[i : i + rows]) for i in range(0, len(lines), rows)
        ]
        assert split(tmp_path, split_by_rows, data, rows, sep, rnd.randint(1, 64)) == expected


def test_split_by_pattern_groups_lines_by_the_first_group(tmp_path: Path) -> None:
    data = b"[x] 1\n[y] 2\nno group\n[x] 3\n(a)\n"
    pattern = re.compile(r"\[(\w+)\]|\((z)?a\)")
    parts = split(tmp_path, split_by_pattern, data, pattern, b"|")
    # an unset group is a key of its own, as Java's null key
    assert parts == [b"[x] 1|[x] 3|", b"[y] 2|", b"(a)|"]


def test_parts_stay_few_open_and_are_bounded(tmp_path: Path) -> None:
    lines = b"".join(b"%d\n" % n for n in range(1000))
    dealt = split(tmp_path, split_into_partitions, lines, 300)  # more parts than kept open
    assert len(dealt) == 300 and dealt[299] == b"299\n599\n899\n"
    parts = Parts(lambda index: tmp_path / f"bounded-{index}", limit=3)
    with pytest.raises(TaskFailed, match="more than 3 files"):
        split_by_rows(iter([(b"a\nb\nc\nd\n", 0, 8)]), parts, 1, b"\n")
    parts.close()


@pytest.mark.parametrize(
    ("text", "size"),
    [("1KB", 1024), ("10MB", 10 << 20), ("4096", 4096), ("2gb", 2 << 30), ("512 K", 512 << 10)],
)
def test_sizes_read_as_kestra_reads_them(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "1.5MB", "-1KB", "0", "10TB"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(TaskFailed, match="property 'bytes'"):
        parse_size(text)


def test_set_variables_merge_maps_and_replace_the_rest() -> None:
    """MapUtils.deepMerge: maps merge key by key, lists and scalars are replaced."""
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    merged = deep_merge(base, {"a": {"c": [2], "e": {"f": 1}}, "d": {"x": 1}})
    assert merged == {"a": {"b": 1, "c": [2], "e": {"f": 1}}, "d": {"x": 1}}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}  # the old `vars` are left as they were


def test_unset_variables_paths() -> None:
    """UnsetVariables.removeVar: `a.b` inside the map `a`; a missing leaf is no error, a
    missing map is, unless ignored."""
    variables = {"a": {"b": 1, "c": 2}, "x": 1}
    _remove(variables, "a.b", False)
    _remove(variables, "nope", False)
    assert variables == {"a": {"c": 2}, "x": 1}
    with pytest.raises(TaskFailed, match="'x' is not a map"):
        _remove(variables, "x.y", False)
    _remove(variables, "x.y.z", True)
    assert variables == {"a": {"c": 2}, "x": 1}
