"""The Renderer API: printing, render(), undefined variables, errors, evaluate, truthiness,
and the expressions of the real Kestra flows Podium must run unchanged."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

import engine.templating
from engine.errors import TemplateError
from engine.templating import Renderer, SecretStore, is_truthy, to_text
from engine.templating.environment import ENVIRONMENT


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


@pytest.fixture
def context() -> dict[str, Any]:
    """Shaped like Kestra's context for flows 01, 03 and 04."""
    return {
        "flow": {"id": "04_postgres_taxi", "namespace": "zoomcamp"},
        "execution": {"id": "4wjhd8rGdGJaqhKxLzfd2Q"},
        "inputs": {
            "name": "Will",
            "taxi": "yellow",
            "year": "2019",
            "month": "01",
            "columns_to_keep": ["brand", "price"],
            "nothing": None,
        },
        "vars": {
            "welcome_message": "Hello, {{ inputs.name }}!",
            "file": "{{inputs.taxi}}_tripdata_{{inputs.year}}-{{inputs.month}}.csv",
            "staging_table": "public.{{inputs.taxi}}_tripdata_staging",
            "table": "public.{{inputs.taxi}}_tripdata",
            "data": "{{outputs.extract.outputFiles[inputs.taxi ~ '_tripdata_' ~ inputs.year"
            " ~ '-' ~ inputs.month ~ '.csv']}}",
        },
        "outputs": {
            "extract": {
                "uri": "kestra:///zoomcamp/extract/data.json",
                "outputFiles": {
                    "yellow_tripdata_2019-01.csv": "kestra:///zoomcamp/yellow_tripdata_2019-01.csv"
                },
            },
            "transform": {"outputFiles": {"products.json": "kestra:///zoomcamp/products.json"}},
            "generate_output": {"value": "I was generated during this workflow."},
        },
        "workingDir": "/tmp/podium/wd",
    }


def test_exported_members() -> None:
    assert sorted(engine.templating.__all__) == ["Renderer", "SecretStore", "is_truthy", "to_text"]
    for name in engine.templating.__all__:
        assert getattr(engine.templating, name).__module__.startswith("engine.templating")


# -- the real flows ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ render(vars.welcome_message) }}", "Hello, Will!"),
        ("Goodbye, {{ inputs.name }}!", "Goodbye, Will!"),
        (
            "This is an output: {{ outputs.generate_output.value }}",
            "This is an output: I was generated during this workflow.",
        ),
        ("{{outputs.extract.uri}}", "kestra:///zoomcamp/extract/data.json"),
        ("{{inputs.columns_to_keep}}", '["brand","price"]'),
        ("{{outputs.transform.outputFiles['products.json']}}", "kestra:///zoomcamp/products.json"),
        (
            "FROM read_json_auto('{{workingDir}}/products.json')\n",
            "FROM read_json_auto('/tmp/podium/wd/products.json')\n",
        ),
        (
            "{{outputs.extract.outputFiles[inputs.taxi ~ '_tripdata_' ~ inputs.year ~ '-' ~"
            " inputs.month ~ '.csv']}}",
            "kestra:///zoomcamp/yellow_tripdata_2019-01.csv",
        ),
        ("{{render(vars.file)}}", "yellow_tripdata_2019-01.csv"),
        ("{{render(vars.data)}}", "kestra:///zoomcamp/yellow_tripdata_2019-01.csv"),
        ("{{inputs.taxi == 'yellow'}}", "true"),
        ("{{inputs.taxi == 'green'}}", "false"),
        (
            "TRUNCATE TABLE {{render(vars.staging_table)}};\n",
            "TRUNCATE TABLE public.yellow_tripdata_staging;\n",
        ),
        (
            "wget -qO- https://github.com/DataTalksClub/nyc-tlc-data/releases/download/"
            "{{inputs.taxi}}/{{render(vars.file)}}.gz | gunzip > {{render(vars.file)}}",
            "wget -qO- https://github.com/DataTalksClub/nyc-tlc-data/releases/download/"
            "yellow/yellow_tripdata_2019-01.csv.gz | gunzip > yellow_tripdata_2019-01.csv",
        ),
    ],
)
def test_kestra_flow_expressions(
    renderer: Renderer, context: dict[str, Any], template: str, expected: str
) -> None:
    assert renderer.render(template, context) == expected


def test_flow_conditions_are_kestra_booleans(renderer: Renderer, context: dict[str, Any]) -> None:
    assert renderer.is_true("{{inputs.taxi == 'yellow'}}", context) is True
    assert renderer.is_true("{{inputs.taxi == 'green'}}", context) is False


