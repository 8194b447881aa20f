"""Pebble syntax that real Kestra flows use, rewritten to Jinja before Jinja parses it.

Only the inside of `{{ }}` and `{% %}` tags is touched, never text outside tags, comments,
`{% raw %}` blocks or string literals. Rewrites keep every newline, so Jinja's line
numbers still point at the user's line.

    a ?? b ?? c          ->  _podium_coalesce(_podium_coalesce(a, b), c)   (None or undefined)
    a ??? b              ->  _podium_if_undefined(a, b)                    (undefined only)
    c ? x : y            ->  ((x) if (c) else (y))                         (nestable)
    null                 ->  none
    a equals b           ->  a == b
    a contains b         ->  ((b) in (a))
    1..5                 ->  range(1, (5) + 1)
    {% elseif c %}       ->  {% elif c %}
    {% verbatim %}…{% endverbatim %}  ->  {% raw %}…{% endraw %}

Operands follow Pebble's precedences: `??` (120) and `..` (200) bind tighter than `~` and
`|`, so their operands are primaries with their `.attr`, `[key]` and `(call)` suffixes;
the left operand of `??` also takes the filters applied to it (`a | f ?? b` is
`(a | f) ?? b` in Pebble). The ternary is the loosest operator of an expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import TemplateError

__all__ = ["COALESCE", "IF_UNDEFINED", "rewrite_expression", "rewrite_template", "split_expression"]

COALESCE = "_podium_coalesce"
IF_UNDEFINED = "_podium_if_undefined"

_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>\?\?\?|\?\?|\.\.|\*\*|//|==|!=|<=|>=|.)
    """,
    re.VERBOSE | re.DOTALL,
)
_OPEN = re.compile(r"\{\{|\{%|\{#")
# Pebble's tag names for Jinja's `elif` and `raw`; the tag keeps its length and lines.
_PEBBLE_TAG = re.compile(r"(\{%[-+]?\s*)(elseif|verbatim|endverbatim)\b")
_JINJA_TAG = {"elseif": "elif", "verbatim": "raw", "endverbatim": "endraw"}
_RAW = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
_END_RAW = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
# Cheap pre-check: most templates have none of these and are returned untouched.
_HINT = re.compile(r"\?|\.\.|\bnull\b|\bequals\b|\bcontains\b")
_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_WORD_OPERATORS = frozenset({"and", "or", "not", "in", "is", "if", "else", "elif"})
_ALWAYS_DELIMITERS = frozenset({"if", "elif", "else"})
# In `{% ... %}` the statement keyword and these words (for that statement only)
# separate its expressions; elsewhere they are ordinary names (`{% if missing ?? x %}`).
_STATEMENT_WORDS = {
    "for": frozenset({"in", "recursive"}),
    "import": frozenset({"as", "with", "without", "context"}),
    "from": frozenset({"import", "as", "with", "without", "context"}),
    "include": frozenset({"ignore", "missing", "with", "without", "context"}),
}


def _may_rewrite(source: str) -> bool:
    """Whether `source` holds something to rewrite (`_HINT`). Substring scans first: on
    the short templates of most tasks they cost a tenth of the regex's search."""
    return (
        "?" in source
        or ".." in source
        or "null" in source
        or "equals" in source
        or "contains" in source
    ) and _HINT.search(source) is not None


@dataclass(slots=True)
class _Item:
    """A token, or a bracketed group already rewritten (kind "group", text with brackets)."""

    kind: str
    text: str

    def __repr__(self) -> str:
        return f"{self.kind}:{self.text!r}"


@dataclass(slots=True)
class _Unit:
    """An operand ("atom"), an operator ("op") or whitespace ("ws") of one segment."""

    kind: str
    text: str
    word: str = ""  # for ops: the operator; for atoms: "" (filters extend atoms backwards)


def rewrite_template(source: str) -> str:
    """`source` with Pebble syntax inside tags rewritten to Jinja (see the module docstring)."""
    if "elseif" in source or "verbatim" in source:
        source = _PEBBLE_TAG.sub(_jinja_tag, source)
    if not _may_rewrite(source):
        return source
    out: list[str] = []
    pos = 0
    while (match := _OPEN.search(source, pos)) is not None:
        start, opener = match.start(), match.group()
        if not _HINT.search(source, start):
            break  # nothing to rewrite from here on: the rest is copied as it is
        if opener == "{#":
            end = source.find("#}", match.end())
            if end < 0:
                break
            out.append(source[pos : end + 2])
            pos = end + 2
            continue
        if opener == "{%" and (raw := _RAW.match(source, start)) is not None:
            end_raw = _END_RAW.search(source, raw.end())
            if end_raw is None:
                break
            out.append(source[pos : end_raw.end()])
            pos = end_raw.end()
            continue
        body_start = match.end()
        if source[body_start : body_start + 1] in ("-", "+"):
            body_start += 1
        closer = "}}" if opener == "{{" else "%}"
        scanned = _tokenize(source, body_start, closer)
        if scanned is None:  # unterminated tag: leave it for Jinja to report
            break
        tokens, body_end = scanned
        out.append(source[pos:body_start])
        out.append(_rewrite_tokens(tokens, "var" if opener == "{{" else "stmt"))
        pos = body_end
    out.append(source[pos:])
    return "".join(out)


