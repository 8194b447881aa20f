"""Strict, safe YAML loading that remembers where every value came from.

How to read this module: `load_yaml` reads a flow (a mapping at the root, with positions);
`load_yaml_value` reads any other YAML text (an input's value) the same safe way. Both
work in three steps:

1. `_check_text` looks at the raw text before any parsing: size, UTF-8, NUL and the other
   characters YAML forbids. Nothing oversized or binary reaches the parser.
2. `_Composer` pulls parser *events* one at a time (libyaml when available, PyYAML's pure
   parser otherwise) and builds a small node tree with an explicit stack, so deep nesting
   cannot exhaust the C stack. It also sums what every alias will expand to, so a
   "billion laughs" document is refused at the alias that crosses a limit, before anything
   is expanded. Aliases may only name complete nodes, so the tree has no cycles.
3. `_Constructor` walks the tree into plain Python values with the YAML 1.2 core schema
   (not PyYAML's 1.1: `on`/`yes` stay strings, timestamps stay strings), expands aliases
   and `<<` merge keys, rejects duplicate keys and unknown tags, and records the position
   of every path.

Most flows need neither the tree nor its checks: no anchor, alias, tag, merge key or
duplicate key. `load_yaml` reads such a document in one pass from the events to the data
(`_load_simple`, after step 1); at the first thing that pass does not handle, an error
included, it gives up and the steps 2 and 3 read the text, so what they give (data,
positions, problems) is what `load_yaml` gives. tests/engine/test_yaml_one_pass.py compares
the two on the repository's YAML files and on mutations of them.

Everything wrong is a `FlowDefinitionError` whose `Problem`s carry file, line, column and
dotted path; PyYAML's exceptions never leave this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.errors import FlowDefinitionError, Problem

__all__ = ["Mark", "YamlDocument", "format_path", "load_yaml", "load_yaml_value"]

Path = tuple[str | int, ...]
_Pos = tuple[int, int]  # (line, column), 1-based; Marks are made from these only on demand


@dataclass(frozen=True, slots=True)
class Mark:
    """A position in the source, 1-based as editors show them."""

    line: int
    column: int


class _Marks(Mapping[Path, Mark]):
    """Read-only path -> Mark view; building a Mark per node up front costs more than parsing."""

    __slots__ = ("_positions",)

    def __init__(self, positions: dict[Path, _Pos]) -> None:
        self._positions = positions

    def __getitem__(self, path: Path) -> Mark:
        return Mark(*self._positions[path])

    def __iter__(self) -> Iterator[Path]:
        return iter(self._positions)

    def __len__(self) -> int:
        return len(self._positions)


@dataclass(frozen=True)
class YamlDocument:
    """The plain data of one YAML document and the position of each of its nodes."""

    data: Any
    source: str
    marks: Mapping[Path, Mark] = field(repr=False)

    def locate(self, path: Sequence[str | int]) -> Mark | None:
        """The mark of `path`, or of its deepest ancestor that has one."""
        key = tuple(path)
        for end in range(len(key), -1, -1):
            mark = self.marks.get(key[:end])
            if mark is not None:
                return mark
        return None

    def problem(self, path: Sequence[str | int], message: str) -> Problem:
        """A Problem about `path`, located in this document."""
        mark = self.locate(path)
        line, column = (mark.line, mark.column) if mark else (None, None)
        return Problem(message, format_path(path), self.source, line, column)

    def __repr__(self) -> str:
        kind = type(self.data).__name__
        return f"YamlDocument(source={self.source!r}, data={kind}, marks={len(self.marks)})"


_SIMPLE_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def format_path(path: Sequence[str | int]) -> str:
    """`("tasks", 3, "then", 0, "sql")` -> `tasks[3].then[0].sql`.

    Keys that would be ambiguous in dotted form are quoted: `inputFiles["data.json"]`.
    """
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _SIMPLE_KEY.match(part):
            out.append(f".{part}" if out else part)
        else:
            out.append('["' + part.replace('"', '\\"') + '"]')
    return "".join(out)


def _problem(message: str, source: str, pos: _Pos, path: Sequence[str | int] = ()) -> Problem:
    return Problem(message, format_path(path), source, pos[0], pos[1])


# ---------------------------------------------------------------- step 1: the raw text

# Characters YAML 1.2 allows in a stream (c-printable); anything else is refused up front.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _position(text: str, index: int) -> _Pos:
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _check_text(raw: str | bytes, source: str, max_bytes: int) -> str:
    # A str longer than the limit is too large whatever its encoding: don't encode it to know.
    too_large = len(raw) > max_bytes or (
        isinstance(raw, str) and len(raw.encode("utf-8", "surrogatepass")) > max_bytes
    )
    if too_large:
        message = f"the file is larger than the limit of {max_bytes} bytes"
        raise FlowDefinitionError(_problem(message, source, (1, 1)))
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            # Decode what precedes the bad byte, so that the column counts characters.
            before = raw[: exc.start].decode("utf-8-sig", "replace")
            message = f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})"
            raise FlowDefinitionError(
                _problem(message, source, _position(before, len(before)))
            ) from None
    else:
        text = raw.removeprefix("\ufeff")
    bad = _NOT_PRINTABLE.search(text)
    if bad:
        char = bad.group()
        message = (
            "NUL bytes are not allowed (is this a binary file?)"
            if char == "\x00"
            else f"the character U+{ord(char):04X} is not allowed in YAML"
        )
        raise FlowDefinitionError(_problem(message, source, _position(text, bad.start())))
    return text


# ---------------------------------------------------------------- step 2: events -> nodes


@dataclass(slots=True)
class _Scalar:
    value: str
    tag: str | None  # explicit tag (expanded), None when implicit
    is_plain: bool  # plain (unquoted) and untagged: the only scalars the core schema resolves
    pos: _Pos


@dataclass(slots=True)
class _Collection:
    tag: str | None
    pos: _Pos
    # What this node becomes once every alias inside it is expanded; known at its end.
    size: int = 0  # nodes, itself included
    aliases: int = 0  # alias expansions
    height: int = 0  # nesting levels, itself included


@dataclass(slots=True)
class _Seq(_Collection):
    items: list[_Node] = field(default_factory=list)


@dataclass(slots=True)
class _Map(_Collection):
    pairs: list[tuple[_Node, _Node]] = field(default_factory=list)


@dataclass(slots=True)
class _Alias:
    target: _Scalar | _Seq | _Map
    pos: _Pos


_Node = _Scalar | _Seq | _Map | _Alias

_EventSource: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


def _pos(event: Any) -> _Pos:
    return event.start_mark.line + 1, event.start_mark.column + 1


def _tag(event: Any) -> str | None:
    # "!" is the non-specific tag of quoted scalars: it means "string", i.e. no real tag.
    return None if event.tag in (None, "!") else event.tag


@dataclass(slots=True)
class _Frame:
    """A collection still open while composing."""

    node: _Seq | _Map
    anchor: str | None
    size_before: int
    aliases_before: int
    key: _Node | None = None  # in a mapping: the key whose value comes next
    child_height: int = 0


class _Composer:
    """Builds the node tree from events, accounting for what every alias expands to."""

    def __init__(self, source: str, max_depth: int, max_nodes: int, max_aliases: int) -> None:
        self.source = source
        self.max_depth, self.max_nodes, self.max_aliases = max_depth, max_nodes, max_aliases
        self.anchors: dict[str, _Scalar | _Seq | _Map] = {}
        self.stack: list[_Frame] = []
        self.root: _Node | None = None
        self.size = 0  # nodes of the document with every alias expanded
        self.aliases = 0  # alias expansions, nested ones included

    def fail(self, message: str, pos: _Pos) -> FlowDefinitionError:
        # The path for the message. Outer frames hold their open child as their last item or
        # pair; the innermost frame has not attached the node being read yet.
        path: list[str | int] = []
        for depth, frame in enumerate(self.stack, 1):
            is_top = depth == len(self.stack)
            if isinstance(frame.node, _Seq):
                path.append(len(frame.node.items) - (0 if is_top else 1))
                continue
            key = frame.key if is_top else frame.node.pairs[-1][0] if frame.node.pairs else None
            if isinstance(key, _Scalar):
                path.append(key.value)
        return FlowDefinitionError(_problem(message, self.source, pos, path))

    def compose(self, text: str) -> _Node | None:
        parser = _EventSource(text)
        get_event = parser.get_event
        documents = 0
        try:
            while True:  # the hot loop: dispatch on the exact event class
                event = get_event()
                kind = event.__class__
                if kind is yaml.ScalarEvent:
                    # `_tag`, `_pos`, `grow(1, 0, pos)` and `attach(node, 0)` inlined: most
                    # events are scalars (measured: 10% of `load_yaml`, 1,001 Log tasks)
                    tag = event.tag
                    if tag == "!":
                        tag = None
                    mark = event.start_mark
                    node = _Scalar(
                        event.value,
                        tag,
                        tag is None and event.implicit[0],
                        (mark.line + 1, mark.column + 1),
                    )
                    self.size += 1
                    if self.size > self.max_nodes:
                        self.grow(0, 0, node.pos)  # raises, with the message
                    if event.anchor is not None:
                        self.anchors[event.anchor] = node
                    stack = self.stack
                    if not stack:
                        self.root = node
                        continue
                    frame = stack[-1]
                    parent = frame.node
                    if parent.__class__ is _Seq:
                        parent.items.append(node)  # type: ignore[union-attr]
                    elif frame.key is None:
                        frame.key = node
                    else:
                        parent.pairs.append((frame.key, node))  # type: ignore[union-attr]
                        frame.key = None
                elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                    self.start(event)
                elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                    self.end()
                elif kind is yaml.AliasEvent:
                    self.alias(str(event.anchor), _pos(event))
                elif kind is yaml.DocumentStartEvent:
                    documents += 1
                    if documents > 1:
                        message = "a flow file must hold one YAML document; found a second one"
                        raise self.fail(message, _pos(event))
                elif kind is yaml.StreamEndEvent:
                    return self.root
        finally:
            parser.dispose()

    def grow(self, size: int, aliases: int, pos: _Pos) -> None:
        self.size += size
        self.aliases += aliases
        if self.aliases > self.max_aliases:
            raise self.fail(
                f"more than {self.max_aliases} alias expansions: aliases that repeat aliases "
                "grow exponentially (a 'billion laughs' document?)",
                pos,
            )
        if self.size > self.max_nodes:
            raise self.fail(f"the document has more than {self.max_nodes} nodes", pos)

    def attach(self, node: _Node, height: int) -> None:
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        if height > frame.child_height:
            frame.child_height = height
        if isinstance(frame.node, _Seq):
            frame.node.items.append(node)
        elif frame.key is None:
            frame.key = node
        else:
            frame.node.pairs.append((frame.key, node))
            frame.key = None

    def alias(self, name: str, pos: _Pos) -> None:
        target = self.anchors.get(name)
        if target is None:
            is_open = any(frame.anchor == name for frame in self.stack)
            why = "refers to a node that contains it" if is_open else "is not defined above"
            raise self.fail(f"the alias *{name} {why}", pos)
        if isinstance(target, _Scalar):
            self.grow(1, 1, pos)
            self.attach(_Alias(target, pos), 0)
            return
        if len(self.stack) + target.height > self.max_depth:
            message = f"the alias *{name} nests the document deeper than {self.max_depth} levels"
            raise self.fail(message, pos)
        self.grow(target.size, 1 + target.aliases, pos)
        self.attach(_Alias(target, pos), target.height)

    def start(self, event: Any) -> None:
        pos = _pos(event)
        if len(self.stack) >= self.max_depth:
            raise self.fail(f"the document is nested deeper than {self.max_depth} levels", pos)
        node = (_Seq if event.__class__ is yaml.SequenceStartEvent else _Map)(_tag(event), pos)
        size_before, aliases_before = self.size, self.aliases
        self.grow(1, 0, pos)
        self.attach(node, 0)
        self.stack.append(_Frame(node, event.anchor, size_before, aliases_before))

    def end(self) -> None:
        frame = self.stack.pop()
        node = frame.node
        node.size = self.size - frame.size_before
        node.aliases = self.aliases - frame.aliases_before
        node.height = frame.child_height + 1
        if self.stack and node.height > self.stack[-1].child_height:
            self.stack[-1].child_height = node.height
        # Registered only now, so an alias can never point into a node still open: no cycles.
        if frame.anchor is not None:
            self.anchors[frame.anchor] = node


# ---------------------------------------------------------------- step 3: nodes -> data

_CORE = "tag:yaml.org,2002:"
_MERGE = _CORE + "merge"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
# The YAML 1.2 core schema in one pattern; the group that matches names the type.
_CORE_SCALAR = re.compile(
    r"(?P<null>~|null|Null|NULL|)|(?P<bool>true|True|TRUE|false|False|FALSE)"
    r"|(?P<int>[-+]?[0-9]+)|(?P<oct>0o[0-7]+)|(?P<hex>0x[0-9a-fA-F]+)"
    r"|(?P<float>[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)"
    r"|(?P<inf>[-+]?\.(?:inf|Inf|INF))|(?P<nan>\.(?:nan|NaN|NAN))"
)
_TYPE_OF = {"oct": "int", "hex": "int", "inf": "float", "nan": "float"}
# The first characters of every non-empty text `_CORE_SCALAR` matches: a plain scalar that
# starts otherwise (`io.kestra…`, `hello`) is a string without trying the pattern.
_CORE_FIRST = frozenset("~nNtTfF+-.0123456789")


def _convert(group: str, text: str) -> Any:
    try:
        if group == "int":
            return int(text)
        if group in ("oct", "hex"):
            return int(text[2:], 8 if group == "oct" else 16)
    except ValueError:  # Python refuses int() of more than 4300 digits
        raise ValueError("this integer is too large") from None
    if group == "null":
        return None
    if group == "bool":
        return text.lower() == "true"
    if group == "inf":
        return -math.inf if text.startswith("-") else math.inf
    return math.nan if group == "nan" else float(text)


def _resolve(kind: str, text: str) -> Any:
    """A scalar's value: `kind` is a core tag's name, or "auto" for an untagged plain one."""
    if kind == "str" or (kind == "auto" and text and text[0] not in _CORE_FIRST):
        return text
    match = _CORE_SCALAR.fullmatch(text)
    if match is None or match.lastgroup is None:
        if kind == "auto":
            return text
        raise ValueError(f"{text!r} is not a valid !!{kind}")
    found = _TYPE_OF.get(match.lastgroup, match.lastgroup)
    if kind not in ("auto", found) and not (kind == "float" and found == "int"):
        raise ValueError(f"{text!r} is not a valid !!{kind}")
    value = _convert(match.lastgroup, text)
    return float(value) if kind == "float" else value


class _Constructor:
    """Turns the node tree into plain data, recording positions and collecting problems.

    The composer already bounded size, depth and alias expansions, so this only recurses
    (once per nesting level) and never needs to stop half-way.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.positions: dict[Path, _Pos] = {}
        self.problems: list[Problem] = []

    def report(self, path: Path, pos: _Pos, message: str) -> None:
        self.problems.append(_problem(message, self.source, pos, path))

    @staticmethod
    def deref(node: _Node) -> _Scalar | _Seq | _Map:
        return node.target if isinstance(node, _Alias) else node

    def construct(self, node: _Node, path: Path, *, record: bool = True) -> Any:
        if record:  # an alias is located where it is written, its content at the anchor
            self.positions[path] = node.pos
        node = self.deref(node)
        if isinstance(node, _Scalar):
            if node.tag is None and not node.is_plain:
                return node.value  # quoted and block scalars are always strings
            return self.scalar(node, path)
        expected = _CORE + ("seq" if isinstance(node, _Seq) else "map")
        if node.tag is not None and node.tag != expected:
            self.report(path, node.pos, f"the tag {node.tag} is not allowed here")
        if isinstance(node, _Seq):
            return [self.construct(item, (*path, i)) for i, item in enumerate(node.items)]
        return self.mapping(node, path)

    def scalar(self, node: _Scalar, path: Path) -> Any:
        if node.tag is not None and node.tag not in _SCALAR_TAGS:
            message = (
                f"unknown tag {node.tag}: only !!str, !!int, !!float, !!bool, !!null, "
                "!!seq and !!map are allowed"
            )
            self.report(path, node.pos, message)
            return node.value
        try:
            if node.tag is None:
                return _resolve("auto", node.value)
            return _resolve(node.tag.removeprefix(_CORE), node.value)
        except ValueError as exc:
            self.report(path, node.pos, str(exc))
            return node.value

    def key(self, node: _Node, path: Path) -> _Scalar | None:
        key = self.deref(node)
        if not isinstance(key, _Scalar):
            self.report(path, key.pos, "mapping keys must be plain values, not lists or mappings")
            return None
        return key

    def mapping(self, node: _Map, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, _Pos] = {}
        merges: list[_Node] = []
        for key_node, value_node in node.pairs:
            key = self.key(key_node, path)
            if key is None:
                continue
            if key.tag == _MERGE or (key.is_plain and key.value == "<<"):
                merges.append(value_node)
                continue
            # Jackson reads map keys as strings; keep the text as written (`1`, `true`).
            name, child = key.value, (*path, key.value)
            first = first_seen.get(name)
            if first is not None:
                where = f"first defined at line {first[0]}, column {first[1]}"
                self.report(child, key.pos, f"duplicate key '{name}' ({where})")
                continue
            first_seen[name] = key.pos
            if key.tag is not None and key.tag not in _SCALAR_TAGS:
                self.report(child, key.pos, f"unknown tag {key.tag} on a key")
            self.positions[child] = key.pos  # an entry is located at its key
            result[name] = self.construct(value_node, child, record=False)
        return self.merge(result, merges, path) if merges else result

    def merge(self, explicit: dict[str, Any], merges: list[_Node], path: Path) -> dict[str, Any]:
        """`<<` entries: explicit keys win, then earlier sources; merged keys come first."""
        merged: dict[str, Any] = {}
        for value_node in merges:
            for source in self.merge_sources(value_node, (*path, "<<")):
                for key, node in self.entries(source, path):
                    if key.value not in explicit and key.value not in merged:
                        child = (*path, key.value)
                        self.positions[child] = key.pos
                        merged[key.value] = self.construct(node, child, record=False)
        merged.update(explicit)
        return merged

    def merge_sources(self, node: _Node, path: Path, *, nested: bool = False) -> list[_Map]:
        """The mappings named by a `<<` value: a mapping or a list of mappings."""
        target = self.deref(node)
        if isinstance(target, _Map):
            return [target]
        if isinstance(target, _Seq) and not nested:
            return [m for item in target.items for m in self.merge_sources(item, path, nested=True)]
        self.report(path, target.pos, "a merge key '<<' takes a mapping or a list of mappings")
        return []

    def entries(self, source: _Map, path: Path) -> Iterator[tuple[_Scalar, _Node]]:
        """A merge source's entries by precedence: its own keys, then those it merges.

        The work is bounded: each alias to a merge source added its size when composed.
        """
        nested: list[_Node] = []
        for key_node, value_node in source.pairs:
            key = self.deref(key_node)
            if not isinstance(key, _Scalar):
                continue  # reported where the source itself is constructed
            if key.tag == _MERGE or (key.is_plain and key.value == "<<"):
                nested.append(value_node)
            else:
                yield key, value_node
        for value_node in nested:
            for inner in self.merge_sources(value_node, (*path, "<<")):
                yield from self.entries(inner, path)


