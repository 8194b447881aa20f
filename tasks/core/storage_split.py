"""storage.Split: cut a file of internal storage into several (output `uris`).

Kestra's Split (core/storage/Split.java, StorageService.split; SplitTest): exactly one of
`bytes` (a new file once the current one holds that much: "10MB"), `rows` (lines per
file), `partitions` (that many files, lines dealt round robin, empty ones left out) or
`regexPattern` (a file per value of the pattern's first group, lines it does not match
left out). Each line is written with `separator` after it (default a newline); the files
keep the source's extension. The file is streamed a few MiB at a time in a worker thread,
and the parts are written in place in internal storage (tasks/core/lines.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, plugin
from tasks.core.lines import (
    Parts,
    iter_spans,
    parse_size,
    split_by_bytes,
    split_by_pattern,
    split_by_rows,
    split_into_partitions,
)
from tasks.core.storage import extension_of, in_thread, source_file
from tasks.properties import render_integer, render_text

__all__ = ["TASKS", "Split"]

_WAYS = ("bytes", "rows", "partitions", "regexPattern")
_MAX_PATTERN = 1000  # characters of a regexPattern


@plugin("io.kestra.plugin.core.storage.Split")
class Split(Task):
    """Split a file of internal storage by `bytes`, `rows`, `partitions` or
    `regexPattern` (exactly one); output `uris`, the files in order."""

    from_: str = Field(alias="from")
    bytes: str | int | None = None
    rows: int | str | None = None
    partitions: int | str | None = None
    regexPattern: str | None = None
    separator: str = "\n"

    @model_validator(mode="after")
    def _one_way(self) -> Split:
        given = [name for name in _WAYS if getattr(self, name) is not None]
        if len(given) != 1:
            # Kestra takes the first of regexPattern, bytes, partitions, rows and ignores
            # the others: said at load here rather than ignored
            raise ValueError(
                "set exactly one of 'bytes', 'rows', 'partitions' or 'regexPattern'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if isinstance(self.regexPattern, str) and "{{" not in self.regexPattern:
            _pattern(self.regexPattern, rendered=False)
        return self

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri, source = source_file(ctx, self.from_, "from")
        separator = str(render_text(ctx, self.separator, "separator")).encode("utf-8")
        extension = extension_of(uri)

        def part_path(index: int) -> Path:
            path, part_uri = ctx.storage.new_file(f"split-{index:05d}{extension}")
            uris.append(part_uri)
            return path

        uris: list[str] = []
        parts = Parts(part_path)
        strategy, argument = self._strategy(ctx)

        def split(stop: threading.Event) -> None:
            try:
                with source.open("rb") as handle:
                    strategy(iter_spans(handle, stop=stop), parts, argument, separator)
            finally:
                parts.close()

        await in_thread(split)
        ctx.logger.debug(f"split {uri} into {len(uris)} file(s)")
        return {"uris": uris}

    def _strategy(self, ctx: RunContext) -> tuple[Any, Any]:
        if self.regexPattern is not None:
            text = str(render_text(ctx, self.regexPattern, "regexPattern"))
            return split_by_pattern, _pattern(text, rendered=True)
        if self.bytes is not None:
            return split_by_bytes, parse_size(str(render_text(ctx, self.bytes, "bytes")))
        if self.partitions is not None:
            count = render_integer(ctx, self.partitions, "partitions", minimum=1)
            return split_into_partitions, count
        return split_by_rows, render_integer(ctx, self.rows, "rows", minimum=1)


def _pattern(text: str, *, rendered: bool) -> re.Pattern[str]:
    """A regexPattern, compiled; it needs a group, whose value names a line's file."""
    fail = TaskFailed if rendered else ValueError
    if len(text) > _MAX_PATTERN:
        raise fail(f"regexPattern is longer than {_MAX_PATTERN} characters")
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise fail(f"regexPattern is not a valid regular expression: {exc}") from None
    if pattern.groups < 1:
        # Kestra then drops every line and writes nothing: refused rather than empty
        raise fail("regexPattern needs a capture group: its value names the line's file")
    return pattern


TASKS: tuple[type, ...] = (Split,)