def _jinja_tag(match: re.Match[str]) -> str:
    return match.group(1) + _JINJA_TAG[match.group(2)]


def rewrite_expression(expression: str) -> str:
    """A bare expression (no braces) with Pebble syntax rewritten to Jinja."""
    if not _may_rewrite(expression):
        return expression
    scanned = _tokenize(expression, 0, None)
    assert scanned is not None  # without a closer the scan always reaches the end
    return _rewrite_tokens(scanned[0], "var")


def split_expression(text: str) -> str:
    """The expression inside `text`: either "{{ expr }}" (one tag, nothing around it) or
    a bare "expr". Raises TemplateError for anything else."""
    stripped = text.strip()
    if stripped.startswith("{{"):
        start = 3 if stripped[2:3] in ("-", "+") else 2
        scanned = _tokenize(stripped, start, "}}")
        if scanned is not None:
            end = scanned[1]
            tail = stripped[end:]
            if tail in ("}}", "-}}"):
                return stripped[start:end].strip()
    if "{{" in stripped or "{%" in stripped:
        raise TemplateError(
            "expected one expression, either '{{ expr }}' alone or a bare 'expr'",
            template=text,
        )
    return stripped


def _tokenize(source: str, pos: int, closer: str | None) -> tuple[list[_Item], int] | None:
    """Tokens from `pos` up to `closer` at bracket depth 0 (like Jinja's own lexer, so
    `{{ {'a': 1} }}` and `{{ '}}' }}` end where Jinja thinks they do)."""
    tokens: list[_Item] = []
    depth = 0
    end = len(source)
    while pos < end:
        if depth == 0 and closer is not None:
            if source.startswith(closer, pos):
                return tokens, pos
            if source[pos] in "-+" and source.startswith(closer, pos + 1):
                return tokens, pos
        match = _TOKEN.match(source, pos)
        assert match is not None  # the last alternative matches any character
        kind = match.lastgroup or "op"
        text = match.group()
        if kind == "op":
            if text in _CLOSERS:
                depth += 1
            elif text in (")", "]", "}"):
                depth = max(depth - 1, 0)
        tokens.append(_Item(kind, text))
        pos = match.end()
    return (tokens, pos) if closer is None else None


def _rewrite_tokens(tokens: list[_Item], context: str) -> str:
    if not any(
        (t.kind == "op" and (t.text.startswith("?") or t.text == ".."))
        or (t.kind == "name" and t.text in ("null", "equals", "contains"))
        for t in tokens
    ):
        return "".join(t.text for t in tokens)
    items, _ = _group(tokens, 0)
    return _rewrite_sequence(items, context)


def _group(tokens: list[_Item], index: int, closer: str | None = None) -> tuple[list[_Item], int]:
    """Nest bracketed tokens; each group is rewritten on its own, then becomes one item."""
    items: list[_Item] = []
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.kind == "op" and token.text == closer:
            return items, index - 1
        if token.kind == "op" and token.text in _CLOSERS:
            inner, index = _group(tokens, index, _CLOSERS[token.text])
            close = tokens[index].text if index < len(tokens) else ""
            index += 1 if close else 0
            kind = {"(": "paren", "[": "bracket", "{": "brace"}[token.text]
            items.append(_Item("group", token.text + _rewrite_sequence(inner, kind) + close))
        else:
            items.append(token)
    return items, index


def _rewrite_sequence(items: list[_Item], context: str) -> str:
    """Split at delimiters (`,`, `=`, statement words) and rewrite each segment."""
    statement = ""
    if context == "stmt":
        statement = next((t.text for t in items if t.kind != "ws"), "")
    out: list[str] = []
    segment: list[_Item] = []
    for item in items:
        if _is_delimiter(item, context, statement):
            out.append(_rewrite_segment(segment, context))
            out.append(item.text)
            segment = []
        else:
            segment.append(item)
    out.append(_rewrite_segment(segment, context))
    return "".join(out)


def _is_delimiter(item: _Item, context: str, statement: str) -> bool:
    if item.kind == "op":
        return item.text in (",", "=")
    if item.kind != "name":
        return False
    if item.text in _ALWAYS_DELIMITERS:
        return True
    if context != "stmt":
        return False
    return (
        item.text == statement
        or item.text in _STATEMENT_WORDS
        or (item.text == "in" and statement == "for")
    )


def _rewrite_segment(items: list[_Item], context: str) -> str:
    units = _units(items)
    for operator in ("..", "??", "???", "contains"):
        units = _fold_binary(units, operator)
    prefix = ""
    if context == "brace":  # `{key: c ? a : b}`: the key and its colon stay as they are
        for index, unit in enumerate(units):
            if unit.kind == "op" and unit.word.startswith("?"):
                break
            if unit.kind == "op" and unit.word == ":":
                prefix = "".join(u.text for u in units[: index + 1])
                units = units[index + 1 :]
                break
    return prefix + _ternary(units)