# ---------------------------------------------------------------- the entry point


def _syntax_problem(exc: yaml.YAMLError, text: str, source: str) -> Problem:
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        position = min(getattr(exc, "position", 0) or 0, len(text))
        return _problem(f"invalid YAML: {exc}", source, _position(text, position))
    line, column = exc.problem_mark.line, exc.problem_mark.column
    problem = exc.problem or "invalid YAML"
    lines = text.split("\n", line + 1)
    current = lines[line] if line < len(lines) else ""
    indent = current[: len(current) - len(current.lstrip(" \t"))]
    # libyaml words tab trouble in several ways; a tab where indentation is read says it all.
    if "\t" in indent or "tab" in problem or current[column : column + 1] == "\t":
        where = indent.index("\t") if "\t" in indent else column
        message = "tabs are not allowed for indentation; indent with spaces"
        return _problem(message, source, (line + 1, where + 1))
    message = f"invalid YAML: {problem}"
    if exc.context and exc.context_mark is not None:
        mark = exc.context_mark
        message += f" ({exc.context} at line {mark.line + 1}, column {mark.column + 1})"
    return _problem(message, source, (line + 1, column + 1))


def load_yaml(
    text: str | bytes,
    *,
    source: str = "<flow>",
    max_bytes: int = 2_000_000,
    max_depth: int = 64,
    max_nodes: int = 200_000,
    max_alias_expansions: int = 1_000,
) -> YamlDocument:
    """Parse one YAML document whose root is a mapping, or raise FlowDefinitionError.

    The limits bound work and memory whatever the input: `max_nodes`, `max_depth` and
    `max_alias_expansions` measure the document as it is with every alias expanded.
    Construction recurses once per level: keep `max_depth` well under the recursion limit.
    """
    checked = _check_text(text, source, max_bytes)
    simple = _load_simple(checked, max_depth, max_nodes)
    if simple is not None:
        data, positions = simple
        return YamlDocument(data, source, _Marks(positions))
    root, builder, data = _compose_and_construct(
        checked, source, max_depth, max_nodes, max_alias_expansions
    )
    if root is None:
        raise FlowDefinitionError(_problem("the file is empty", source, (1, 1)))
    if not isinstance(data, dict):
        found = "a list" if isinstance(data, list) else f"the scalar {data!r}"
        message = f"a flow must be a mapping of keys to values at the top level, found {found}"
        builder.problems.insert(0, _problem(message, source, root.pos))
    if builder.problems:
        raise FlowDefinitionError(builder.problems)
    return YamlDocument(data, source, _Marks(builder.positions))


