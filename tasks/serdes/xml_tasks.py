"""io.kestra.plugin.serdes.xml.IonToXml and XmlToIon, on the standard library's expat.

IonToXml writes the rows under a `rootName` element (items), each row an `<item>` whose
fields are child elements (a list repeats its element, a map nests, null is an empty
element), indented, with an XML declaration: what Kestra's XmlMapper writes, streamed.

XmlToIon reads elements as Kestra does (org.json's rules): an element is a map of its
attributes and children, a repeated child becomes a list (`parserConfiguration.forceList`
names elements that are always lists), text next to attributes or children is `content`,
and text is typed ("12" → 12, "1.5" → 1.5, "true" → true). With `query` (`/catalog/book`)
the matching elements are streamed, one row each, and forgotten once written; without it
the whole document is one value (a root wrapping a list gives its items as rows), so it
must fit in memory: over 64 Mi characters it is refused and `query` suggested.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import IO, Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from pydantic import BaseModel, ConfigDict, Field

from engine.errors import TaskFailed
from engine.ion import MAX_ROW_CHARS, IonWriter, read_rows
from engine.plugin import RunContext, Task, plugin
from tasks.properties import masks_failures, render_strings, render_text
from tasks.serdes.conversion import (
    DateFormats,
    render_charset,
    render_zone,
    run_conversion,
    source_path,
)

__all__ = ["IonToXml", "XmlToIon", "element_value"]

_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")
_INTEGER = re.compile(r"^-?(?:0|[1-9]\d*)$")
_DECIMAL = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$")


@plugin("io.kestra.plugin.serdes.xml.IonToXml")
class IonToXml(Task):
    """Write an Ion file of rows as an XML document."""

    from_: str = Field(alias="from")
    charset: str = "UTF-8"
    rootName: str = "items"
    timeZoneId: str = "UTC"

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        charset = render_charset(ctx, self.charset)
        root = render_text(ctx, self.rootName, "rootName") or "items"
        if not _NAME.match(root):
            raise TaskFailed(f"property 'rootName': {root!r} is not an XML element name")
        formats = DateFormats(
            datetime_format="yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            zone=render_zone(ctx, self.timeZoneId),
        )
        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.xml"

        def job(tick: Callable[[], None]) -> int:
            size = 0
            with target.open("w", encoding=charset, errors="xmlcharrefreplace") as out:
                out.write(f"<?xml version='1.0' encoding='{charset.upper()}'?>\n<{root}>\n")
                for row in read_rows(source):
                    tick()
                    _write_element(out, "item", row, 1, formats)
                    size += 1
                out.write(f"</{root}>\n")
            return size

        size = await run_conversion(ctx, job)
        ctx.metric("records", size)
        uri = ctx.storage.put_file(f"{self.id}.xml", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}


def _tag(name: Any) -> str:
    text = str(name)
    return text if _NAME.match(text) else re.sub(r"\W", "_", text).lstrip("0123456789.-") or "_"


def _write_element(out: IO[str], name: str, value: Any, depth: int, formats: DateFormats) -> None:
    pad = "  " * depth
    tag = _tag(name)
    if value is None:
        out.write(f"{pad}<{tag}/>\n")
    elif isinstance(value, Mapping):
        out.write(f"{pad}<{tag}>\n")
        for key, child in value.items():
            if isinstance(child, list):
                for item in child:  # a list repeats its element, as XmlMapper writes it
                    _write_element(out, str(key), item, depth + 1, formats)
            else:
                _write_element(out, str(key), child, depth + 1, formats)
        out.write(f"{pad}</{tag}>\n")
    elif isinstance(value, list):
        out.write(f"{pad}<{tag}>\n")
        for item in value:
            _write_element(out, "item", item, depth + 1, formats)
        out.write(f"{pad}</{tag}>\n")
    else:
        out.write(f"{pad}<{tag}>{escape(formats.text(value) or '')}</{tag}>\n")


class ParserConfiguration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    forceList: list[str] | str = []


@plugin("io.kestra.plugin.serdes.xml.XmlToIon")
class XmlToIon(Task):
    """Read an XML document (or the elements at `query`) into Ion rows."""

    from_: str = Field(alias="from")
    charset: str = "UTF-8"
    query: str | None = None
    parserConfiguration: ParserConfiguration | None = None

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = source_path(ctx, render_text(ctx, self.from_, "from"))
        charset = render_charset(ctx, self.charset)
        query = render_text(ctx, self.query, "query")
        path = [p for p in (query or "").strip().split("/") if p]
        if query is not None and not path:
            raise TaskFailed(f"property 'query': {query!r} names no element (e.g. /catalog/book)")
        forced = set(
            render_strings(ctx, self.parserConfiguration.forceList, "parserConfiguration")
            if self.parserConfiguration
            else []
        )
        target = ctx.working_dir() / f"{ctx.task_run_id}_{self.id}.ion"

        def job(tick: Callable[[], None]) -> int:
            with source.open("r", encoding=charset) as handle, target.open("wb") as out:
                writer = IonWriter(out)
                rows = _matching(handle, path, forced) if path else _whole(handle, forced)
                for row in rows:
                    tick()
                    writer.write_one(row)
                writer.close()
                return writer.size

        try:
            size = await run_conversion(ctx, job)
        except ElementTree.ParseError as exc:
            raise TaskFailed(f"the file is not well-formed XML: {exc}") from None
        ctx.metric("records", size)
        uri = ctx.storage.put_file(f"{self.id}.ion", target)
        target.unlink(missing_ok=True)
        return {"uri": uri, "size": size}


def _typed(text: str) -> Any:
    """org.json's stringToValue: booleans, null and numbers out of text."""
    word = text.strip()
    if word.lower() in ("true", "false"):
        return word.lower() == "true"
    if word.lower() == "null":
        return None
    if _INTEGER.match(word):
        return int(word)
    if _DECIMAL.match(word):
        try:
            return Decimal(word)
        except InvalidOperation:
            return text
    return text