def test_sql_keeps_its_layout_and_trailing_newline(
    renderer: Renderer, context: dict[str, Any]
) -> None:
    sql = "MERGE INTO {{render(vars.table)}} AS T\nUSING {{render(vars.staging_table)}} AS S\n"
    assert renderer.render(sql, context) == (
        "MERGE INTO public.yellow_tripdata AS T\nUSING public.yellow_tripdata_staging AS S\n"
    )


# -- render() and recursion ----------------------------------------------------------


def test_variables_are_not_rendered_recursively(
    renderer: Renderer, context: dict[str, Any]
) -> None:
    assert renderer.render("{{ vars.welcome_message }}", context) == "Hello, {{ inputs.name }}!"


def test_user_data_is_never_executed(renderer: Renderer, context: dict[str, Any]) -> None:
    context["inputs"]["name"] = "{{ 7 * 7 }}{% for i in range(3) %}x{% endfor %}"
    assert renderer.render("Hi {{ inputs.name }}", context) == "Hi " + context["inputs"]["name"]


def test_render_function_renders_in_the_current_context(renderer: Renderer) -> None:
    # Kestra >= 0.14: render() is recursive by default; renderOnce / recursive=false are not.
    context = {"a": "{{ b }}", "b": "{{ c }}", "c": "deep"}
    assert renderer.render("{{ render(a) }}", context) == "deep"
    assert renderer.render("{{ render(a, recursive=false) }}", context) == "{{ c }}"
    assert renderer.render("{{ renderOnce(a) }}", context) == "{{ c }}"
    assert renderer.render("{{ render(renderOnce(a)) }}", context) == "deep"
    assert renderer.render("{% set b = 'local' %}{{ render(a) }}", context) == "local"


def test_render_function_returns_non_strings_unchanged(renderer: Renderer) -> None:
    assert renderer.evaluate("render(n)", {"n": 5}) == 5
    assert renderer.evaluate("render(items)", {"items": [1, 2]}) == [1, 2]
    assert renderer.render("{{ render('plain') }}", {}) == "plain"


def test_render_function_errors_name_the_inner_template(renderer: Renderer) -> None:
    with pytest.raises(TemplateError) as caught:
        renderer.render("{{ render(t) }}", {"t": "{{ nope }}"})
    assert caught.value.template == "{{ nope }}"
    assert caught.value.variable == "nope"


# -- printing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        ("text", "text"),
        (42, "42"),
        (1.5, "1.5"),
        (["brand", "price"], '["brand","price"]'),
        ({"a": 1, "b": [True, None]}, '{"a":1,"b":[true,null]}'),
        ({1: "x", 2.5: "y"}, '{"1":"x","2.5":"y"}'),
        ((1, 2), "[1,2]"),
        (
            {"when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)},
            '{"when":"2024-01-02T03:04:05.000Z"}',
        ),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2024-01-02T03:04:05.000Z"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        ({"big": 2**70}, '{"big":1180591620717411303424}'),
    ],
)
def test_to_text(value: Any, text: str) -> None:
    assert to_text(value) == text


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ none }}", ""),
        ("{{ null }}", ""),
        ("{{ true }}", "true"),
        ("{{ 1 == 1 }}", "true"),
        ("{{ x }}", "false"),
        ("{{ [true, null, 'a'] }}", '[true,null,"a"]'),
        ("{{ {'k': x} }}", '{"k":false}'),
        ("{{ 'flag=' ~ true ~ ',' ~ x ~ ',' ~ none }}", "flag=true,false,"),
        ("{{ 'items: ' ~ [1, 2] }}", "items: [1,2]"),
        ("{{ x ~ '' }}", "false"),
    ],
)
def test_printing_in_templates(renderer: Renderer, template: str, expected: str) -> None:
    assert renderer.render(template, {"x": False}) == expected


def test_autoescape_is_off(renderer: Renderer) -> None:
    assert renderer.render("{{ s }}", {"s": "<b>&'\"</b>"}) == "<b>&'\"</b>"


# -- undefined variables -------------------------------------------------------------


def test_missing_top_level_variable(renderer: Renderer) -> None:
    with pytest.raises(TemplateError) as caught:
        renderer.render("Hello {{ nme }}", {"name": "x"})
    assert "'nme' is undefined" in str(caught.value)
    assert caught.value.variable == "nme"
    assert caught.value.template == "Hello {{ nme }}"