def load_yaml_value(
    text: str | bytes,
    *,
    source: str = "<value>",
    max_bytes: int = 2_000_000,
    max_depth: int = 64,
    max_nodes: int = 200_000,
    max_alias_expansions: int = 1_000,
) -> Any:
    """One YAML document of any shape (a YAML input's value, say); None when empty.

    Same safety, limits and schema as `load_yaml`; raises FlowDefinitionError.
    """
    checked = _check_text(text, source, max_bytes)
    _, builder, data = _compose_and_construct(
        checked, source, max_depth, max_nodes, max_alias_expansions
    )
    if builder.problems:
        raise FlowDefinitionError(builder.problems)
    return data


def _compose_and_construct(
    checked: str, source: str, max_depth: int, max_nodes: int, max_aliases: int
) -> tuple[_Node | None, _Constructor, Any]:
    """Steps 2 and 3 (the module docstring) of a text step 1 checked."""
    composer = _Composer(source, max_depth, max_nodes, max_aliases)
    try:
        root = composer.compose(checked)
    except yaml.YAMLError as exc:
        raise FlowDefinitionError(_syntax_problem(exc, checked, source)) from None
    builder = _Constructor(source)
    return root, builder, None if root is None else builder.construct(root, ())


# ---------------------------------------------------------------- the one-pass path

