"""engine/templating/fastparse.py builds the tree Jinja's parser builds, or leaves the
template to Jinja: compared node by node (type, every field, line number, environment)
on every template of the repository's flows, examples and tests, and on generated ones.
Jinja's `Node.__eq__` compares fields only (`Const(1) == Const(1.0) == Const(True)`), so
the comparison here is stricter than `==`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jinja2 import Environment, TemplateSyntaxError, nodes
from jinja2.parser import Parser

from engine.errors import TemplateError
from engine.templating.environment import ENVIRONMENT
from engine.templating.fastparse import FastParser
from engine.templating.pebble import rewrite_expression, rewrite_template
from tests.conftest import COURSE_FLOW_NAMES, course_flow

ROOT = Path(__file__).resolve().parents[2]
FAST = FastParser(ENVIRONMENT)


def assert_same(fast: Any, jinja: Any, where: str = "tree") -> None:
    assert type(fast) is type(jinja), f"{where}: {type(fast).__name__} != {type(jinja).__name__}"
    if isinstance(jinja, nodes.Node):
        assert vars(fast).keys() == vars(jinja).keys(), where
        assert fast.lineno == jinja.lineno, f"{where}.lineno: {fast.lineno} != {jinja.lineno}"
        assert fast.environment is jinja.environment, f"{where}.environment"
        for field in jinja.fields:
            assert_same(getattr(fast, field), getattr(jinja, field), f"{where}.{field}")
    elif isinstance(jinja, list | tuple):
        assert len(fast) == len(jinja), f"{where}: {len(fast)} items != {len(jinja)}"
        for index, (a, b) in enumerate(zip(fast, jinja, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    else:
        assert fast == jinja, f"{where}: {fast!r} != {jinja!r}"


def check_template(source: str) -> bool:
    """Same tree as Jinja's parser (not ENVIRONMENT._parse: that one is the fast parser
    first), or None; True when the fast parser built it."""
    fast = FAST.parse_template(source)
    try:
        jinja = Parser(ENVIRONMENT, source).parse()
    except TemplateSyntaxError:
        assert fast is None, f"Jinja refuses {source!r}, the fast parser does not"
        return False
    if fast is None:
        return False
    assert_same(fast, jinja, repr(source))
    return True


def check_expression(source: str) -> bool:
    fast = FAST.parse_expression(source)
    try:
        parser = Parser(ENVIRONMENT, source, state="variable")
        jinja = parser.parse_expression()
        is_whole = parser.stream.eos
    except TemplateSyntaxError:
        assert fast is None, f"Jinja refuses {source!r}, the fast parser does not"
        return False
    if not is_whole:
        assert fast is None, f"text after the expression in {source!r}"
        return False
    if fast is None:
        return False
    jinja.set_environment(ENVIRONMENT)  # as _compile_expression does
    assert_same(fast, jinja, repr(source))
    return True


# -- the corpus ------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _corpus() -> list[str]:
    """Every string holding `{{` or `{%` in the YAML and Python files of examples/ and
    tests/ (YAML values, Python string constants), as written and as Pebble-rewritten."""
    found: set[str] = set()
    for folder in ("examples", "tests"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".yml", ".yaml"):
                try:
                    documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
                except (yaml.YAMLError, UnicodeDecodeError):
                    continue
                found.update(s for doc in documents for s in _strings(doc))
            elif path.suffix == ".py":
                tree = ast.parse(path.read_text(encoding="utf-8"))
                found.update(
                    node.value
                    for node in ast.walk(tree)
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)
                )
    templates = {s for s in found if "{{" in s or "{%" in s}
    for source in list(templates):
        try:
            templates.add(rewrite_template(source))
        except TemplateError:
            pass
    return sorted(templates)


CORPUS = _corpus()


def test_every_template_of_the_repository_parses_as_jinja_parses_it() -> None:
    assert len(CORPUS) > 1000
    built = sum(check_template(source) for source in CORPUS)
    # most templates are text and `{{ }}` tags: the fast parser must build them
    left_to_jinja = ("{%", "{#", "{{-", "{{+", "-}}", "\r")
    plain = [s for s in CORPUS if not any(mark in s for mark in left_to_jinja)]
    valid = [s for s in plain if _jinja_parses(s)]
    assert built == len(valid), f"{len(valid) - built} valid templates left to Jinja"


def test_every_expression_of_the_repository_parses_as_jinja_parses_it() -> None:
    inner = set()
    for source in CORPUS:
        for piece in source.split("{{")[1:]:
            expression = piece.split("}}")[0]
            inner.add(expression)
            try:
                inner.add(rewrite_expression(expression))
            except TemplateError:
                pass
    built = sum(check_expression(e) for e in sorted(inner))
    assert built > len(inner) / 2


@pytest.mark.parametrize("name", COURSE_FLOW_NAMES)
def test_every_template_of_the_course_flows_parses_as_jinja_parses_it(name: str) -> None:
    flow = yaml.safe_load(course_flow(name).read_text(encoding="utf-8"))
    templates = [s for s in _strings(flow) if "{{" in s or "{%" in s]
    for source in templates:
        rewritten = rewrite_template(source)
        assert check_template(rewritten) or not _jinja_parses(rewritten) or "{%" in rewritten


def _jinja_parses(source: str) -> bool:
    try:
        Parser(ENVIRONMENT, source).parse()
    except TemplateSyntaxError:
        return False
    return True


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' ~ 5 }}",
        "a {{ outputs.t1.value | upper }} b\n{{ x if y else z }}\n",
        "{{ a is not defined }} {{ a is divisibleby 3 }} {{ a is sameas(b) }} {{ x is in [1] }}",
        "{{ [1, 2.5, {'a': none, \"b\": True}][0:1] }} {{ a[::2] }} {{ a[1:, :2] }} {{ a[:] }}",
        "{{ f(1, *a, k=2, **kw) }} {{ g(x,) }} {{ h() }} {{ a.0.1 }} {{ a.b.c() }}",
        "{{ a not in b < c }} {{ not not a }} {{ -a | abs }} {{ - 2 ** 3 }} {{ +a.b }}",
        "{{ a, b }} {{ (a, ) }} {{ () }} {{ (a) }} {{ 'a' 'b' \"c\" }}",
        "{{ 1_000 }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 1.5e3 }} {{ 1_0.2_5 }} {{ 00 }}",
        "{{ 'line\\nbreak' }} {{ '\\u00e9t\\xe9' }} {{ 'é' }} {{ '}}' }} {{ {'a': {'b': 1}} }}",
        "{{ a | f.g(1) | h }} {{ a is x.y }} {{ a if b }} {{ a if b else c if d else e }}",
        "multi\nline {{\n  a\n  ~ b\n  | f(\n c = 1)\n}} and\n{{ d }}",
        "{{ a // b % c * d / e - f + g }} {{ a == b != c >= d <= e > f }}",
        "{{ a or b and not c }} {{ a is not none and b is true }} {{ a in b not in c }}",
        "{{ _podium_coalesce(a.b, 'x') }} {{ ((x) if (c) else (y)) }} {{ range(1, (5) + 1) }}",
        "no tags at all",
        "",
        "{{ a }}{{ b }}",
        "{{{ 'a': 1 }}}",
        "{{ x.y[0]['z'](1)(2) | f is t }}",
        "{{ a is is b }}",  # a test named `is`
        "{{ x[] }}",  # an empty tuple as the key
    ],
)
def test_trees_equal_jinja(source: str) -> None:
    assert check_template(source)


@pytest.mark.parametrize(
    "source",
    [
        "{% if a %}x{% endif %}",  # statements: Jinja's
        "{# a comment #}{{ a }}",
        "{{- a }}",
        "{{ a -}}",
        "{{+ a }}",
        "a\r\nb {{ c }}",
        # errors: Jinja raises its own
        "{{ a",
        "{{ }}",
        "{{ a b }}",
        "{{ a ) }}",
        "{{ (a ] }}",
        "{{ 'unterminated }}",
        "{{ a $ b }}",
        "{{ a is defined is b }}",
        "{{ f(**k, a) }}",
        "{{ f(a=1, b) }}",
        "{{ f(*a, *b) }}",
        "{{ a.'b' }}",
        "{{ a | 1 }}",
        "{{ 'bad \\N{nope}' }}",
        "{{ a ; b }}",
        "{{ 012 }}",
        "{{ ٣ }}",
    ],
)
def test_everything_else_is_left_to_jinja(source: str) -> None:
    assert FAST.parse_template(source) is None
    check_template(source)


@pytest.mark.parametrize("source", ["{{ a }}\n", "a\n\n{{ b }}\n", "{{ 'x\n' }}", "\n"])
def test_a_final_line_break_is_dropped_as_jinja_drops_it_unless_kept(source: str) -> None:
    plain = Environment()  # keep_trailing_newline=False, unlike ENVIRONMENT
    fast = FastParser(plain).parse_template(source)
    assert fast is not None
    assert_same(fast, Parser(plain, source).parse())
    assert check_template(source)


def test_an_environment_with_another_lexer_is_left_to_jinja() -> None:
    assert not FastParser(Environment(variable_start_string="[[")).is_enabled
    assert not FastParser(Environment(trim_blocks=True)).is_enabled
    assert not FastParser(Environment(extensions=["jinja2.ext.do"])).is_enabled
    assert FastParser(Environment()).is_enabled


def test_expressions_equal_jinja() -> None:
    for source in ("a.b | default(1)", "x if y else z", "1 + 2 * 3", "[a][0]", "\n(a,\n b)"):
        assert check_expression(source), source
    for source in ("a }} b", "a b", "", "a }}", "a, b"):
        assert FAST.parse_expression(source) is None, source
        check_expression(source)


# -- generated templates ---------------------------------------------------------------

_SPACE = st.sampled_from(["", " ", "  ", "\n", " \n  ", "\t"])
_NAMES = st.sampled_from(
    [
        "a", "b_1", "outputs", "inputs", "none", "None", "true", "False", "not", "in",
        "is", "if", "else", "and", "or", "loop", "x", "_podium_coalesce", "é",
    ]
)  # fmt: skip
_NUMBERS = st.sampled_from(
    ["0", "7", "12", "1_000", "0x1f", "0b10", "0o7", "1.5", "1e3", "2.5E-2", "00", "1_0.5"]
)
_STRINGS = st.sampled_from(
    ["'x'", '"y"', "''", "'a b'", "'\\n'", "'\\u00e9'", "'é'", "'}}'", "'{{'", "'it\\'s'"]
)
_ATOMS = st.one_of(_NAMES, _NUMBERS, _STRINGS)
_BINARY = st.sampled_from(
    ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", "<=", ">", ">=", "and", "or",
     "in", "not in", "if", "else"]
)  # fmt: skip


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def joined(parts: list[str], space: str, sep: str, open_: str, close: str) -> str:
        return open_ + space + f"{sep}{space}".join(parts) + space + close

    return st.one_of(
        st.tuples(children, _SPACE, _BINARY, _SPACE, children).map("".join),
        st.tuples(st.sampled_from(["not ", "-", "+", "- "]), children).map("".join),
        st.tuples(children, _SPACE, st.sampled_from(["|", "| "]), _NAMES).map("".join),
        st.tuples(children, st.just("|"), _NAMES, st.just("("), children, st.just(")")).map(
            "".join
        ),
        st.tuples(children, st.sampled_from([" is ", " is not "]), _NAMES).map("".join),
        st.tuples(children, st.just(" is "), _NAMES, st.just(" "), children).map("".join),
        st.tuples(children, st.sampled_from([".", ". "]), st.one_of(_NAMES, _NUMBERS)).map("".join),
        st.tuples(children, st.just("["), children, st.just("]")).map("".join),
        st.tuples(
            children, st.just("["), st.sampled_from(["", ":", "::", "1:", ":2"]), st.just("]")
        ).map("".join),
        st.builds(joined, st.lists(children, max_size=3), _SPACE, st.just(","), *_brackets()),
        st.tuples(children, st.just("("), children, st.just(", k="), children, st.just(")")).map(
            "".join
        ),
        st.tuples(st.just("{"), children, st.just(": "), children, st.just("}")).map("".join),
        st.tuples(children, st.just(" if "), children, st.just(" else "), children).map("".join),
    )


def _brackets() -> tuple[st.SearchStrategy[str], st.SearchStrategy[str]]:
    pair = st.sampled_from([("(", ")"), ("[", "]"), ("{", "}"), ("f(", ")")])
    shared = st.shared(pair, key="bracket")
    return shared.map(lambda p: p[0]), shared.map(lambda p: p[1])


_EXPRESSIONS = st.recursive(_ATOMS, _combine, max_leaves=12)
_TEXT = st.sampled_from(["", "text ", "\n", "a\nb ", "{ ", "} ", "é "])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_TEXT, _SPACE, _EXPRESSIONS, _SPACE), min_size=1, max_size=3), _TEXT)
@example([("", " ", "a.b | f(1)", " ")], "")
def test_generated_templates_parse_as_jinja_parses_them(
    tags: list[tuple[str, str, str, str]], tail: str
) -> None:
    source = "".join(f"{text}{{{{{left}{expr}{right}}}}}" for text, left, expr, right in tags)
    check_template(source + tail)
    for _, _, expression, _ in tags:
        check_expression(expression)


_TOKENS = st.sampled_from(
    ["a", "1", "'s'", "(", ")", "[", "]", "{", "}", ",", ":", ".", "|", "~", "+", "-", "*",
     "**", "=", "==", "is", "not", "in", "if", "else", "and", "or", "\n", "}}", "{{", "!"]
)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(_TOKENS, max_size=10), st.sampled_from([" ", ""]))
def test_token_soup_parses_as_jinja_parses_it(tokens: list[str], space: str) -> None:
    body = space.join(tokens)
    check_template("{{ " + body + " }}")
    check_expression(body)
