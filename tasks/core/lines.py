"""Stored files as lines, in bounded memory: what storage.Split, Reverse, DeduplicateItems
and FilterItems read and write.

A file is read in blocks of a few MiB and cut into lines as Java's `readLine` cuts them
(Kestra reads these files that way): `\\n`, `\\r\\n` and a lone `\\r` end a line, and
the last line needs no end. Lines are bytes, without their end; writers put the task's
`separator` after each one, as Kestra does. A line longer than `MAX_LINE_BYTES` is
refused rather than held whole in memory. Nothing here decodes text: bytes go through as
they are (Kestra re-encodes them as UTF-8 on the way, which changes only invalid UTF-8).

The splitting strategies are Kestra's StorageService.split: by `rows`, by `bytes` (a new
part once the current one holds at least that many), into `partitions` (round robin,
empty ones left out) or by the first group of a `regexPattern` (unmatched lines dropped).
"""

from __future__ import annotations

import bisect
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate
from pathlib import Path
from typing import BinaryIO, Literal, cast

from engine.errors import TaskFailed

__all__ = [
    "BLOCK_BYTES",
    "MAX_LINE_BYTES",
    "MAX_PARTS",
    "Parts",
    "iter_line_blocks",
    "iter_reversed_lines",
    "iter_spans",
    "iter_text_blocks",
    "parse_size",
    "split_by_bytes",
    "split_by_pattern",
    "split_by_rows",
    "split_into_partitions",
]

BLOCK_BYTES = 256 << 10
"""Read this much at a time: larger reads cost more than they save (each new buffer of
MiBs is fresh memory the kernel must map and zero; bench/storage.py)."""
MAX_LINE_BYTES = 64 << 20
"""A line longer than this (64 MiB) fails the task: it would have to be held whole."""
MAX_PARTS = 20_000
"""Files one Split may write: their URIs travel in the task's outputs."""
_OPEN_PARTS = 64  # parts kept open at once when lines go to many (partitions, regexPattern)


class Stopped(Exception):
    """The task was cancelled while its thread was at work."""


Span = tuple[bytes, int, int]
"""`(buffer, start, end)`: whole lines, each ended by one `\\n`, at buffer[start:end]
(a view, so that big blocks are not copied once more)."""


def iter_spans(
    handle: BinaryIO,
    *,
    block_bytes: int = BLOCK_BYTES,
    max_line: int = MAX_LINE_BYTES,
    stop: threading.Event | None = None,
) -> Iterator[Span]:
    """A binary stream as spans of whole lines, each line ended by one `\\n`
    (`\\r\\n` and `\\r` become `\\n`; the last line gets one if it had none)."""
    carry = b""
    number = 0  # lines handed out, for messages
    while True:
        if stop is not None and stop.is_set():
            raise Stopped
        chunk = handle.read(block_bytes)
        if not chunk:
            break
        if b"\r" in chunk or carry.endswith(b"\r"):  # line ends to rewrite
            data = carry + chunk
            tail = b""
            if data.endswith(b"\r"):  # maybe the first half of a \r\n: decided next time
                data, tail = data[:-1], b"\r"
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            end = data.rfind(b"\n") + 1
            if end > 0:
                number += data.count(b"\n", 0, end)
                yield data, 0, end
            carry = data[end:] + tail
        else:
            first = chunk.find(b"\n")
            if first < 0:
                carry += chunk
            else:
                start = 0
                if carry:  # the line begun in the block before: copied, it is short
                    head = carry + chunk[: first + 1]
                    number += 1
                    yield head, 0, len(head)
                    start = first + 1
                end = chunk.rfind(b"\n") + 1
                if end > start:
                    number += chunk.count(b"\n", start, end)
                    yield chunk, start, end
                carry = chunk[end:]
        if len(carry) > max_line:
            raise TaskFailed(
                f"line {number + 1} is longer than {max_line:,} bytes: it cannot be read "
                "line by line (is the file text?)"
            )
    if carry:
        last = carry.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        last = last if last.endswith(b"\n") else last + b"\n"
        yield last, 0, len(last)


def iter_text_blocks(
    handle: BinaryIO,
    *,
    block_bytes: int = BLOCK_BYTES,
    max_line: int = MAX_LINE_BYTES,
    stop: threading.Event | None = None,
) -> Iterator[bytes]:
    """The spans of `iter_spans` as blocks of bytes."""
    for buffer, start, end in iter_spans(
        handle, block_bytes=block_bytes, max_line=max_line, stop=stop
    ):
        yield buffer if start == 0 and end == len(buffer) else buffer[start:end]


