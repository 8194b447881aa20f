"""Pebble syntax rewritten to Jinja: only inside tags, never inside strings, lines kept."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import TemplateError
from engine.templating import Renderer
from engine.templating.pebble import rewrite_expression, rewrite_template, split_expression


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


CONTEXT: dict[str, Any] = {
    "a": None,
    "b": "B",
    "n": 3,
    "yes": True,
    "no": False,
    "items": ["x", "y"],
    "m": {"k": "v", "nil": None},
}


@pytest.mark.parametrize(
    "template",
    [
        "no tags at all ?? : ? null",
        "{{ 'a ?? b : c ? d' }}",
        '{{ "null equals contains .." }}',
        "{# a ?? b #}",
        "{% raw %}{{ a ?? b }} {{ c ? d : e }}{% endraw %}",
        "{{ x ~ 'Loading...' }}",
        "{{ {'a': {'b': 1}} }}",
        "{{ m['k'] }} ?? {{ m.k }}",
    ],
)
def test_text_outside_tags_and_strings_is_untouched(template: str) -> None:
    assert rewrite_template(template) == template


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ a ?? 'd' }}", "d"),
        ("{{ b ?? 'd' }}", "B"),
        ("{{ missing ?? a ?? 'last' }}", "last"),
        ("{{ missing.deep.chain ?? 'd' }}", "d"),
        ("{{ m.nil ?? m.k }}", "v"),
        ("{{ m['nil'] ?? 'x?y:z' }}", "x?y:z"),
        ("{{ a ?? '??' }}", "??"),
        ("{{ a ?? 'd' | upper }}", "D"),
        ("{{ missing | default('f') ?? 'd' }}", "f"),
        ("{{ a ?? -1 }}", "-1"),
        ("{{ items[missing ?? 1] }}", "y"),
        ("{{ f ?? 'no function' }}", "no function"),
        ("{% if missing ?? false %}yes{% else %}no{% endif %}", "no"),
        ("{% for i in missing ?? items %}{{ i }}{% endfor %}", "xy"),
        ("{% set v = missing ?? 'set' %}{{ v }}", "set"),
        ("{{ a\n  ??\n  'multi-line' }}", "multi-line"),
        ("{{- a ?? 'trim' -}}", "trim"),
    ],
)
def test_null_coalescing(renderer: Renderer, template: str, expected: str) -> None:
    assert renderer.render(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ yes ? 'Y' : 'N' }}", "Y"),
        ("{{ no ? 'Y' : 'N' }}", "N"),
        ("{{ n > 2 ? 'big' : 'small' }}", "big"),
        ("{{ b == 'B' ? 'is?B' : 'not:B' }}", "is?B"),
        ("{{ no ? 'a:b' : 'c?d' }}", "c?d"),
        ("{{ yes ? no ? 1 : 2 : 3 }}", "2"),
        ("{{ no ? 1 : yes ? 2 : 3 }}", "2"),
        ("{{ no ? 1 : no ? 2 : 3 }}", "3"),
        ("{{ (a ?? no) ? 'y' : 'n' }}", "n"),
        ("{{ yes ? a ?? 'd' : 'e' }}", "d"),
        ("{{ [yes ? 1 : 2, no ? 3 : 4] }}", "[1,4]"),
        ("{{ {'k': yes ? 'v' : 'w'} }}", '{"k":"v"}'),
        ("{{ items[yes ? 1 : 0] }}", "y"),
        ("{{ 'x' ~ (yes ? 'y' : 'z') }}", "xy"),
        ("{{ (yes ? 'a' : 'b') | upper }}", "A"),
        ("{{ 'n=' ~ n ~ '?' }}", "n=3?"),
        ("{% set v = n == 3 ? 'three' : 'other' %}{{ v }}", "three"),
        ("{% if yes ? no : yes %}a{% else %}b{% endif %}", "b"),
        ("{{ yes\n ? 'multi'\n : 'line' }}", "multi"),
        ("{{ 'x' if no else (yes ? 'jinja+pebble' : 'no') }}", "jinja+pebble"),
    ],
)
def test_ternary(renderer: Renderer, template: str, expected: str) -> None:
    assert renderer.render(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ null }}", ""),
        ("{{ a is null }}", "true"),
        ("{{ b is not null }}", "true"),
        ("{{ a == null }}", "true"),
        ("{{ [null] }}", "[null]"),
        ("{{ b equals 'B' }}", "true"),
        ("{{ n equals 4 }}", "false"),
        ("{{ items contains 'x' }}", "true"),
        ("{{ items contains 'z' }}", "false"),
        ("{{ 'abc' contains 'b' }}", "true"),
        ("{{ m contains 'k' }}", "true"),
        ("{% if items contains 'y' %}has y{% endif %}", "has y"),
        ("{{ 'a' ~ 'b' ~ n }}", "ab3"),
        ("{% for i in 1..3 %}{{ i }}{% endfor %}", "123"),
        ("{% for i in 0..n %}{{ i }}{% endfor %}", "0123"),
        ("{{ '2024-01-15T10:00:00Z' | date('yyyy-MM', timeZone='UTC') }}", "2024-01"),
        ("{{ m.null ?? 'attribute named null' }}", "attribute named null"),
    ],
)
def test_other_pebble_syntax(renderer: Renderer, template: str, expected: str) -> None:
    assert renderer.render(template, CONTEXT) == expected


def test_contains_and_equals_remain_usable_as_names(renderer: Renderer) -> None:
    context = {"contains": "C", "equals": "E", "null": "ignored"}
    assert renderer.render("{{ contains }}{{ equals }}", context) == "CE"


@pytest.mark.parametrize(
    "template",
    [
        "{{ a\n ?? \nb }}\n{{ c }}",
        "{{ x\n?\n1\n:\n2 }}",
        "{% if a ?? b %}\n{% endif %}",
        "{{ 1..\n3 }}",
    ],
)
def test_rewrites_keep_every_newline(template: str) -> None:
    assert rewrite_template(template).count("\n") == template.count("\n")


def test_errors_after_a_rewrite_point_at_the_users_line(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="at line 3"):
        renderer.render("{{ a ?? 'x' }}\n{{ yes ? 1 : 2 }}\n{{ 1 / 0 }}", CONTEXT)


def test_rewrite_output_is_plain_jinja() -> None:
    assert rewrite_template("{{ a ?? b }}") == "{{ _podium_coalesce(a , b) }}"
    assert rewrite_template("{{ c ? 'x' : 'y' }}") == "{{(( 'x' ) if ( c ) else ( 'y' ))}}"
    assert rewrite_template("{{ x is null }}") == "{{ x is none }}"
    assert rewrite_template("{{ a contains b }}") == "{{ (( b) in (a )) }}"
    assert rewrite_template("{{ a equals b }}") == "{{ a == b }}"
    assert rewrite_expression("a ?? b") == "_podium_coalesce(a , b)"


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ ?? b }}", "needs an operand"),
        ("{{ a ? b }}", "matching ':'"),
    ],
)
def test_malformed_pebble_is_a_template_error(
    renderer: Renderer, template: str, error: str
) -> None:
    with pytest.raises(TemplateError, match=error) as caught:
        renderer.render(template, CONTEXT)
    assert caught.value.template == template


def test_unterminated_tags_are_left_for_jinja(renderer: Renderer) -> None:
    assert rewrite_template("{{ a ?? b") == "{{ a ?? b"
    with pytest.raises(TemplateError, match="syntax error"):
        renderer.render("{{ a ?? b", CONTEXT)


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("{{ a.b }}", "a.b"),
        ("  {{a}}  ", "a"),
        ("{{- a ?? b -}}", "a ?? b"),
        ("{{ {'a': 1} }}", "{'a': 1}"),
        ("a.b == 'c'", "a.b == 'c'"),
    ],
)
def test_split_expression(text: str, expression: str) -> None:
    assert split_expression(text) == expression


def test_tags_after_the_last_pebble_operator_are_copied_as_they_are() -> None:
    source = "{{ a ?? b }} {{ '}} ?' ~ c }} {{ {'k': (d)} }} {# ?? #}{{ e"
    assert rewrite_template(source) == (
        "{{ _podium_coalesce(a , b) }} {{ '}} ?' ~ c }} {{ {'k': (d)} }} {# ?? #}{{ e"
    )
    assert rewrite_template("{{ x }} {{ y ? 1 : 2 }} {{ z }}") == (
        "{{ x }} {{(( 1 ) if ( y ) else ( 2 ))}} {{ z }}"
    )
