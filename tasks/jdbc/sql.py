"""Reading SQL text the way the server will: statements, named parameters, identifiers.

One small lexer knows where string literals (`'…'`, `E'…'`), quoted identifiers
(`"…"`), dollar-quoted bodies (`$fn$ … $fn$`) and comments (`--`, nested `/* */`) start
and end, so that a `;` or a `:name` inside them is never taken for syntax. Both
PostgreSQL and DuckDB write SQL this way.

- `split_statements` cuts a script into statements (Kestra's `Queries`).
- `bind_named` turns Kestra's `:name` parameters into `$1…` (PostgreSQL), `$name`
  (DuckDB) or `%s` (MySQL drivers), leaving casts (`x::int`) alone;
  `number_question_marks` does the same for JDBC's `?` (Kestra's Batch).
- MySQL's strings take backslash escapes, its names may be in backticks and `#` starts a
  comment: `split_statements(…, "mysql")` reads it so.
- `qualified_name` / `fold_identifier` apply PostgreSQL's rule for names: unquoted
  ones are folded to lower case (`VendorID` is `vendorid`), quoted ones kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Literal

Dialect = Literal["postgres", "mysql"]

__all__ = [
    "bind_named",
    "fold_identifier",
    "number_question_marks",
    "qualified_name",
    "shorten",
    "split_statements",
]

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$\x80-\uffff]")


def _segments(sql: str, dialect: Dialect = "postgres") -> Iterator[tuple[bool, int, int]]:
    """(is_code, start, end) spans covering `sql`: code, or a literal/comment to keep whole.
    MySQL differs: backslash escapes in every string, `backtick` names, `#` comments."""
    is_mysql = dialect == "mysql"
    i, start, n = 0, 0, len(sql)
    while i < n:
        c = sql[i]
        end = -1
        if c == "'":
            escapes = is_mysql or (
                i > 0 and sql[i - 1] in "eE" and (i < 2 or not _IDENT_CHAR.match(sql[i - 2]))
            )
            end = _quoted_end(sql, i, "'", backslash=escapes)
        elif c == '"':
            end = _quoted_end(sql, i, '"', backslash=is_mysql)
        elif c == "`" and is_mysql:
            end = _quoted_end(sql, i, "`", backslash=False)
        elif (c == "#" and is_mysql) or (c == "-" and sql.startswith("--", i)):
            newline = sql.find("\n", i)
            end = n if newline < 0 else newline + 1
        elif c == "/" and sql.startswith("/*", i):
            end = _comment_end(sql, i)
        elif c == "$" and not is_mysql and (i == 0 or not _IDENT_CHAR.match(sql[i - 1])):
            tag = _DOLLAR_TAG.match(sql, i)
            if tag:
                close = sql.find(tag.group(), tag.end())
                end = n if close < 0 else close + len(tag.group())
        if end < 0:
            i += 1
            continue
        if start < i:
            yield True, start, i
        yield False, i, end
        i = start = end
    if start < n:
        yield True, start, n


def _quoted_end(sql: str, i: int, quote: str, *, backslash: bool) -> int:
    j, n = i + 1, len(sql)
    while j < n:
        c = sql[j]
        if backslash and c == "\\":
            j += 2
            continue
        if c == quote:
            if j + 1 < n and sql[j + 1] == quote:  # a doubled quote is the quote itself
                j += 2
                continue
            return j + 1
        j += 1
    return n  # unterminated: the server will say so, with its own position


def _comment_end(sql: str, i: int) -> int:
    depth, j, n = 0, i, len(sql)
    while j < n:
        if sql.startswith("/*", j):
            depth += 1
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    return n


def split_statements(sql: str, dialect: Dialect = "postgres") -> list[str]:
    """The statements of a script, without their `;`. Pieces holding only comments and
    white space are dropped (a trailing `-- done` is not a statement)."""
    statements: list[str] = []
    current: list[str] = []
    has_code = False
    for is_code, start, end in _segments(sql, dialect):
        if not is_code:
            current.append(sql[start:end])
            is_comment = sql.startswith(("--", "/*", "#"), start)
            has_code = has_code or not is_comment
            continue
        text = sql[start:end]
        pieces = text.split(";")
        for k, piece in enumerate(pieces):
            current.append(piece)
            has_code = has_code or bool(piece.strip())
            if k < len(pieces) - 1:
                if has_code:
                    statements.append("".join(current).strip())
                current, has_code = [], False
    if has_code:
        statements.append("".join(current).strip())
    return statements


def bind_named(
    sql: str, names: Mapping[str, object], style: Literal["numbered", "named", "format"]
) -> tuple[str, list[str]]:
    """Replace Kestra's `:name` placeholders for the names given.

    `numbered` (PostgreSQL) gives `$1, $2 …`, one number per distinct name; `named`
    (DuckDB) gives `$name`; `format` (MySQL drivers) gives `%s` for each use, with every
    other `%` doubled as the driver's formatting wants. Returns the text and the names
    used, in order of first use (the numbers' order), or of every use for `format`.
    Text inside literals and comments, casts (`::`) and names not in `names` are left
    as they are.
    """
    if not names:
        return sql, []
    is_format = style == "format"
    order: list[str] = []
    out: list[str] = []
    for is_code, start, end in _segments(sql, "mysql" if is_format else "postgres"):
        if not is_code:
            text = sql[start:end]
            out.append(text.replace("%", "%%") if is_format else text)
            continue
        i = start
        while i < end:
            c = sql[i]
            if c != ":":
                out.append("%%" if is_format and c == "%" else c)
                i += 1
                continue
            if sql.startswith("::", i):
                out.append("::")
                i += 2
                continue
            match = _NAME.match(sql, i + 1, end)
            if match is None or match.group() not in names:
                out.append(c)
                i += 1
                continue
            name = match.group()
            if is_format:
                order.append(name)
                out.append("%s")
            else:
                if name not in order:
                    order.append(name)
                out.append(f"${name}" if style == "named" else f"${order.index(name) + 1}")
            i = match.end()
    return "".join(out), order


def number_question_marks(sql: str, style: Literal["numbered", "format"]) -> tuple[str, int]:
    """JDBC's `?` placeholders (Kestra's Batch) as `$1, $2 …` (PostgreSQL) or `%s`
    (MySQL drivers, other `%` doubled), outside literals and comments. Returns the text
    and how many there were."""
    is_format = style == "format"
    count = 0
    out: list[str] = []
    for is_code, start, end in _segments(sql, "mysql" if is_format else "postgres"):
        text = sql[start:end]
        if is_format:
            text = text.replace("%", "%%")
        if not is_code:
            out.append(text)
            continue
        pieces = text.split("?")
        for k, piece in enumerate(pieces):
            out.append(piece)
            if k < len(pieces) - 1:
                count += 1
                out.append("%s" if is_format else f"${count}")
    return "".join(out), count


def fold_identifier(name: str) -> str:
    """One identifier as PostgreSQL reads it: `"Mixed"` stays Mixed, `Mixed` is mixed."""
    name = name.strip()
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
        return name[1:-1].replace('""', '"')
    if not name:
        raise ValueError("an empty identifier")
    return name.lower()


def qualified_name(text: str) -> tuple[str | None, str]:
    """`schema.table` (either part may be quoted) → (schema or None, table), folded."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            if in_quotes and text.startswith('""', i):
                current.append('""')
                i += 2
                continue
            in_quotes = not in_quotes
            current.append(c)
        elif c == "." and not in_quotes:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    if in_quotes or not 1 <= len(parts) <= 3 or any(not p.strip() for p in parts):
        raise ValueError(f"not a table name: {text!r}")
    folded = [fold_identifier(p) for p in parts]
    # A three-part name (database.schema.table) can only name the connected database.
    return (folded[-2] if len(folded) > 1 else None), folded[-1]


def shorten(text: str, limit: int = 500) -> str:
    """A statement as shown in logs and errors: whitespace squeezed, length bounded."""
    squeezed = " ".join(text.split())
    return squeezed if len(squeezed) <= limit else squeezed[: limit - 1] + "…"
