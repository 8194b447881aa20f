"""What engine/plugin_schema.py reads from a plugin's source: property docs (attribute
docstring, comment beside, comment above), which properties the code renders as
templates, and which outputs `run` returns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.plugin import RunContext, Task, plugin
from engine.plugin_schema import _outputs, _rendered_properties, property_docs


def _render_with(ctx: RunContext, value: Any) -> Any:
    return ctx.render(value)


@plugin("io.podium.test.Documented")
class Documented(Task):
    """Say something, several ways.

    A second paragraph that is not the title."""

    greeting: str
    """The words to say,
    over two lines."""
    loud: bool = False  # shout them
    # where they go:
    # a file or the log
    target: str = "log"
    count: int = 1
    names: list[str] = []
    raw: str = ""  # fmt: skip

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        words = [n.upper() for n in self.names]
        for word in words:
            ctx.render_text(word)
        text = ctx.render(self.greeting)
        where = _render_with(ctx, self.target)
        result: dict[str, Any] = {"text": text}
        result["where"] = where
        if self.loud:
            return {"shouted": True, **result}
        return result


def test_property_docs_come_from_docstrings_and_comments() -> None:
    docs = property_docs(Documented)
    assert docs["greeting"] == "The words to say, over two lines."
    assert docs["loud"] == "shout them"
    assert docs["target"] == "where they go: a file or the log"
    assert "raw" not in docs  # a formatter's pragma is no doc
    assert "count" not in docs
    # the base class's own docs are inherited
    assert docs["disabled"] == "A disabled task is skipped, as if it were not in the flow."


def test_rendered_properties_and_outputs_are_read_from_the_code() -> None:
    rendered = _rendered_properties(Documented)
    # directly, through a local computed from it, and through a helper given the context
    assert {"greeting", "names", "target"} <= rendered
    assert not {"loud", "count", "raw"} & rendered
    assert _outputs(Documented) == ("shouted", "text", "where")
