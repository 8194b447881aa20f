"""One-line templates skip Jinja's code generator (engine/templating/direct.py): each case
renders both ways, directly and compiled, and must give the same text or the same error."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from jinja2 import nodes
from jinja2.optimizer import Optimizer

import engine.templating.direct as direct_module
import engine.templating.environment as environment_module
from engine.errors import TemplateError
from engine.templating import Renderer, SecretStore
from engine.templating.direct import DirectExpression, DirectTemplate, Unsupported
from engine.templating.environment import ENVIRONMENT

CLOCK = dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.UTC)
CONTEXT: dict[str, Any] = {
    "inputs": {"name": "Will", "n": 7, "items": ["a", "b", "c"], "nothing": None, "ok": True},
    "outputs": {
        "extract": {"uri": "kestra:///x/data.json", "files": {"a.csv": "kestra:///a.csv"}},
        "items": {"keys": [1, 2]},
    },
    "execution": {"id": "4wjhd8rGdGJaqhKxLzfd2Q"},
    "taskrun": {"value": "v1"},
    "vars": {"nested": "Hello {{ inputs.name }}", "n": 3},
}

TEMPLATES = [
    "plain {{ inputs.name }}!",
    "{{ 'x' ~ 1 }}",
    "{{ 'a' ~ true ~ none ~ [1, 'b'] ~ {'k': 1} }}",
    "{{ inputs.n + 1 }} {{ inputs.n - 1 }} {{ inputs.n * 2 }} {{ inputs.n / 2 }}",
    "{{ inputs.n // 2 }} {{ inputs.n % 4 }} {{ inputs.n ** 2 }} {{ -inputs.n }} {{ +inputs.n }}",
    "{{ 1 < inputs.n < 10 }} {{ 1 < inputs.n > 10 }} {{ inputs.n == 7 }} {{ 'b' in inputs.items }}",
    "{{ 'z' not in inputs.items }} {{ inputs.n >= 7 }} {{ inputs.n <= 6 }} {{ inputs.n != 7 }}",
    "{{ inputs.ok and inputs.n }} {{ inputs.nothing or 'dflt' }} {{ not inputs.ok }}",
    "{{ 'yes' if inputs.ok else 'no' }} {{ inputs.name if inputs.nothing else 0 }}",
    "{{ inputs.items[0] }} {{ inputs.items[-1] }} {{ inputs.items[1:] }} {{ inputs.name[::2] }}",
    "{{ outputs.extract.files['a.csv'] }} {{ outputs['extract'].uri }}",
    "{{ outputs.items.keys }}",  # data first, as Pebble: not dict.keys
    "{{ inputs.items | join(',') }} {{ inputs.name | upper }} {{ inputs.items | length }}",
    "{{ inputs.name | replace('W', 'B') }} {{ inputs.items | join(d='-') }}",
    "{{ inputs.missing | default('fallback') }} {{ inputs.missing is defined }}",
    "{{ inputs.n is even }} {{ inputs.n is divisibleby(7) }} {{ inputs.name is string }}",
    "{{ [1, 2, inputs.n] }} {{ (1, inputs.name) }} {{ {'a': inputs.n, inputs.name: 2} }}",
    "{{ inputs.nothing ?? 'pebble' }} {{ inputs.ok ? 'a' : 'b' }} {{ inputs.missing ?? 'm' }}",
    "{{ now() | date('yyyy-MM-dd') }} {{ range(3) | list }}",
    "{{ render(vars.nested) }} {{ vars.n * 'ab' }}",
    "{{ inputs.name.upper() }} {{ inputs.items.index('b') }}",
    "{{ inputs.name | json }} {{ {'a': [1, none]} | toJson }}",
    "{{ fromJson('{\"a\": [1, 2]}').a[1] }} {{ inputs.items | first }}",
    "{{ taskrun.value }}-{{ execution.id | slice(0, 4) }}",
    # errors: the same message, the same variable
    "{{ inputs.missing }}",
    "{{ outputs.nope.value }}",
    "{{ outputs.extract.nope }}",
    "{{ inputs.items[10] }}",
    "{{ undefinedName }}",
    "{{ inputs.missing + 1 }}",
    "{{ inputs.name + 1 }}",
    "{{ 1 / 0 }}",
    "{{ inputs.n / 0 }}",
    "{{ ''.__class__ }}",
    "{{ inputs.name.__class__.__mro__ }}",
    "{{ 'x' * 100000000 }}",
    "{{ inputs.items | join(',', 'extra') }}",
    "{{ inputs.missing | upper }}",
    "{{ nope() }}",
    "{{ inputs.name | nofilter }}",
    "{{ inputs.name is notatest }}",
    "{{ inputs.ok if inputs.nothing }}",
    "{{ ",
    "{{ inputs.name }",
    "{{ secret('TOKEN') }} and {{ secret('TOKEN') | upper }} and {{ secret('TOKEN')[2:] }}",
    "{{ secret('MISSING') }}",
    "{{ inputs.name }}\n{{ inputs.missing }}",  # two lines: compiled, the error names line 2
    "{% if inputs.ok %}yes{% endif %}",
]

EXPRESSIONS = [
    "inputs.n + 1",
    "{{ inputs.items }}",
    "inputs.ok and inputs.n > 3",
    "inputs.missing",
    "outputs.extract.files",
    "inputs.missing is defined",
    "inputs.nothing ?? 'x'",
    "1 / 0",
    "inputs.name | upper",
    "[inputs.n, inputs.name]",
    "inputs.ok if inputs.nothing",
    "inputs.n +",
    "secret('TOKEN') ~ '!'",
]


def _renderer() -> Renderer:
    secrets = SecretStore({"SECRET_TOKEN": "aHVudGVyMjpzM2NyM3Q="})  # hunter2:s3cr3t
    return Renderer(secrets=secrets, clock=lambda: CLOCK)


def _outcome(render: Any, source: str) -> tuple[str, Any, Any]:
    try:
        return ("ok", render(source), None)
    except TemplateError as exc:
        return ("error", str(exc), exc.variable)


def _both(render: Any, sources: list[str]) -> list[tuple[tuple[str, Any, Any], ...]]:
    ENVIRONMENT.templates.cache_clear()
    ENVIRONMENT.expressions.cache_clear()
    # twice each: the second call reads the cache, as every render but the first does
    return [(_outcome(render, s), _outcome(render, s)) for s in sources]


Outcomes = list[tuple[tuple[str, Any, Any], ...]]


def _direct_and_compiled(
    monkeypatch: pytest.MonkeyPatch,
    render: Any,
    sources: list[str],
    builder: str = "build_template",
) -> tuple[Outcomes, Outcomes]:
    """`_both` of the sources rendered directly, then with the direct `builder` refused."""
    direct = _both(render, sources)
    with monkeypatch.context() as patch:
        patch.setattr(environment_module, builder, _refuse)
        compiled = _both(render, sources)
    ENVIRONMENT.templates.cache_clear()
    ENVIRONMENT.expressions.cache_clear()
    return direct, compiled


def test_templates_render_directly_as_they_do_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = _renderer()
    direct, compiled = _direct_and_compiled(
        monkeypatch, lambda s: renderer.render(s, CONTEXT), TEMPLATES
    )
    for source, got, expected in zip(TEMPLATES, direct, compiled, strict=True):
        assert got == expected, source
    assert any(kind == "error" for (kind, _, _), _ in direct)


def test_secrets_read_directly_are_masked_with_what_derives_from_them() -> None:
    renderer = _renderer()
    text = renderer.render("{{ secret('TOKEN') | upper }} {{ secret('TOKEN')[2:] }}", CONTEXT)
    assert text == "HUNTER2:S3CR3T nter2:s3cr3t"
    assert renderer.secrets is not None
    assert "hunter2" not in renderer.secrets.mask(text).lower()


def test_expressions_evaluate_directly_as_they_do_compiled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renderer = _renderer()
    direct, compiled = _direct_and_compiled(
        monkeypatch, lambda s: renderer.evaluate(s, CONTEXT), EXPRESSIONS, "build_expression"
    )
    for source, got, expected in zip(EXPRESSIONS, direct, compiled, strict=True):
        assert got == expected, source


def _refuse(*args: Any) -> Any:
    raise Unsupported("compiled on purpose")


def test_one_line_templates_are_not_compiled_and_the_rest_are() -> None:
    assert isinstance(ENVIRONMENT.templates("direct {{ inputs.name | upper }}"), DirectTemplate)
    assert isinstance(ENVIRONMENT.expressions("inputs.n + 1"), DirectExpression)
    for source in ("{% if x %}a{% endif %}", "{{ a }}\n{{ b }}", "{{ a if b }}"):
        assert not isinstance(ENVIRONMENT.templates(source), DirectTemplate)


def test_a_template_parsed_by_the_flow_checks_is_parsed_once() -> None:
    source = "handed over {{ inputs.name }} " + str(id(object()))
    ENVIRONMENT.parse_template(source)
    assert source in ENVIRONMENT._parsed
    assert isinstance(ENVIRONMENT.templates(source), DirectTemplate)
    assert source not in ENVIRONMENT._parsed  # taken by the compile, not kept twice


@pytest.mark.parametrize(
    "expression",
    [
        "outputs.extract.uri",
        "outputs['extract'].files['a.csv']",
        "inputs.items[0]",
        "inputs.name | upper | replace('W', 'B')",
        "inputs.items | join(d='-')",
    ],
)
def test_what_the_optimizer_is_skipped_for_it_would_leave_as_it_is(expression: str) -> None:
    """direct.py skips Jinja's optimizer for these shapes: it must indeed change nothing
    (constants aside, replaced by equal ones) and fold nothing."""
    tree = ENVIRONMENT._parse("{{ " + expression + " }}", None, None)
    child = tree.body[0].nodes[0]  # type: ignore[attr-defined]
    assert direct_module._cannot_fold(child)
    eval_ctx = nodes.EvalContext(ENVIRONMENT, None)
    with pytest.raises(nodes.Impossible):
        child.as_const(eval_ctx)
    twin = ENVIRONMENT._parse("{{ " + expression + " }}", None, None).body[0].nodes[0]  # type: ignore[attr-defined]
    folded = Optimizer(ENVIRONMENT).visit(twin, eval_ctx)
    assert folded == child
    assert [type(n) for n in folded.find_all(nodes.Node)] == [
        type(n) for n in child.find_all(nodes.Node)
    ]


@pytest.mark.parametrize("expression", ["'a' ~ 'b'", "x | default(1 + 1)", "[a][0]", "f(a).b"])
def test_the_optimizer_still_runs_for_anything_else(expression: str) -> None:
    tree = ENVIRONMENT._parse("{{ " + expression + " }}", None, None)
    assert not direct_module._cannot_fold(tree.body[0].nodes[0])  # type: ignore[attr-defined]


def test_a_template_that_folds_to_a_constant_renders_without_a_context() -> None:
    template = ENVIRONMENT.templates("{{ 'x' ~ 1 }} and {{ 2 - 3 }}")
    assert isinstance(template, DirectTemplate)
    assert template.constant == "x1 and -1"
    assert ENVIRONMENT.templates("{{ inputs.name }}").constant is None  # type: ignore[union-attr]
    renderer = Renderer(max_output_chars=7)
    with pytest.raises(TemplateError, match="output is longer than 7 characters"):
        renderer.render("{{ 'x' ~ 1 }} and {{ 2 - 3 }}", {})


@pytest.mark.parametrize(
    "source",
    [
        "{{ inputs.name }}",  # one expression alone: rendered in one piece
        "{{ inputs.items | join(',') }}!",
        "{{ inputs.name }}{{ inputs.missing }}",  # too long before the missing variable
        "{{ inputs.missing }}{{ inputs.name }}",
        "{{ range(2) | list }} {{ now() | date('yyyy') }}",  # calls build a Context
    ],
)
@pytest.mark.parametrize("limit", [3, 4, 100])
def test_output_limits_and_errors_come_in_the_same_order_directly_and_compiled(
    monkeypatch: pytest.MonkeyPatch, source: str, limit: int
) -> None:
    renderer = Renderer(max_output_chars=limit, clock=lambda: CLOCK)
    assert isinstance(ENVIRONMENT.templates(source), DirectTemplate)
    direct, compiled = _direct_and_compiled(
        monkeypatch, lambda s: renderer.render(s, CONTEXT), [source]
    )
    assert direct == compiled


def test_variables_hide_globals_of_the_same_name_directly_as_compiled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Direct renders resolve names over the variables, then the globals, without the
    merged dict a Context holds: a variable named like a function wins, as there."""
    context = {**CONTEXT, "range": [7, 8], "render": "shadowed", "now": None}
    sources = [
        "{{ range[1] }} {{ render }} {{ now }} {{ fromJson('[1]') }}",
        "{{ range(3) }}",  # the list is not callable
        "{{ printContext()['range'] }} {{ renderOnce(vars.nested) }}",  # the Context
    ]
    renderer = _renderer()
    direct, compiled = _direct_and_compiled(
        monkeypatch, lambda s: renderer.render(s, context), sources
    )
    assert direct == compiled
    assert direct[0][0] == ("ok", "8 shadowed  [1]", None)  # none prints as nothing
    assert direct[2][0] == ("ok", "[7,8] Hello Will", None)
