"""Jinja's parser, for the templates flows are made of, without Jinja's per-token costs.

Every distinct template of a flow is parsed once at load (the checks read its tree) and
that tree is evaluated at run time. Jinja's lexer and parser cost about 40 µs for
`{{ 'x' ~ 5 }}`: a generator per token, a `Token` tuple wrapped twice, a method call per
precedence level and per token test, `set_environment` walking the tree again. This
module builds the same tree in about a third of that:

- Jinja's own token expressions, tried in Jinja's order (narrowed by the first character
  when it is ASCII), split a tag into names, numbers, strings and operators exactly as
  Jinja splits it; brackets are balanced as Jinja balances them;
- the parser is a transcription of `jinja2.parser.Parser`'s expression methods, node for
  node and line number for line number, over a plain list of tokens;
- nodes are created with their fields, line and environment set directly.

It handles text and `{{ }}` tags only. Anything else — `{% %}` and `{# #}` anywhere,
whitespace control (`{{-`, `-}}`), a carriage return, an extension or a non-default
lexer setting in the environment — and every error, lexical or syntactic, returns None:
the caller then runs Jinja's own parser, which builds the tree or raises its own error
with its own message and line. So this module never has to reproduce an error, only
trees, and tests/engine/test_templating_fastparse.py checks those trees against Jinja's,
node by node, line numbers included, on every template of the repository and on
generated ones.
"""

from __future__ import annotations

import re
from ast import literal_eval
from typing import Any

from jinja2 import Environment, nodes
from jinja2.lexer import (
    float_re,
    integer_re,
    name_re,
    operator_re,
    operators,
    string_re,
    whitespace_re,
)

from engine.templating.newnodes import BY_CLASS, maker

__all__ = ["FastParser"]

# Jinja's lexer tries these rules in this order at each position of a tag; an alternation
# of the same expressions, in the same order and with the same flags, picks the same one
# (for a token that starts with an ASCII character, `_RULES` narrows the choice first).
_TOKEN = re.compile(
    "|".join(
        [
            rf"(?P<ws>{whitespace_re.pattern})",
            f"(?P<float>(?ix:{float_re.pattern}\n))",
            f"(?P<integer>(?ix:{integer_re.pattern}\n))",
            rf"(?P<name>{name_re.pattern})",
            rf"(?P<string>(?s:{string_re.pattern}))",
            rf"(?P<operator>{operator_re.pattern})",
        ]
    )
)