def _units(items: list[_Item]) -> list[_Unit]:
    """Parse a segment into operands (primary + suffixes) and operators."""
    units: list[_Unit] = []
    index = 0
    while index < len(items):
        item = items[index]
        if item.kind == "ws":
            units.append(_Unit("ws", item.text))
            index += 1
            continue
        last = _last_significant(units)
        after_operand = last is not None and last.kind == "atom"
        if item.kind == "name" and item.text in ("equals", "contains") and after_operand:
            text = "==" if item.text == "equals" else item.text
            units.append(_Unit("op", text, word=item.text))
            index += 1
        elif item.kind == "name" and item.text in _WORD_OPERATORS:
            units.append(_Unit("op", item.text, word=item.text))
            index += 1
        elif item.kind in ("name", "num", "str", "group"):
            end = _operand_end(items, index)
            head = "none" if item.kind == "name" and item.text == "null" else item.text
            units.append(_Unit("atom", head + "".join(i.text for i in items[index + 1 : end])))
            index = end
        else:
            units.append(_Unit("op", item.text, word=item.text))
            index += 1
    return units


def _operand_end(items: list[_Item], index: int) -> int:
    """Index after the suffixes (`.name`, `[...]`, `(...)`) of the primary at `index`."""
    end = index + 1
    while True:
        nxt = _skip_ws(items, end)
        if nxt >= len(items):
            return end
        item = items[nxt]
        if item.kind == "op" and item.text == ".":
            name = _skip_ws(items, nxt + 1)
            if name < len(items) and items[name].kind in ("name", "num"):
                end = name + 1
                continue
            return end
        if item.kind == "group" and item.text[0] in "([":
            end = nxt + 1
            continue
        return end


def _skip_ws(items: list[_Item], index: int) -> int:
    while index < len(items) and items[index].kind == "ws":
        index += 1
    return index


def _last_significant(units: list[_Unit]) -> _Unit | None:
    for unit in reversed(units):
        if unit.kind != "ws":
            return unit
    return None


def _fold_binary(units: list[_Unit], operator: str) -> list[_Unit]:
    """Replace `left <operator> right` by one atom, left to right."""
    index = 0
    while index < len(units):
        unit = units[index]
        if unit.kind != "op" or unit.word != operator:
            index += 1
            continue
        start = _left_operand_start(units, index, with_filters=operator != "..")
        end = _right_operand_end(units, index, with_filters=operator == "contains")
        if start is None or end is None:
            raise TemplateError(f"operator {operator!r} needs an operand on each side")
        left = "".join(u.text for u in units[start:index])
        right = "".join(u.text for u in units[index + 1 : end])
        if operator == "..":
            text = f"range({left}, ({right}) + 1)"
        elif operator == "contains":
            text = f"(({right}) in ({left}))"
        else:
            function = COALESCE if operator == "??" else IF_UNDEFINED
            text = f"{function}({left},{right})"
        units[start:end] = [_Unit("atom", text)]
        index = start + 1
    return units


def _left_operand_start(units: list[_Unit], index: int, *, with_filters: bool) -> int | None:
    start = None
    position = index - 1
    while position >= 0:
        if units[position].kind == "ws":
            position -= 1
            continue
        if units[position].kind != "atom":
            break
        start = position
        position -= 1
        while position >= 0 and units[position].kind == "ws":
            position -= 1
        if not (with_filters and position >= 0 and units[position].word == "|"):
            break
        position -= 1  # the `|`; keep walking to the operand the filter applies to
    return start


def _right_operand_end(units: list[_Unit], index: int, *, with_filters: bool) -> int | None:
    position = index + 1
    while position < len(units) and (
        units[position].kind == "ws" or units[position].word in ("-", "+")
    ):
        position += 1
    if position >= len(units) or units[position].kind != "atom":
        return None
    end = position + 1
    while with_filters:
        bar = end
        while bar < len(units) and units[bar].kind == "ws":
            bar += 1
        if bar >= len(units) or units[bar].word != "|":
            break
        name = bar + 1
        while name < len(units) and units[name].kind == "ws":
            name += 1
        if name >= len(units) or units[name].kind != "atom":
            break
        end = name + 1
    return end


def _ternary(units: list[_Unit]) -> str:
    """`cond ? then : else` (right-associative, nestable) as a Jinja conditional."""
    question = next((i for i, u in enumerate(units) if u.kind == "op" and u.word == "?"), None)
    if question is None:
        return "".join(u.text for u in units)
    pending = 0
    for index in range(question + 1, len(units)):
        word = units[index].word if units[index].kind == "op" else ""
        if word == "?":
            pending += 1
        elif word == ":":
            if pending == 0:
                condition = "".join(u.text for u in units[:question])
                then = _ternary(units[question + 1 : index])
                otherwise = _ternary(units[index + 1 :])
                return f"(({then}) if ({condition}) else ({otherwise}))"
            pending -= 1
    raise TemplateError("'?' without a matching ':' in a conditional expression")
