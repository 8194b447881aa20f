"""storage.DeduplicateItems and storage.FilterItems: a file of items (Ion, one item per
line, as Kestra's serdes tasks and queries write them; JSON lines read the same) passed
through an expression, item by item, into a new `.ion` file.

The expression is rendered with the item's fields as variables over the task's context
(`{{ customer_email }}`), as Kestra renders it. The items are streamed; the lines kept are
written as they were read. Outputs are Kestra's: `uri`, `processedItemsTotal`,
`droppedItemsTotal` (and `numKeys` for DeduplicateItems).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from engine.errors import PodiumError, TaskFailed
from engine.ion import loads
from engine.plugin import RunContext, Task, plugin
from engine.templating.output import is_truthy
from tasks.core.lines import iter_line_blocks
from tasks.core.storage import in_thread, source_file
from tasks.properties import render_choice

__all__ = ["TASKS", "DeduplicateItems", "FilterItems", "items_of"]

_BEHAVIORS = ("FAIL", "INCLUDE", "EXCLUDE")


def items_of(
    path: Path, name: str, stop: threading.Event
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Each item of a file of rows: (its line as read, its fields). Blank lines are no
    items; an item that is not a map fails the task with its line number."""
    number = 0
    with path.open("rb") as handle:
        for lines in iter_line_blocks(handle, stop=stop):
            for line in lines:
                number += 1
                if not line.strip():
                    continue
                where = f"{name}, line {number}"
                try:
                    values = loads(line.decode("utf-8"), where=where)
                except UnicodeDecodeError:
                    raise TaskFailed(f"{where}: not UTF-8 text") from None
                if len(values) != 1 or not isinstance(values[0], dict):
                    raise TaskFailed(f"{where}: an item is one map per line (Ion or JSON)")
                yield line, values[0]


@plugin("io.kestra.plugin.core.storage.DeduplicateItems")
class DeduplicateItems(Task):
    """Keep, for each key `expr` renders, only the last item that has it, in file order.
    Two passes over the file, as Kestra's: the first finds each key's last item, the
    second writes those (memory holds a 16-byte digest per distinct key).
    Kestra: DeduplicateItemsTest (8 items, 3 keys: 5 dropped)."""

    from_: str = Field(alias="from")
    expr: str

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri, source = source_file(ctx, self.from_, "from")
        ctx.template_context  # built here, in the event loop's thread  # noqa: B018
        target, out_uri = ctx.storage.new_file("deduplicated.ion")
        expr = self.expr

        def key_of(item: dict[str, Any], line: int) -> bytes:
            try:
                key = ctx.render(expr, extra=item)
            except PodiumError as exc:
                raise TaskFailed(f"expr on item {line}: {exc}") from None
            return hashlib.blake2b(str(key).encode("utf-8"), digest_size=16).digest()

        def deduplicate(stop: threading.Event) -> tuple[int, int, int]:
            last: dict[bytes, int] = {}
            for index, (_, item) in enumerate(items_of(source, uri, stop)):
                last[key_of(item, index + 1)] = index
            processed = kept = 0
            with target.open("wb") as out:
                for index, (line, item) in enumerate(items_of(source, uri, stop)):
                    processed += 1
                    if last.get(key_of(item, index + 1)) == index:
                        out.write(line + b"\n")
                        kept += 1
            return len(last), processed, processed - kept

        keys, processed, dropped = await in_thread(deduplicate)
        return {
            "uri": out_uri,
            "numKeys": keys,
            "processedItemsTotal": processed,
            "droppedItemsTotal": dropped,
        }


@plugin("io.kestra.plugin.core.storage.FilterItems")
class FilterItems(Task):
    """Keep (`filterType: INCLUDE`) or drop (`EXCLUDE`) the items for which
    `filterCondition` renders true (Kestra's truthiness: only `false`, `0`, `-0` and ``
    are false). An item on which the condition fails follows `errorOrNullBehavior`: FAIL
    the task, INCLUDE or EXCLUDE the item. Kestra: FilterItemsTest."""

    from_: str = Field(alias="from")
    filterCondition: str
    filterType: Literal["INCLUDE", "EXCLUDE"] | str = "INCLUDE"
    errorOrNullBehavior: Literal["FAIL", "INCLUDE", "EXCLUDE"] | str = "FAIL"

    @field_validator("filterType", "errorOrNullBehavior")
    @classmethod
    def _known_word(cls, value: str, info: ValidationInfo) -> str:
        allowed = ("INCLUDE", "EXCLUDE") if info.field_name == "filterType" else _BEHAVIORS
        if "{{" not in value and value.strip().upper() not in allowed:
            raise ValueError(
                f"{info.field_name} must be one of {', '.join(allowed)}, not {value!r}"
            )
        return value

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri, source = source_file(ctx, self.from_, "from")
        include = render_choice(ctx, self.filterType, "filterType", ("INCLUDE", "EXCLUDE"))
        on_error = render_choice(ctx, self.errorOrNullBehavior, "errorOrNullBehavior", _BEHAVIORS)
        ctx.template_context  # built here, in the event loop's thread  # noqa: B018
        target, out_uri = ctx.storage.new_file("filtered.ion")
        condition = self.filterCondition

        def keeps(item: dict[str, Any], number: int) -> bool:
            try:
                text = ctx.render(condition, extra=item)
            except PodiumError as exc:
                if on_error == "FAIL":
                    raise TaskFailed(f"filterCondition on item {number}: {exc}") from None
                return on_error == "INCLUDE"
            matches = is_truthy(str(text))
            return matches == (include == "INCLUDE")

        def filter_items(stop: threading.Event) -> tuple[int, int]:
            processed = dropped = 0
            with target.open("wb") as out:
                for line, item in items_of(source, uri, stop):
                    processed += 1
                    if keeps(item, processed):
                        out.write(line + b"\n")
                    else:
                        dropped += 1
            return processed, dropped

        processed, dropped = await in_thread(filter_items)
        return {"uri": out_uri, "processedItemsTotal": processed, "droppedItemsTotal": dropped}


TASKS: tuple[type, ...] = (DeduplicateItems, FilterItems)
