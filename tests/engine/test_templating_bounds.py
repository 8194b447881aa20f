"""The sandbox and the budgets: no template may escape, hang the worker or exhaust memory."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine.errors import TemplateError
from engine.templating import Renderer


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


SSTI_PAYLOADS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ (1).__class__.__base__ }}",
    "{{ x.__class__ }}",
    "{{ x['__class__'] }}",
    "{{ x.__dict__ }}",
    "{{ x.__init__ }}",
    "{{ x | attr('__class__') }}",
    "{{ '' | attr('__class__') | attr('__mro__') }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '{0.__class__.__mro__}'.format(1) }}",
    "{{ '{x.__class__}'.format_map({'x': 1}) }}",
    "{{ ''.format.__globals__ }}",
    "{{ '%s'.__mod__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ dict.__base__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ render.__globals__ }}",
    "{{ now.__globals__['__builtins__'] }}",
    "{{ secret.__code__ }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% set f = ''.__class__ %}{{ f }}",
    "{{ [].pop.__self__ }}",
    "{{ [1].append(2) }}",
    "{{ {}.update({'a': 1}) }}",
    "{{ {}.setdefault('a', 1) }}",
    "{{ x.__class__ ?? 'fallback' }}",
    "{{ render(\"{{ ''.__class__ }}\") }}",
]


@pytest.mark.parametrize("payload", SSTI_PAYLOADS)
def test_ssti_payloads_are_blocked(renderer: Renderer, payload: str) -> None:
    with pytest.raises(TemplateError) as caught:
        renderer.render(payload, {"x": 1})
    message = str(caught.value)
    assert "<class" not in message
    assert "built-in" not in message


def test_sandbox_errors_say_so(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="blocked by the template sandbox"):
        renderer.render("{{ ''.__class__ }}", {})


def test_nested_loop_bomb_fails_fast(renderer: Renderer) -> None:
    template = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    started = time.perf_counter()
    with pytest.raises(TemplateError, match="more than 1000000 loop iterations"):
        renderer.render(template, {})
    assert time.perf_counter() - started < 1.0


def test_nested_loop_bomb_with_output_fails_fast(renderer: Renderer) -> None:
    template = (
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}"
    )
    started = time.perf_counter()
    with pytest.raises(TemplateError):
        renderer.render(template, {})
    assert time.perf_counter() - started < 1.0


def test_loop_cap_is_exact_and_per_render() -> None:
    renderer = Renderer(max_loop_iterations=10)
    assert renderer.render("{% for i in range(10) %}{{ i }}{% endfor %}", {}) == "0123456789"
    assert renderer.render("{% for i in range(10) %}.{% endfor %}", {}) == "." * 10  # fresh budget
    with pytest.raises(TemplateError, match="more than 10 loop iterations"):
        renderer.render("{% for i in range(11) %}{% endfor %}", {})
    with pytest.raises(TemplateError, match="more than 10 loop iterations"):
        renderer.render(
            "{% for i in range(4) %}{% for j in range(3) %}{% endfor %}{% endfor %}", {}
        )


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in items if i %}{% endfor %}",
        "{% for i in items %}{{ loop.length }}{% endfor %}",
        "{% for i in [items] recursive %}{% if i is iterable %}{{ loop(i) }}{% endif %}{% endfor %}",
        "{% macro m() %}{% for i in items %}{% endfor %}{% endmacro %}{{ m() }}",
        "{% set s %}{% for i in items %}{% endfor %}{% endset %}",
    ],
)
def test_every_kind_of_loop_is_counted(template: str) -> None:
    with pytest.raises(TemplateError, match="loop iterations"):
        Renderer(max_loop_iterations=50).render(template, {"items": list(range(100))})


def test_recursive_loop_bomb_is_stopped(renderer: Renderer) -> None:
    template = "{% for x in [1] recursive %}{{ loop(range(1000)) }}{% endfor %}"
    started = time.perf_counter()
    with pytest.raises(TemplateError):
        renderer.render(template, {})
    assert time.perf_counter() - started < 2.5


def test_time_limit_stops_long_loops() -> None:
    renderer = Renderer(time_limit=0.05, max_loop_iterations=10**12)
    template = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    started = time.perf_counter()
    with pytest.raises(TemplateError, match="took longer than 0.05s"):
        renderer.render(template, {})
    assert time.perf_counter() - started < 0.5


def test_time_limit_stops_exponential_macros() -> None:
    renderer = Renderer(time_limit=0.05)
    template = (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    )
    started = time.perf_counter()
    with pytest.raises(TemplateError, match="took longer"):
        renderer.render(template, {})
    assert time.perf_counter() - started < 0.5


def test_infinite_recursion_is_a_template_error(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="nested too deeply"):
        renderer.render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {})


def test_render_nesting_is_bounded(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="nested more than 16 levels"):
        renderer.render("{{ render(vars.a) }}", {"vars": {"a": "{{ render(vars.a) }}"}})


def test_output_limit_is_exact() -> None:
    renderer = Renderer(max_output_chars=100)
    assert renderer.render("{{ 'x' * 100 }}", {}) == "x" * 100
    assert len(renderer.render("{% for i in range(100) %}x{% endfor %}", {})) == 100
    with pytest.raises(TemplateError, match="output is longer than 100 characters"):
        renderer.render("{% for i in range(101) %}x{% endfor %}", {})
    with pytest.raises(TemplateError, match="over the limit of 100"):
        renderer.render("{{ 'x' * 101 }}", {})


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 10**9 }}",
        "{{ 10**9 * 'x' }}",
        "{{ [1] * 10**9 }}",
        "{{ 2 ** 10000000 }}",
        "{{ (2 ** 60000) * (2 ** 60000) }}",
        "{{ '%999999999d' % 1 }}",
        "{{ '%*d' % (10**9, 1) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '{0:{1}}'.format(1, 10**9) }}",
        "{{ 'x'.ljust(10**9) }}",
        "{{ 'x'.zfill(10**9) }}",
        "{{ 'a\tb'.expandtabs(10**9) }}",
        "{{ 'ab'.replace('', 'x' * 999999) }}",
        "{{ ('x' * 999999).join(range(100)|map('string')) }}",
        "{{ 'x' | center(10**9) }}",
        "{{ range(100) | join('x' * 999999) }}",
        "{{ 'ab' | replace('', 'x' * 999999) }}",
        "{{ 'x\nx' | indent(10**9) }}",
        "{{ 'xx' | wordwrap(1, wrapstring='y' * 999999) }}",
        "{{ '%999999999s' | format('x') }}",
        "{{ [1] | batch(10**9, 0) }}",
        "{{ [1] | slice(10**9) }}",
        "{{ ([['x'] * 999999] * 3) | sum(start=[]) }}",
        "{{ ('x' * 999999) ~ ('x' * 999999) }}",
        "{{ ('x' * 999999) + ('x' * 999999) }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set s %}{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}",
        "{% macro m() %}{{ 'y' * 900000 }}{% endmacro %}{% for i in range(10) %}{{ m() | length }}{% endfor %}",
    ],
)
def test_huge_values_are_refused_before_they_are_built(renderer: Renderer, template: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError, match="over the limit|longer than|bits|buffered more"):
        renderer.render(template, {})
    assert time.perf_counter() - started < 1.0


def test_evaluate_is_bounded_too() -> None:
    with pytest.raises(TemplateError, match="over the limit"):
        Renderer().evaluate("'x' * 10**9", {})
    expression = "range(100000) | map('string') | list | length + (now() | timestamp)"
    with pytest.raises(TemplateError, match="took longer"):
        Renderer(time_limit=1e-9).evaluate(expression, {})


def test_ordinary_sizes_still_work(renderer: Renderer) -> None:
    assert len(renderer.render("{{ 'ab' * 1000 }}", {})) == 2000
    assert renderer.render("{{ 2 ** 64 }}", {}) == str(2**64)
    assert renderer.render("{{ '%05d' % 42 }}", {}) == "00042"
    assert renderer.render("{{ '{:>5}'.format('x') }}", {}) == "    x"
    assert renderer.render("{{ 'a-b'.replace('-', '+') }}", {}) == "a+b"
    assert renderer.render("{{ ', '.join(['a', 'b']) }}", {}) == "a, b"
    assert renderer.render("{{ [1, 2] + [3] }}", {}) == "[1,2,3]"


def test_range_is_capped_by_the_sandbox(renderer: Renderer) -> None:
    assert renderer.render("{{ range(100000) | length }}", {}) == "100000"
    with pytest.raises(TemplateError, match="OverflowError"):
        renderer.render("{{ range(10**6) | length }}", {})


def test_budgets_are_isolated_between_threads() -> None:
    small, large = Renderer(max_loop_iterations=5), Renderer()
    template = "{% for i in range(n) %}.{% endfor %}"

    def run(renderer: Renderer, n: int) -> str:
        try:
            return renderer.render(template, {"n": n})
        except TemplateError as exc:
            return f"error: {exc}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(run, small if i % 2 else large, 1000) for i in range(40)]
        results = [future.result() for future in futures]
    assert results[0::2] == ["." * 1000] * 20
    assert all("more than 5 loop iterations" in result for result in results[1::2])


async def test_rendering_from_a_worker_thread_of_the_event_loop() -> None:
    renderer = Renderer()
    result = await asyncio.to_thread(renderer.render, "{{ a ?? 'b' }}", {})
    assert result == "b"
