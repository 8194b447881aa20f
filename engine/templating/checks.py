"""Static analysis of one template, without rendering it: what can be known to fail.

`analyze(source)` parses the template the way rendering will (Pebble syntax rewritten,
then Jinja's parser; nothing is compiled or evaluated, so no filter runs) and returns
`Finding`s: a syntax error, or every call of an unknown function, filter or test, plus
every `outputs.<task id>` the template reads (the flow-level check decides whether that
task exists and runs earlier).

Known names are those of the one template environment, so a function registered there
is known here at once. What stays unknown on purpose:
- names the template binds itself (`{% set %}`, `{% for %}`, macros, imports);
- `outputs[...]` with a computed key, `outputs.items()` and other method calls, and
  anything inside a string (a template passed to `render()` is data until rendered).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from jinja2 import TemplateSyntaxError, nodes

from engine.errors import TemplateError
from engine.templating.environment import CONCAT_FILTER, ENVIRONMENT, LOOP_FILTER

__all__ = ["Finding", "analyze", "locate_in_template", "suggest"]

# Names Jinja binds inside loops, macros and blocks.
_IMPLICIT = frozenset({"loop", "caller", "varargs", "kwargs", "self", "super"})
_INTERNAL_FILTERS = frozenset({LOOP_FILTER, CONCAT_FILTER})


@dataclass(frozen=True, slots=True)
class Finding:
    """`kind` is "syntax", "function", "filter", "test" or "output" (a task id read)."""

    kind: str
    name: str
    line: int
    message: str = ""

    def __repr__(self) -> str:
        return f"<Finding {self.kind} {self.name!r} line {self.line}>"


def known_names(kind: str) -> list[str]:
    if kind == "function":
        return [*ENVIRONMENT.globals]
    if kind == "filter":
        return [name for name in ENVIRONMENT.filters if name not in _INTERNAL_FILTERS]
    return list(ENVIRONMENT.tests)


def suggest(name: str, options: list[str]) -> list[str]:
    return difflib.get_close_matches(name, [o for o in options if not o.startswith("_")], n=2)


@lru_cache(maxsize=4096)
def analyze(source: str) -> tuple[Finding, ...]:
    """What `source` gets wrong, and which task outputs it reads (see the docstring)."""
    try:
        tree = ENVIRONMENT.parse_template(source)
    except TemplateSyntaxError as exc:
        return (Finding("syntax", "", exc.lineno or 1, exc.message or str(exc)),)
    except TemplateError as exc:  # Pebble operators without operands
        return (Finding("syntax", "", 1, str(exc)),)
    found = _nodes_by_kind(tree)
    bound = _bound_names(found)
    findings: list[Finding] = []
    called: set[int] = set()
    for call in cast(list[nodes.Call], found[nodes.Call]):
        called.add(id(call.node))
        if isinstance(call.node, nodes.Name) and not _is_function(call.node.name, bound):
            findings.append(Finding("function", call.node.name, call.lineno))
    for node in cast(list[nodes.Filter], found[nodes.Filter]):
        if node.name not in ENVIRONMENT.filters:
            findings.append(Finding("filter", node.name, node.lineno))
    for test in cast(list[nodes.Test], found[nodes.Test]):
        if test.name not in ENVIRONMENT.tests:
            findings.append(Finding("test", test.name, test.lineno))
    if "outputs" not in bound:
        for access in found[nodes.Getattr]:
            task_id = _output_task(cast(nodes.Getattr | nodes.Getitem, access))
            if task_id is not None and id(access) not in called:
                findings.append(Finding("output", task_id, access.lineno))
    return tuple(sorted(findings, key=lambda f: f.line)) if findings else ()


def _is_function(name: str, bound: frozenset[str]) -> bool:
    return name in ENVIRONMENT.globals or name in bound or name in _IMPLICIT


# The node kinds `analyze` reads; Getitem is filed with Getattr (both are accesses).
_KINDS = (
    nodes.Call,
    nodes.Filter,
    nodes.Test,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Name,
    nodes.Macro,
    nodes.Import,
    nodes.FromImport,
)


_FILED_AS: dict[type[nodes.Node], type[nodes.Node]] = {
    **{kind: kind for kind in _KINDS},
    nodes.Getitem: nodes.Getattr,
}


def _nodes_by_kind(tree: nodes.Template) -> dict[type[nodes.Node], list[nodes.Node]]:
    """Every node of the kinds above, each kind in document order, in one walk of the
    tree (rather than one `find_all` per kind: the checks run for every template of
    every flow saved)."""
    found: dict[type[nodes.Node], list[nodes.Node]] = {kind: [] for kind in _KINDS}
    stack: list[nodes.Node] = [tree]
    while stack:
        node = stack.pop()
        kind = _FILED_AS.get(type(node))
        if kind is not None:
            found[kind].append(node)
        # Node.iter_child_nodes without its generators, pushed last first so that the
        # first child is walked next
        for name in reversed(node.fields):
            value = getattr(node, name, None)
            if isinstance(value, nodes.Node):
                stack.append(value)
            elif isinstance(value, list):
                for item in reversed(value):
                    if isinstance(item, nodes.Node):
                        stack.append(item)
    return found


def _bound_names(found: dict[type[nodes.Node], list[nodes.Node]]) -> frozenset[str]:
    names = {
        n.name for n in cast(list[nodes.Name], found[nodes.Name]) if n.ctx in ("store", "param")
    }
    if not (found[nodes.Macro] or found[nodes.Import] or found[nodes.FromImport]):
        return frozenset(names)  # the common case: `{{ }}` tags bind nothing else
    names |= {m.name for m in cast(list[nodes.Macro], found[nodes.Macro])}
    names |= {i.target for i in cast(list[nodes.Import], found[nodes.Import])}
    for item in cast(list[nodes.FromImport], found[nodes.FromImport]):
        names |= {n[1] if isinstance(n, tuple) else n for n in item.names}
    return frozenset(names)


def _output_task(access: nodes.Getattr | nodes.Getitem) -> str | None:
    """`x` for `outputs.x` or `outputs['x']`; None for anything else."""
    base = access.node
    if not (isinstance(base, nodes.Name) and base.name == "outputs" and base.ctx == "load"):
        return None
    if isinstance(access, nodes.Getattr):
        return access.attr
    key = access.arg
    return key.value if isinstance(key, nodes.Const) and isinstance(key.value, str) else None


def needle(finding: Finding) -> re.Pattern[str] | None:
    """How the finding is spelled in the template text, to place it on a column."""
    name = re.escape(finding.name)
    if finding.kind == "function":
        return re.compile(rf"(?<![\w.])(?P<at>{name})\s*\(")
    if finding.kind == "filter":
        return re.compile(rf"\|\s*(?P<at>{name})\b")
    if finding.kind == "test":
        return re.compile(rf"\bis\s+(?:not\s+)?(?P<at>{name})\b")
    if finding.kind == "output":
        return re.compile(rf"(?P<at>\boutputs)\s*(?:\.\s*{name}\b|\[\s*['\"]{name}['\"])")
    return None


def locate_in_template(source: str, finding: Finding) -> tuple[int, re.Pattern[str]] | None:
    """(n, pattern): the finding is the n-th match (0-based) of `pattern` in `source`."""
    pattern = needle(finding)
    if pattern is None:
        return None
    line_start = 0
    for _ in range(finding.line - 1):
        line_start = source.find("\n", line_start) + 1
        if line_start == 0:
            return None
    matches = list(pattern.finditer(source))
    for index, match in enumerate(matches):
        if match.end() > line_start:
            return index, pattern
    return None