def test_missing_input_names_the_path(renderer: Renderer, context: dict[str, Any]) -> None:
    with pytest.raises(TemplateError) as caught:
        renderer.render("{{ inputs.nme }}", context)
    assert "'inputs.nme' is undefined" in str(caught.value)
    assert "'inputs' has no attribute 'nme'" in str(caught.value)
    assert caught.value.variable == "inputs.nme"


def test_undefined_chains_report_the_first_missing_link(
    renderer: Renderer, context: dict[str, Any]
) -> None:
    with pytest.raises(TemplateError) as caught:
        renderer.render("{{ outputs.missing.value }}", context)
    assert "'outputs' has no attribute 'missing'" in str(caught.value)
    assert caught.value.variable == "outputs.missing"


def test_missing_key_names_the_key(renderer: Renderer, context: dict[str, Any]) -> None:
    with pytest.raises(TemplateError) as caught:
        renderer.render("{{ outputs.extract.outputFiles[inputs.taxi ~ '.csv'] }}", context)
    assert "'outputs.extract.outputFiles' has no key 'yellow.csv'" in str(caught.value)
    assert caught.value.variable == "outputs.extract.outputFiles['yellow.csv']"
    with pytest.raises(TemplateError, match="has no item 5"):
        renderer.render("{{ inputs.columns_to_keep[5] }}", context)


def test_accessing_an_undefined_chain_is_not_an_error(
    renderer: Renderer, context: dict[str, Any]
) -> None:
    assert renderer.render("{% set v = outputs.missing.value.deeper %}ok", context) == "ok"


@pytest.mark.parametrize(
    "template",
    [
        "{{ outputs.missing.value }}",
        "{{ outputs.missing.value == 'a' }}",
        "{{ outputs.missing.value != 'a' }}",
        "{{ outputs.missing.value < 3 }}",
        "{% for x in outputs.missing.items %}{% endfor %}",
        "{{ outputs.missing.value() }}",
        "{{ outputs.missing.value + 1 }}",
        "{{ 1 + outputs.missing.value }}",
        "{{ outputs.missing.value ~ 'x' }}",
        "{{ 'x' in outputs.missing.value }}",
        "{{ outputs.missing.value | length }}",
        "{{ outputs.missing.value | upper }}",
        "{% if outputs.missing.value %}{% endif %}",
        "{{ [outputs.missing.value] }}",
    ],
)
def test_using_an_undefined_value_raises(
    renderer: Renderer, context: dict[str, Any], template: str
) -> None:
    with pytest.raises(TemplateError, match="'outputs' has no attribute 'missing'") as caught:
        renderer.render(template, context)
    assert caught.value.variable == "outputs.missing"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ outputs.missing.value is defined }}", "false"),
        ("{{ outputs.missing.value is not defined }}", "true"),
        ("{{ inputs.name is defined }}", "true"),
        ("{{ outputs.missing.value ?? 'd' }}", "d"),
        ("{{ outputs.missing.value ?? inputs.nothing ?? 'last' }}", "last"),
        ("{{ inputs.nothing ?? 'd' }}", "d"),
        ("{{ inputs.name ?? 'd' }}", "Will"),
        ("{{ outputs.missing.value | default('dflt') }}", "dflt"),
        ("{{ inputs.nothing ??? 'only-undefined' }}", ""),
        ("{{ outputs.missing ??? 'only-undefined' }}", "only-undefined"),
    ],
)
def test_undefined_tests_and_coalescing(
    renderer: Renderer, context: dict[str, Any], template: str, expected: str
) -> None:
    assert renderer.render(template, context) == expected


def test_dict_keys_win_over_dict_methods(renderer: Renderer) -> None:
    context = {"outputs": {"t": {"items": [1, 2], "keys": "k", "values": "v"}}}
    assert renderer.render("{{ outputs.t.items }}|{{ outputs.t.keys }}", context) == "[1,2]|k"
    assert (
        renderer.render("{% for k, v in outputs.t.items() %}{% endfor %}", {"outputs": {"t": {}}})
        == ""
    )


# -- error translation ---------------------------------------------------------------


def test_syntax_errors_name_template_and_line(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="syntax error at line 3") as caught:
        renderer.render("a\nb\n{{ x + }}", {})
    assert caught.value.template == "a\nb\n{{ x + }}"


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ 'a' - 1 }}", "TypeError"),
        ("{{ '%d' % 'x' }}", "TypeError"),
        ("{{ 'abc' | number }}", "not a number"),
        ("{% for %}", "syntax error"),
        ("{{ x ? 1 }}", "without a matching ':'"),
    ],
)
def test_runtime_errors_become_template_errors(
    renderer: Renderer, template: str, error: str
) -> None:
    with pytest.raises(TemplateError, match=error) as caught:
        renderer.render(template, {"x": 1})
    assert caught.value.template == template


