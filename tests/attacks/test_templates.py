"""Server-side template injection and runaway templates: the sandbox refuses, the budgets
bound, and the engine keeps running other executions."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import TemplateError
from engine.templating import Renderer
from tests.conftest import Harness

CONTEXT = {
    "inputs": {"name": "x", "items": [1, 2], "again": "{{ render(inputs.again) }}"},
    "execution": {"id": "e1"},
}

# Each must raise TemplateError; none may reach a Python object it was not given.
ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ inputs.__class__.__init__.__globals__ }}",
    "{{ inputs|attr('__class__') }}",
    "{{ (inputs|attr('__init__'))|attr('__globals__') }}",
    "{{ inputs['__class__'] }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ '{0.__class__.__mro__}'.format(inputs) }}",
    "{{ '%s'.format_map(inputs) }}",
    "{{ '{0.__globals__}'.format(render) }}",
    "{{ 'a'.__doc__ }}",
    "{{ execution.__dict__ }}",
    "{% for c in ''.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ config }}{{ request }}{{ url_for }}",
    "{% import 'os' as os %}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
]

RUNAWAY = [
    "{{ 'x' * 100000000 }}",
    "{{ 'x' * 999999 ~ 'x' * 999999 }}",
    "{% for i in range(100000000) %}{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "{{ 9 ** (9 ** 9) }}",
    "{{ (2 ** 100000) ** 100 }}",
    "{{ range(10**12)|list }}",
    "{{ 'a'.ljust(10**9) }}",
    "{{ render(inputs.again) }}",  # a value that renders itself
]


@pytest.mark.parametrize("template", ESCAPES)
def test_sandbox_escapes_are_refused(template: str) -> None:
    try:
        out = Renderer().render(template, CONTEXT)
    except TemplateError:
        return
    # rendering is allowed only when nothing of Python's internals came out
    for leak in ("<class", "<function", "<module", "__", "built-in", "uid=", "root:"):
        assert leak not in out, f"{template!r} rendered {out[:200]!r}"


@pytest.mark.parametrize("template", RUNAWAY)
def test_runaway_templates_are_bounded(template: str) -> None:
    started = time.process_time()
    with pytest.raises(TemplateError):
        Renderer(time_limit=1.0).render(template, CONTEXT)
    assert time.process_time() - started < 10  # CPU, not wall: the budget stopped the work


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["{{", "}}", "{%", "%}", "__class__", "__mro__", "__globals__", "|attr(", "'", ")",
             "(", "[", "]", ".", "inputs", "for x in", "endfor", "range(", "9", "*", "~",
             "format", "%s", "{0}", "render(", "??", "|", "join", "lipsum", "self"]
        ),
        max_size=20,
    ).map("".join)
)  # fmt: skip
def test_template_fuzz_raises_only_template_errors(template: str) -> None:
    try:
        out = Renderer(time_limit=0.5).render(template, CONTEXT)
    except TemplateError:
        return
    assert "<class" not in out and "<function" not in out and "<module" not in out


async def test_a_runaway_template_fails_its_execution_and_the_engine_keeps_going(
    harness: Harness,
) -> None:
    bomb = """
id: bomb
namespace: attacks
tasks:
  - id: loop
    type: io.kestra.plugin.core.log.Log
    message: "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}"
"""
    outcome = await harness.run(bomb)
    assert outcome.state == "FAILED"
    error = outcome.run("loop").error or ""
    assert "longer than 1000000 characters" in error, error
    fine = await harness.run(
        "id: fine\nnamespace: attacks\ntasks:\n"
        "  - {id: a, type: io.kestra.plugin.core.debug.Return, format: '{{ 1 + 1 }}'}\n"
    )
    assert fine.state == "SUCCESS" and fine.run("a").outputs == {"value": "2"}