def element_value(element: ElementTree.Element, forced: set[str]) -> Any:
    """An element as org.json reads it: text alone is a typed value; otherwise a map of
    attributes and children (repeated or forced ones as lists), its text as `content`."""
    result: dict[str, Any] = {k: _typed(v) for k, v in element.attrib.items()}
    for child in element:
        value = element_value(child, forced)
        if child.tag in result:
            held = result[child.tag]
            result[child.tag] = [*held, value] if isinstance(held, list) else [held, value]
        else:
            result[child.tag] = [value] if child.tag in forced else value
    text = (element.text or "").strip()
    if not result:
        return _typed(text) if text else ""
    if text:
        result["content"] = _typed(text)
    return result


def _matching(handle: IO[str], path: list[str], forced: set[str]) -> Iterator[Any]:
    stack: list[str] = []
    parents: list[ElementTree.Element] = []
    for event, element in ElementTree.iterparse(handle, events=("start", "end")):
        if event == "start":
            stack.append(element.tag)
            parents.append(element)
            continue
        if stack == path:
            yield element_value(element, forced)
            element.clear()
            if len(parents) > 1:
                parents[-2].remove(element)  # what was written is forgotten
        stack.pop()
        parents.pop()


def _whole(handle: IO[str], forced: set[str]) -> Iterator[Any]:
    text = handle.read(MAX_ROW_CHARS + 1)
    if len(text) > MAX_ROW_CHARS:
        raise TaskFailed(
            f"the document is over {MAX_ROW_CHARS} characters: set 'query' to stream its rows"
        )
    root = ElementTree.fromstring(text)
    value = element_value(root, forced)
    # <items><item>…</item><item>…</item></items>: the items are the rows (Kestra unwraps)
    if isinstance(value, dict) and len(value) == 1:
        (inner,) = value.values()
        if isinstance(inner, list):
            yield from inner
            return
    yield {root.tag: value}