def test_runtime_errors_give_the_line_of_multiline_templates(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="at line 3"):
        renderer.render("one\ntwo\n{{ 1 / 0 }}\nfour", {})


# -- evaluate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("{{ inputs.columns_to_keep }}", ["brand", "price"]),
        ("inputs.columns_to_keep", ["brand", "price"]),
        ("{{ 1 + 2 }}", 3),
        ("  {{- inputs.taxi == 'yellow' -}}  ", True),
        ("inputs.nothing", None),
        ("inputs.nothing ?? 5", 5),
        ("inputs.taxi == 'yellow' ? {'a': 1} : null", {"a": 1}),
        ("outputs.missing is defined", False),
        ("'a,b'.split(',')", ["a", "b"]),
        ("{{ '}}' }}", "}}"),
    ],
)
def test_evaluate_returns_native_values(
    renderer: Renderer, context: dict[str, Any], expression: str, expected: Any
) -> None:
    assert renderer.evaluate(expression, context) == expected


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("{{ a }} {{ b }}", "expected one expression"),
        ("x {{ a }}", "expected one expression"),
        ("{% if a %}", "expected one expression"),
        ("a b", "unexpected text after the expression"),
        ("outputs.missing.value", "'outputs' has no attribute 'missing'"),
        ("1 +", "syntax error"),
    ],
)
def test_evaluate_errors(
    renderer: Renderer, context: dict[str, Any], expression: str, error: str
) -> None:
    with pytest.raises(TemplateError, match=error) as caught:
        renderer.evaluate(expression, context)
    assert caught.value.template == expression


# -- render_value, truthiness --------------------------------------------------------


def test_render_value_walks_containers(renderer: Renderer, context: dict[str, Any]) -> None:
    value = {
        "{{ inputs.taxi }}_key": ["{{ inputs.year }}", 7, None, ("{{ inputs.month }}", True)],
        "plain": {"nested": "{{ inputs.name }}"},
        "n": 1.5,
    }
    assert renderer.render_value(value, context) == {
        "yellow_key": ["2019", 7, None, ("01", True)],
        "plain": {"nested": "Will"},
        "n": 1.5,
    }
    marker = object()
    assert renderer.render_value(marker, context) is marker


@pytest.mark.parametrize(
    ("text", "truthy"),
    [
        ("false", False),
        ("FALSE", False),
        ("  False \n", False),
        ("0", False),
        ("-0", False),
        ("", False),
        ("   ", False),
        ("true", True),
        ("1", True),
        ("no", True),
        ("null", True),
        ("0.0", True),
        ("[]", True),
    ],
)
def test_is_truthy(text: str, truthy: bool) -> None:
    assert is_truthy(text) is truthy


def test_is_true_renders_first(renderer: Renderer) -> None:
    assert renderer.is_true("{{ n > 3 }}", {"n": 5}) is True
    assert renderer.is_true("{{ n }}", {"n": 0}) is False
    assert renderer.is_true("{{ items | length }}", {"items": []}) is False
    assert renderer.is_true(" {{ s }} ", {"s": "False"}) is False


# -- speed and caching ---------------------------------------------------------------


def test_text_without_tags_skips_jinja(renderer: Renderer) -> None:
    text = "plain text with } and { and {# not a comment #}"
    assert renderer.render(text, {}) is text


def test_compiled_templates_are_cached() -> None:
    template = "cache probe {{ n }} " + str(time.monotonic_ns())
    renderer = Renderer()
    before = ENVIRONMENT.templates.cache_info()
    for n in range(5):
        assert renderer.render(template, {"n": n}).startswith(f"cache probe {n} ")
    after = ENVIRONMENT.templates.cache_info()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 4
    assert after.maxsize == 4096


def test_renderers_share_the_compiled_cache_but_not_their_settings() -> None:
    small, large = Renderer(max_output_chars=5), Renderer()
    with pytest.raises(TemplateError, match="longer than 5"):
        small.render("{{ s }}", {"s": "abcdef"})
    assert large.render("{{ s }}", {"s": "abcdef"}) == "abcdef"


def test_reprs_do_not_leak_secrets() -> None:
    store = SecretStore({"SECRET_PW": "aHVudGVyMg=="})
    store.get("PW")
    renderer = Renderer(secrets=store, time_limit=1.0)
    assert "hunter2" not in repr(renderer) + repr(store)
    assert "time_limit=1.0" in repr(renderer)
    assert "1 revealed" in repr(store)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Renderer(time_limit=0)