def _ascii_rules(char: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """The rules that can match a token starting with the ASCII `char`, in Jinja's
    order: only those, so most tokens cost one match instead of up to six."""
    if char.isspace():
        return ((whitespace_re, "ws"),)
    if char.isdigit():
        return ((float_re, "float"), (integer_re, "integer"))
    if char.isalpha() or char == "_":
        return ((name_re, "name"),)
    if char in "'\"":
        return ((string_re, "string"),)
    return ((operator_re, "operator"),)


_RULES = {chr(code): _ascii_rules(chr(code)) for code in range(128)}
_CLOSING = {"lparen": "rparen", "lbracket": "rbracket", "lbrace": "rbrace"}
# Operators of one character that starts no longer operator (`~`, `.`, `|`, brackets…): at
# such a character only the operator rule can match (`_RULES`), and it matches just that
# character, so the token is known without trying the rule.
_STARTS_LONGER = {text[0] for text in operators if len(text) > 1}  # "/", "*", "=", "!"…
_SINGLE_OPERATORS = {
    text: kind for text, kind in operators.items() if len(text) == 1 and text not in _STARTS_LONGER
}
# Tokens after an operand that no precedence level consumes
_ENDS = frozenset({"variable_end", "rparen", "rbracket", "rbrace", "comma", "colon", "eof"})
_COMPARE = frozenset({"eq", "ne", "lt", "lteq", "gt", "gteq"})
_MATH1 = {"add": nodes.Add, "sub": nodes.Sub}
_MATH2 = {"mul": nodes.Mul, "div": nodes.Div, "floordiv": nodes.FloorDiv, "mod": nodes.Mod}
_TEST_ARGUMENT_START = frozenset(
    {"name", "string", "integer", "float", "lparen", "lbracket", "lbrace"}
)
_BOOLEANS = {"true": True, "false": False, "True": True, "False": False}

# (line, type, value), as Jinja's Token, without the NamedTuple
Token = tuple[int, str, Any]
# An operand `parse_expression` parsed before entering the precedence levels, and the line
# of its first token
_First = tuple[nodes.Expr, int] | None


class _Fallback(Exception):
    """Not in the subset, or not valid: Jinja's parser decides (and names the error)."""


class FastParser:
    """Parses for one environment; `parse_*` return None where Jinja must parse."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.is_enabled = _has_default_lexer(environment)

    def __repr__(self) -> str:
        return f"<FastParser enabled={self.is_enabled}>"

    def trailing_newline_removed(self, source: str) -> str:
        # Jinja's lexer drops one final line break unless told to keep it
        if not self.environment.keep_trailing_newline and source.endswith("\n"):
            return source[:-1]
        return source

    def parse_template(self, source: str) -> nodes.Template | None:
        """What `environment.parse(source)` returns, or None (see the module docstring)."""
        if not self.is_enabled or "{%" in source or "{#" in source or "\r" in source:
            return None
        try:
            tokens = _template_tokens(self.trailing_newline_removed(source))
            return _Parser(tokens, self.environment).parse()
        except _Fallback:
            return None

    def parse_expression(self, source: str) -> nodes.Expr | None:
        """What `Parser(environment, source, state="variable").parse_expression()` returns
        when the whole of `source` is that expression, or None."""
        if not self.is_enabled or "\r" in source:
            return None
        source = self.trailing_newline_removed(source)
        try:
            tokens: list[Token] = []
            end, _ = _tag_tokens(source, 0, 1, tokens)
            if end != len(source):  # `}}` ended the tag: text after the expression
                return None
            parser = _Parser(tokens, self.environment)
            expression = parser.parse_expression()
            if parser.type != "eof":
                return None
            return expression
        except _Fallback:
            return None


def _has_default_lexer(environment: Environment) -> bool:
    """Jinja's default delimiters and lexer settings, and nothing that rewrites the source
    or the token stream (extensions): the only lexer this module reproduces."""
    return (
        not environment.extensions
        and environment.block_start_string == "{%"
        and environment.block_end_string == "%}"
        and environment.variable_start_string == "{{"
        and environment.variable_end_string == "}}"
        and environment.comment_start_string == "{#"
        and environment.comment_end_string == "#}"
        and environment.line_statement_prefix is None
        and environment.line_comment_prefix is None
        and not environment.trim_blocks
        and not environment.lstrip_blocks
        and environment.newline_sequence == "\n"
        and type(environment).preprocess is Environment.preprocess
        and type(environment)._tokenize is Environment._tokenize
        and type(environment).lexer is Environment.lexer
    )


# -- lexing --------------------------------------------------------------------------


def _template_tokens(source: str) -> list[Token]:
    """Jinja's tokens for text and `{{ }}` tags (no `{%`, `{#` or `\\r` in `source`)."""
    tokens: list[Token] = []
    append = tokens.append
    lineno = 1
    pos = 0
    size = len(source)
    while pos < size:
        start = source.find("{{", pos)
        if start < 0:
            append((lineno, "data", source[pos:]))
            break
        if start > pos:
            text = source[pos:start]
            append((lineno, "data", text))
            lineno += text.count("\n")
        if source[start + 2 : start + 3] in ("-", "+"):
            raise _Fallback  # whitespace control
        append((lineno, "variable_begin", "{{"))
        pos, lineno = _tag_tokens(source, start + 2, lineno, tokens)
        if pos >= size or not source.startswith("}}", pos):
            raise _Fallback  # the tag never ends
        append((lineno, "variable_end", "}}"))
        pos += 2
    return tokens


def _tag_tokens(source: str, pos: int, lineno: int, tokens: list[Token]) -> tuple[int, int]:
    """Append the tokens of a tag's inside from `pos`; return (position, line) at its
    `}}` (bracket depth 0) or at the end of `source`."""
    append = tokens.append
    balance: list[str] = []
    size = len(source)
    rules_by_char = _RULES
    while pos < size:
        char = source[pos]
        if char == " ":
            pos += 1
            continue
        if not balance and char in "-}":
            if source.startswith("}}", pos):
                return pos, lineno
            if source.startswith("-}}", pos):
                raise _Fallback  # whitespace control
        single = _SINGLE_OPERATORS.get(char)
        if single is not None:  # the operator_re match, without the regex
            pos += 1
            if single in _CLOSING:
                balance.append(_CLOSING[single])
            elif single in ("rparen", "rbracket", "rbrace") and (
                not balance or balance.pop() != single
            ):
                raise _Fallback  # Jinja: unexpected ')'
            append((lineno, single, char))
            continue
        rules = rules_by_char.get(char)
        if rules is None:  # not ASCII: every rule, in Jinja's order
            found = _TOKEN.match(source, pos)
            kind = found.lastgroup if found is not None else None
        else:
            for regex, rule in rules:
                found = regex.match(source, pos)
                if found is not None:
                    kind = rule
                    break
        if found is None:
            raise _Fallback  # Jinja: unexpected char
        text = found.group()
        pos = found.end()
        if kind == "ws":
            lineno += text.count("\n")
            continue
        value: Any = text
        if kind == "operator":
            kind = operators[text]
            if kind in _CLOSING:
                balance.append(_CLOSING[kind])
            elif kind in ("rparen", "rbracket", "rbrace") and (
                not balance or balance.pop() != kind
            ):
                raise _Fallback  # Jinja: unexpected ')'
        elif kind == "name":
            if not text.isidentifier():
                raise _Fallback
        elif kind == "string":
            value = text[1:-1]
            if "\\" in value or not value.isascii():
                try:
                    value = value.encode("ascii", "backslashreplace").decode("unicode-escape")
                except Exception as exc:
                    raise _Fallback from exc
            if "\n" in text:  # the only tokens but whitespace that can hold a line break
                append((lineno, kind, value))
                lineno += text.count("\n")
                continue
        elif kind == "integer":
            value = int(text.replace("_", ""), 0)
        else:  # float
            value = literal_eval(text.replace("_", ""))
        append((lineno, kind, value))  # type: ignore[arg-type]
    return pos, lineno


# -- parsing -------------------------------------------------------------------------


class _Parser:
    """`jinja2.parser.Parser`'s expression methods over a token list. Each method keeps
    the name, the order of steps and the line-number choices of the one it transcribes;
    where Jinja would fail, `_Fallback` is raised instead."""

    def __init__(self, tokens: list[Token], environment: Environment) -> None:
        last_line = tokens[-1][0] if tokens else 1
        tokens.append((last_line, "eof", ""))
        self.tokens = tokens
        self.index = 0
        self.environment = environment
        self.lineno, self.type, self.value = tokens[0]

    def __repr__(self) -> str:
        return f"<_Parser at token {self.index}>"

    # -- the stream ---------------------------------------------------------------

    def advance(self) -> None:
        if self.type != "eof":
            self.index += 1
            self.lineno, self.type, self.value = self.tokens[self.index]

    def expect(self, kind: str) -> Token:
        if self.type != kind:
            raise _Fallback
        token = self.tokens[self.index]
        self.advance()
        return token

    def is_name(self, word: str) -> bool:
        return self.type == "name" and self.value == word

    def skip_name(self, word: str) -> bool:
        if self.type == "name" and self.value == word:
            self.advance()
            return True
        return False

    def new(self, cls: type[nodes.Node], lineno: int | None, *fields: Any) -> Any:
        # an Operand has no line: Jinja's parser creates it without one
        return (BY_CLASS.get(cls) or maker(cls))(cls, lineno, self.environment, *fields)

    # -- Parser.parse and subparse, for text and `{{ }}` only -----------------------

    def parse(self) -> nodes.Template:
        body: list[nodes.Node] = []
        data: list[nodes.Node] = []
        while self.type != "eof":
            if self.type == "data":
                if self.value:
                    data.append(self.new(nodes.TemplateData, self.lineno, self.value))
                self.advance()
            elif self.type == "variable_begin":
                self.advance()
                data.append(self.parse_tuple())
                self.expect("variable_end")
            else:
                raise _Fallback
        if data:
            body.append(self.new(nodes.Output, data[0].lineno, data))
        return self.new(nodes.Template, 1, body)

    # -- expressions ----------------------------------------------------------------

    def parse_expression(self, with_condexpr: bool = True) -> nodes.Expr:
        # Most expressions are one operand (`outputs.x.uri | upper`, a literal argument).
        # Jinja reaches it through ten precedence levels that each find no operator after
        # it; the first thing each level does is descend (each noting the line of the
        # operand's first token), so parsing the operand directly is the same, and when a
        # token no level takes follows, the same tree. Otherwise the levels are entered
        # with the operand already parsed (`first`, and its line): each takes it where it
        # would have descended to parse it (`parse_pow`).
        if self.type == "name" and self.value == "not":  # parse_not's own token
            first = None
        else:
            lineno = self.lineno
            operand = self.parse_unary()
            if self.type in _ENDS:
                return operand
            first = (operand, lineno)
        if with_condexpr:
            return self.parse_condexpr(first)
        return self.parse_or(first)

    def parse_condexpr(self, first: _First = None) -> nodes.Expr:
        lineno = self.lineno if first is None else first[1]
        expr1 = self.parse_or(first)
        while self.skip_name("if"):
            expr2 = self.parse_or()
            expr3 = self.parse_condexpr() if self.skip_name("else") else None
            expr1 = self.new(nodes.CondExpr, lineno, expr2, expr1, expr3)
            lineno = self.lineno
        return expr1

    def parse_or(self, first: _First = None) -> nodes.Expr:
        lineno = self.lineno if first is None else first[1]
        left = self.parse_and(first)
        while self.skip_name("or"):
            right = self.parse_and()
            left = self.new(nodes.Or, lineno, left, right)
            lineno = self.lineno
        return left

    def parse_and(self, first: _First = None) -> nodes.Expr:
        lineno = self.lineno if first is None else first[1]
        left = self.parse_not(first)
        while self.skip_name("and"):
            right = self.parse_not()
            left = self.new(nodes.And, lineno, left, right)
            lineno = self.lineno
        return left

    def parse_not(self, first: _First = None) -> nodes.Expr:
        if first is None and self.is_name("not"):
            lineno = self.lineno
            self.advance()
            return self.new(nodes.Not, lineno, self.parse_not())
        return self.parse_compare(first)

    def parse_compare(self, first: _First = None) -> nodes.Expr:
        lineno = self.lineno if first is None else first[1]
        expr = self.parse_math1(first)
        ops: list[nodes.Operand] = []
        while True:
            kind = self.type
            if kind in _COMPARE:
                self.advance()
                ops.append(self.new(nodes.Operand, None, kind, self.parse_math1()))
            elif self.skip_name("in"):
                ops.append(self.new(nodes.Operand, None, "in", self.parse_math1()))
            elif self.is_name("not") and self.peek_is_name("in"):
                self.advance()
                self.advance()
                ops.append(self.new(nodes.Operand, None, "notin", self.parse_math1()))
            else:
                break
            lineno = self.lineno
        if not ops:
            return expr
        return self.new(nodes.Compare, lineno, expr, ops)

    def peek_is_name(self, word: str) -> bool:
        _, kind, value = self.tokens[self.index + 1]
        return kind == "name" and value == word

    def parse_math1(self, first: _First = None) -> nodes.Expr:
        lineno = self.lineno if first is None else first[1]
        left = self.parse_concat(first)
        while self.type in _MATH1:
            cls = _MATH1[self.type]
            self.advance()
            right = self.parse_concat()
            left = self.new(cls, lineno, left, right)
            lineno = self.lineno
        return left

    def parse_concat(self, first: _First = None) -> nodes.Expr:
        lineno = self.lineno if first is None else first[1]
        args = [self.parse_math2(first)]
        while self.type == "tilde":
            self.advance()
            args.append(self.parse_math2())
        if len(args) == 1:
            return args[0]
        return self.new(nodes.Concat, lineno, args)

    def parse_math2(self, first: _First = None) -> nodes.Expr:
        lineno = self.lineno if first is None else first[1]
        left = self.parse_pow(first)
        while self.type in _MATH2:
            cls = _MATH2[self.type]
            self.advance()
            right = self.parse_pow()
            left = self.new(cls, lineno, left, right)
            lineno = self.lineno
        return left

    def parse_pow(self, first: _First = None) -> nodes.Expr:
        if first is None:
            lineno = self.lineno
            left = self.parse_unary()
        else:
            left, lineno = first
        while self.type == "pow":
            self.advance()
            right = self.parse_unary()
            left = self.new(nodes.Pow, lineno, left, right)
            lineno = self.lineno
        return left

    def parse_unary(self, with_filter: bool = True) -> nodes.Expr:
        kind = self.type
        lineno = self.lineno
        if kind == "sub":
            self.advance()
            node = self.new(nodes.Neg, lineno, self.parse_unary(False))
        elif kind == "add":
            self.advance()
            node = self.new(nodes.Pos, lineno, self.parse_unary(False))
        else:
            node = self.parse_primary()
        node = self.parse_postfix(node)
        if with_filter:
            node = self.parse_filter_expr(node)
        return node

    def parse_primary(self) -> nodes.Expr:
        lineno, kind, value = self.tokens[self.index]
        if kind == "name":
            self.advance()
            if value in _BOOLEANS:
                return self.new(nodes.Const, lineno, _BOOLEANS[value])
            if value in ("none", "None"):
                return self.new(nodes.Const, lineno, None)
            return self.new(nodes.Name, lineno, value, "load")
        if kind == "string":
            self.advance()
            parts = [value]
            while self.type == "string":
                parts.append(self.value)
                self.advance()
            return self.new(nodes.Const, lineno, "".join(parts))
        if kind in ("integer", "float"):
            self.advance()
            return self.new(nodes.Const, lineno, value)
        if kind == "lparen":
            self.advance()
            node = self.parse_tuple(explicit_parentheses=True)
            self.expect("rparen")
            return node
        if kind == "lbracket":
            return self.parse_list()
        if kind == "lbrace":
            return self.parse_dict()
        raise _Fallback

    def parse_tuple(self, explicit_parentheses: bool = False) -> nodes.Expr:
        lineno = self.lineno
        args: list[nodes.Expr] = []
        is_tuple = False
        while True:
            if args:
                self.expect("comma")
            if self.type in ("variable_end", "block_end", "rparen"):
                break
            args.append(self.parse_expression())
            if self.type == "comma":
                is_tuple = True
            else:
                break
            lineno = self.lineno
        if not is_tuple:
            if args:
                return args[0]
            if not explicit_parentheses:
                raise _Fallback
        return self.new(nodes.Tuple, lineno, args, "load")

    def parse_list(self) -> nodes.List:
        lineno = self.expect("lbracket")[0]
        items: list[nodes.Expr] = []
        while self.type != "rbracket":
            if items:
                self.expect("comma")
            if self.type == "rbracket":
                break
            items.append(self.parse_expression())
        self.expect("rbracket")
        return self.new(nodes.List, lineno, items)

    def parse_dict(self) -> nodes.Dict:
        lineno = self.expect("lbrace")[0]
        items: list[nodes.Pair] = []
        while self.type != "rbrace":
            if items:
                self.expect("comma")
            if self.type == "rbrace":
                break
            key = self.parse_expression()
            self.expect("colon")
            value = self.parse_expression()
            items.append(self.new(nodes.Pair, key.lineno, key, value))
        self.expect("rbrace")
        return self.new(nodes.Dict, lineno, items)

    def parse_postfix(self, node: nodes.Expr) -> nodes.Expr:
        while True:
            kind = self.type
            if kind == "dot" or kind == "lbracket":
                node = self.parse_subscript(node)
            elif kind == "lparen":
                node = self.parse_call(node)
            else:
                return node

    def parse_filter_expr(self, node: nodes.Expr) -> nodes.Expr:
        while True:
            kind = self.type
            if kind == "pipe":
                node = self.parse_filter(node)
            elif kind == "name" and self.value == "is":
                node = self.parse_test(node)
            elif kind == "lparen":
                node = self.parse_call(node)
            else:
                return node

    def parse_subscript(self, node: nodes.Expr) -> nodes.Getattr | nodes.Getitem:
        lineno, kind, _ = self.tokens[self.index]
        self.advance()
        if kind == "dot":
            attr_lineno, attr_kind, attr = self.tokens[self.index]
            self.advance()
            if attr_kind == "name":
                return self.new(nodes.Getattr, lineno, node, attr, "load")
            if attr_kind != "integer":
                raise _Fallback
            arg = self.new(nodes.Const, attr_lineno, attr)
            return self.new(nodes.Getitem, lineno, node, arg, "load")
        args: list[nodes.Expr] = []
        while self.type != "rbracket":
            if args:
                self.expect("comma")
            args.append(self.parse_subscribed())
        self.expect("rbracket")
        if len(args) == 1:
            subscript = args[0]
        else:
            subscript = self.new(nodes.Tuple, lineno, args, "load")
        return self.new(nodes.Getitem, lineno, node, subscript, "load")

    def parse_subscribed(self) -> nodes.Expr:
        lineno = self.lineno
        args: list[nodes.Expr | None]
        if self.type == "colon":
            self.advance()
            args = [None]
        else:
            node = self.parse_expression()
            if self.type != "colon":
                return node
            self.advance()
            args = [node]
        if self.type == "colon":
            args.append(None)
        elif self.type not in ("rbracket", "comma"):
            args.append(self.parse_expression())
        else:
            args.append(None)
        if self.type == "colon":
            self.advance()
            if self.type not in ("rbracket", "comma"):
                args.append(self.parse_expression())
            else:
                args.append(None)
        else:
            args.append(None)
        return self.new(nodes.Slice, lineno, *args)

    def parse_call_args(
        self,
    ) -> tuple[list[nodes.Expr], list[nodes.Keyword], nodes.Expr | None, nodes.Expr | None]:
        self.expect("lparen")
        args: list[nodes.Expr] = []
        kwargs: list[nodes.Keyword] = []
        dyn_args = dyn_kwargs = None
        require_comma = False
        while self.type != "rparen":
            if require_comma:
                self.expect("comma")
                if self.type == "rparen":
                    break
            if self.type == "mul":
                if dyn_args is not None or dyn_kwargs is not None:
                    raise _Fallback
                self.advance()
                dyn_args = self.parse_expression()
            elif self.type == "pow":
                if dyn_kwargs is not None:
                    raise _Fallback
                self.advance()
                dyn_kwargs = self.parse_expression()
            elif self.type == "name" and self.tokens[self.index + 1][1] == "assign":
                if dyn_kwargs is not None:
                    raise _Fallback
                key = self.value
                self.advance()
                self.advance()
                value = self.parse_expression()
                kwargs.append(self.new(nodes.Keyword, value.lineno, key, value))
            else:
                if dyn_args is not None or dyn_kwargs is not None or kwargs:
                    raise _Fallback
                args.append(self.parse_expression())
            require_comma = True
        self.expect("rparen")
        return args, kwargs, dyn_args, dyn_kwargs

    def parse_call(self, node: nodes.Expr) -> nodes.Call:
        lineno = self.lineno
        args, kwargs, dyn_args, dyn_kwargs = self.parse_call_args()
        return self.new(nodes.Call, lineno, node, args, kwargs, dyn_args, dyn_kwargs)

    def parse_filter(self, node: nodes.Expr) -> nodes.Expr:
        while self.type == "pipe":
            self.advance()
            lineno, _, name = self.expect("name")
            while self.type == "dot":
                self.advance()
                name += "." + self.expect("name")[2]
            if self.type == "lparen":
                args, kwargs, dyn_args, dyn_kwargs = self.parse_call_args()
            else:
                args, kwargs, dyn_args, dyn_kwargs = [], [], None, None
            node = self.new(nodes.Filter, lineno, node, name, args, kwargs, dyn_args, dyn_kwargs)
        return node

    def parse_test(self, node: nodes.Expr) -> nodes.Expr:
        lineno = self.lineno
        self.advance()  # `is`
        negated = self.skip_name("not")
        name = self.expect("name")[2]
        while self.type == "dot":
            self.advance()
            name += "." + self.expect("name")[2]
        dyn_args = dyn_kwargs = None
        kwargs: list[nodes.Keyword] = []
        if self.type == "lparen":
            args, kwargs, dyn_args, dyn_kwargs = self.parse_call_args()
        elif self.type in _TEST_ARGUMENT_START and not (
            self.type == "name" and self.value in ("else", "or", "and")
        ):
            if self.is_name("is"):
                raise _Fallback  # Jinja: you cannot chain multiple tests with is
            args = [self.parse_postfix(self.parse_primary())]
        else:
            args = []
        node = self.new(nodes.Test, lineno, node, name, args, kwargs, dyn_args, dyn_kwargs)
        if negated:
            node = self.new(nodes.Not, lineno, node)
        return node