def iter_line_blocks(
    handle: BinaryIO,
    *,
    block_bytes: int = BLOCK_BYTES,
    max_line: int = MAX_LINE_BYTES,
    stop: threading.Event | None = None,
) -> Iterator[list[bytes]]:
    """The lines of a binary stream (without their ends), a block at a time."""
    for block in iter_text_blocks(handle, block_bytes=block_bytes, max_line=max_line, stop=stop):
        yield block[:-1].split(b"\n")


def iter_reversed_lines(
    path: Path,
    *,
    block_bytes: int = BLOCK_BYTES,
    max_line: int = MAX_LINE_BYTES,
    stop: threading.Event | None = None,
) -> Iterator[list[bytes]]:
    """The lines of a file from the last to the first, a block at a time (each block
    already reversed), read from the end: memory holds a block and one line at most."""
    with path.open("rb") as handle:
        position = handle.seek(0, 2)
        handle.seek(max(0, position - 2))
        ending = handle.read()
        if ending.endswith(b"\r\n"):  # the last line's end ends nothing after it
            position -= 2
        elif ending.endswith((b"\n", b"\r")):
            position -= 1
        if position <= 0 and not ending:
            return
        head = b""  # the end of a line whose start is in an earlier block
        while True:
            if stop is not None and stop.is_set():
                raise Stopped
            size = min(block_bytes, position)
            position -= size
            handle.seek(position)
            data = handle.read(size) + head
            if position > 0 and data.startswith(b"\n"):
                handle.seek(position - 1)
                if handle.read(1) == b"\r":  # a \r\n across blocks: the \r ends it
                    data = data[1:]
            if b"\r" in data:
                data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if position == 0:
                lines = data.split(b"\n")
                lines.reverse()
                yield lines
                return
            start = data.find(b"\n")
            if start < 0:
                head = data
            else:
                head = data[:start]
                lines = data[start + 1 :].split(b"\n")
                lines.reverse()
                yield lines
            if len(head) > max_line:
                raise TaskFailed(f"a line is longer than {max_line:,} bytes")