_NO_KEY = object()  # in a mapping: its next scalar is a key


def _load_simple(
    text: str, max_depth: int, max_nodes: int
) -> tuple[dict[str, Any], dict[Path, _Pos]] | None:
    """The data and positions `load_yaml` gives for the documents flows are — a mapping at
    the root, no anchor, alias or tag (a quoted scalar's `!` aside), no merge key, no
    duplicate key, every key a scalar, within the limits, every value one the core schema
    reads — built straight from the parser's events in one pass, without the node tree
    (the tree is there for aliases, merges and problems: 60% of `load_yaml` for a flow of
    1,001 Log tasks, bench/README.md session 12). None for anything else, a YAML error
    included: `load_yaml` then takes the two steps, which give the data or the problems.

    Positions are recorded in the constructor's order (document order: a mapping entry
    at its key, a list item and the root where they start), so the marks are the same
    mapping in the same order."""
    parser = _EventSource(text)
    get_event = parser.get_event
    positions: dict[Path, _Pos] = {}
    # the open collections: (the dict or list, its path, in a mapping its pending key)
    stack: list[list[Any]] = []
    root: Any = None
    nodes = 0
    documents = 0
    scalar, mapping_start, sequence_start = (
        yaml.ScalarEvent,
        yaml.MappingStartEvent,
        yaml.SequenceStartEvent,
    )
    try:
        while True:
            event = get_event()
            kind = event.__class__
            if kind is scalar or kind is mapping_start or kind is sequence_start:
                tag = event.tag
                if event.anchor is not None or (tag is not None and tag != "!"):
                    return None
                nodes += 1
                if nodes > max_nodes:
                    return None
                if not stack:  # the root
                    if kind is not mapping_start or root is not None or max_depth < 1:
                        return None
                    root = {}
                    positions[()] = _pos(event)
                    stack.append([root, (), _NO_KEY])
                    continue
                frame = stack[-1]
                parent, path, key = frame
                is_list = parent.__class__ is list
                if not is_list and key is _NO_KEY:  # a key: its text, whatever it reads as
                    if kind is not scalar:
                        return None  # a list or mapping as a key: the two steps say
                    name = event.value
                    if name in parent or name == "<<":
                        return None  # a duplicate, a merge key: likewise
                    positions[(*path, name)] = _pos(event)
                    frame[2] = name
                    continue
                if kind is scalar:
                    # plain (`!` is no tag): the core schema reads it; quoted: a string
                    text = event.value
                    if event.implicit[0] and (not text or text[0] in _CORE_FIRST):
                        value: Any = _resolve("auto", text)  # ValueError: None below
                    else:
                        value = text
                elif len(stack) >= max_depth:
                    return None
                else:
                    value = {} if kind is mapping_start else []
                if is_list:
                    key = len(parent)
                    positions[(*path, key)] = _pos(event)
                    parent.append(value)
                else:  # a mapping's value: located at its key
                    parent[key] = value
                    frame[2] = _NO_KEY
                if kind is not scalar:
                    stack.append([value, (*path, key), _NO_KEY])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                stack.pop()
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    return None
            elif kind is yaml.StreamEndEvent:
                return None if root is None else (root, positions)
            elif kind is yaml.AliasEvent:
                return None
    except (yaml.YAMLError, ValueError):
        return None
    finally:
        parser.dispose()