def parse_size(text: str) -> int:
    """A size as Kestra (Micronaut's readable bytes) reads it: `1048576`, `512KB`,
    `10MB`, `1GB` (powers of 1024; `K`, `M`, `G` and lower case accepted too)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?)b?\s*", text, re.IGNORECASE)
    if match is None:
        raise TaskFailed(f"property 'bytes': invalid size {text!r} (e.g. 10MB, 512KB, 4096)")
    number, unit = int(match.group(1)), match.group(2).lower()
    size = number * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit]
    if size < 1:
        raise TaskFailed("property 'bytes' must be at least 1 byte")
    return size


class Parts:
    """The files a split writes, created on demand: `new` makes the next one and returns
    its index. Only a few stay open; one written again later is reopened to append."""

    def __init__(self, create: Callable[[int], Path], *, limit: int = MAX_PARTS) -> None:
        self._create = create
        self._limit = limit
        self.paths: list[Path] = []
        self._open: OrderedDict[int, BinaryIO] = OrderedDict()

    def __repr__(self) -> str:
        return f"<Parts {len(self.paths)} written, {len(self._open)} open>"

    def new(self) -> int:
        if len(self.paths) >= self._limit:
            raise TaskFailed(
                f"the split would write more than {self._limit:,} files: split into "
                "bigger parts (rows, bytes) or fewer (partitions)"
            )
        index = len(self.paths)
        path = self._create(index)
        self.paths.append(path)
        self._handle(index, "wb")
        return index

    def write(self, index: int, lines: Sequence[bytes], separator: bytes) -> None:
        """Lines, each with `separator` after it."""
        if not lines:
            return
        handle = self._handle(index, "ab")
        handle.write(separator.join(lines))
        handle.write(separator)

    def write_span(self, index: int, buffer: bytes, start: int, end: int, sep: bytes) -> None:
        """Whole lines of buffer[start:end] (each ended by `\\n`), with `sep` after each."""
        handle = self._handle(index, "ab")
        if sep == b"\n":
            with memoryview(buffer) as view:
                handle.write(view[start:end])
        else:
            handle.write(buffer[start:end].replace(b"\n", sep))

    def _handle(self, index: int, mode: Literal["wb", "ab"]) -> BinaryIO:
        found = self._open.get(index)
        if found is not None:
            self._open.move_to_end(index)
            return found
        while len(self._open) >= _OPEN_PARTS:
            self._open.popitem(last=False)[1].close()
        handle = cast(BinaryIO, self.paths[index].open(mode))
        self._open[index] = handle
        return handle

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()


def _nth_line_end(buffer: bytes, start: int, end: int, n: int) -> int:
    """The index just past the `n`th line end of buffer[start:end] (which holds more)."""
    if n <= 32:
        position = start - 1
        for _ in range(n):
            position = buffer.find(b"\n", position + 1, end)
        return position + 1
    low, high = start, end  # the smallest `high` with n line ends in [start, high)
    while low < high:
        middle = (low + high) // 2
        if buffer.count(b"\n", start, middle) >= n:
            high = middle
        else:
            low = middle + 1
    return low


def split_by_rows(spans: Iterator[Span], parts: Parts, rows: int, sep: bytes) -> None:
    """A new part every `rows` lines. Spans are cut at line ends, never into lines."""
    current, held = -1, 0
    for buffer, start, end in spans:
        count = buffer.count(b"\n", start, end)
        while start < end:
            if current < 0 or held >= rows:
                current, held = parts.new(), 0
            room = rows - held
            if count <= room:
                parts.write_span(current, buffer, start, end, sep)
                held += count
                break
            cut = _nth_line_end(buffer, start, end, room)
            parts.write_span(current, buffer, start, cut, sep)
            start, count, held = cut, count - room, rows


def split_by_bytes(spans: Iterator[Span], parts: Parts, limit: int, sep: bytes) -> None:
    """A new part before a line once the current part holds `limit` bytes or more (each
    line counted with its separator): a part ends with the line that reaches `limit`."""
    if sep != b"\n":
        blocks = (buffer[start:end] for buffer, start, end in spans)
        return _split_by_bytes_with(blocks, parts, limit, sep)
    current, held = -1, 0
    for buffer, start, end in spans:
        while start < end:
            if current < 0 or held >= limit:
                current, held = parts.new(), 0
            # the end of the line that reaches `limit`, or of the span
            cut = buffer.find(b"\n", start + limit - held - 1, end) + 1 or end
            parts.write_span(current, buffer, start, cut, sep)
            held += cut - start
            start = cut


def _split_by_bytes_with(blocks: Iterator[bytes], parts: Parts, limit: int, sep: bytes) -> None:
    current, held = -1, 0
    extra = len(sep)
    for block in blocks:
        lines = block[:-1].split(b"\n")
        # ends[k]: bytes of lines[:k] with their separators
        ends = list(accumulate((len(line) + extra for line in lines), initial=0))
        i, count = 0, len(lines)
        while i < count:
            if current < 0 or held >= limit:
                current, held = parts.new(), 0
            # the first line after which the part holds `limit` bytes, or the block's end
            stop = min(bisect.bisect_left(ends, limit - held + ends[i], lo=i + 1), count)
            parts.write(current, lines[i:stop], sep)
            held += ends[stop] - ends[i]
            i = stop


def split_into_partitions(spans: Iterator[Span], parts: Parts, partitions: int, sep: bytes) -> None:
    """Line k goes to part k mod `partitions`; a part that gets no line is not written."""
    seen = 0
    for buffer, start, end in spans:
        lines = buffer[start : end - 1].split(b"\n")
        for step in range(min(partitions, len(lines))):
            target = (seen + step) % partitions
            while len(parts.paths) <= target:
                parts.new()
            parts.write(target, lines[step::partitions], sep)
        seen += len(lines)


def split_by_pattern(
    spans: Iterator[Span], parts: Parts, pattern: re.Pattern[str], sep: bytes
) -> None:
    """One part per value of the pattern's first group, in order of first appearance;
    lines the pattern does not match are left out."""
    by_key: dict[str | None, int] = {}
    for buffer, start, end in spans:
        grouped: dict[int, list[bytes]] = {}
        for line in buffer[start : end - 1].split(b"\n"):
            match = pattern.search(line.decode("utf-8", "replace"))
            if match is None:
                continue
            key = match.group(1)
            index = by_key.get(key)
            if index is None:
                index = by_key[key] = parts.new()
            grouped.setdefault(index, []).append(line)
        for index, chosen in grouped.items():
            parts.write(index, chosen, sep)
