"""Functions, filters and tests templates can use, and secrets."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from engine.errors import TemplateError
from engine.templating import Renderer, SecretStore


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


CONTEXT: dict[str, Any] = {
    "text": "Hello, World!",
    "items": ["b", "a", "b"],
    "m": {"x": 1, "y": [2, 3]},
    "json": '{"a": [1, 2], "b": null}',
    "nothing": None,
    "empty_list": [],
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # JSON
        ("{{ fromJson(json).a[1] }}", "2"),
        ("{{ (json | fromJson).b is null }}", "true"),
        ("{{ jsonDecode('[1, 2]') | length }}", "2"),
        ("{{ fromJson(m).x }}", "1"),
        ("{{ m | json }}", '{"x":1,"y":[2,3]}'),
        ("{{ m | toJson }}", '{"x":1,"y":[2,3]}'),
        ("{{ 'a\"b' | toJson }}", '"a\\"b"'),
        ("{{ nothing | toJson }}", "null"),
        ("{{ true | toJson }}", "true"),
        # strings
        ("{{ 'Héllo, Wörld! 2024' | slugify }}", "hello-world-2024"),
        ("{{ '  --Already-Slug--  ' | slugify }}", "already-slug"),
        ("{{ '42' | number + 1 }}", "43"),
        ("{{ ' -1.5 ' | number }}", "-1.5"),
        ("{{ '1e3' | number }}", "1000.0"),
        ("{{ '7.9' | number('INT') }}", "7"),
        ("{{ '7' | number(type='DOUBLE') }}", "7.0"),
        ("{{ text | startsWith('Hello') }}", "true"),
        ("{{ text | endsWith('Hello') }}", "false"),
        ("{% if text | endsWith('!') %}bang{% endif %}", "bang"),
        ("{{ 'a.b.c' | substringBefore('.') }}", "a"),
        ("{{ 'a.b.c' | substringAfter('.') }}", "b.c"),
        ("{{ 'a.b.c' | substringBeforeLast('.') }}", "a.b"),
        ("{{ 'a.b.c' | substringAfterLast('.') }}", "c"),
        ("{{ 'abc' | substringBefore('x') }}", "abc"),
        ("{{ 'abc' | substringAfter('x') }}", ""),
        ("{{ 'a,b,,c' | split(',') }}", '["a","b","","c"]'),
        ("{{ 'a,b,c' | split(',', 2) }}", '["a","b,c"]'),
        ("{{ 'a b  c' | split }}", '["a","b","c"]'),
        ("{{ 'a,b'.split(',') }}", '["a","b"]'),
        ("{{ text | upper }}|{{ text | lower }}", "HELLO, WORLD!|hello, world!"),
        ("{{ '  x  ' | trim }}", "x"),
        ("{{ text | replace('World', 'Kestra') }}", "Hello, Kestra!"),
        ("{{ text | length }}", "13"),
        ("{{ 'line1\nline2' | indent(2) }}", "line1\n  line2"),
        ("{{ 'a: 1\nb: 2' | nindent(2) }}", "\n  a: 1\n  b: 2"),
        # collections
        ("{{ m | keys }}", '["x","y"]'),
        ("{{ m | values }}", "[1,[2,3]]"),
        ("{{ items | keys }}", "[0,1,2]"),
        ("{{ items | first }}{{ items | last }}", "bb"),
        ("{{ items | join('-') }}", "b-a-b"),
        ("{{ [1, none, true] | join(',') }}", "1,,true"),
        ("{{ items | distinct }}", '["b","a"]'),
        ("{{ [[1, 2], [3], 4] | flatten }}", "[1,2,3,4]"),
        ("{{ [1, 2, 3, 4, 5] | chunk(2) }}", "[[1,2],[3,4],[5]]"),
        ("{{ [1, 2, 3] | batch(2, 0) }}", "[[1,2],[3,0]]"),
        ("{{ [1, 2, 3] | slice(2) }}", "[[1,2],[3]]"),
        ("{{ [[1], [2]] | sum(start=[]) }}", "[1,2]"),
        ("{{ [1, 2, 3] | sum }}", "6"),
        ("{{ m | tojson }}", '{"x": 1, "y": [2, 3]}'),
        ("{{ (0 - 3) | abs }}", "3"),
        ("{{ missing | default('dflt') }}", "dflt"),
        ("{{ m | yaml }}", "x: 1\ny:\n- 2\n- 3\n"),
        ("{{ yaml('a: [1, 2]').a[1] }}", "2"),
        ("{{ '%s-%03d' | format('x', 7) }}", "x-007"),
        ("{{ 'ab' | center(6) }}", "  ab  "),
        # encodings and hashes
        ("{{ 'hello' | b64encode }}", "aGVsbG8="),
        ("{{ 'hello' | base64encode | base64decode }}", "hello"),
        ("{{ 'aGVsbG8=' | b64decode }}", "hello"),
        ("{{ 'hello' | md5 }}", "5d41402abc4b2a76b9719d911017c592"),
        ("{{ 'hello' | sha1 }}", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
        (
            "{{ 'hello' | sha256 }}",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ),
        # tests
        ("{{ nothing is null }}{{ text is null }}", "truefalse"),
        ("{{ empty_list is empty }}{{ '' is empty }}{{ nothing is empty }}", "truetruetrue"),
        ("{{ items is empty }}{{ 0 is empty }}", "falsefalse"),
    ],
)
def test_functions_and_filters(renderer: Renderer, template: str, expected: str) -> None:
    assert renderer.render(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ fromJson('{nope') }}", "invalid JSON"),
        ("{{ 'abc' | number }}", "not a number"),
        ("{{ 'abc' | values }}", "expected a map"),
        ("{{ 5 | keys }}", "expected a map or a list"),
        ("{{ '!!!' | b64decode }}", "not valid base64"),
        ("{{ [1] | chunk(0) }}", "positive integer"),
        ("{{ yaml('a: [') }}", "invalid YAML"),
        ("{{ m | tojson(indent=100) }}", "indent must be between"),
        ("{{ missing is empty }}", "'missing' is undefined"),
    ],
)
def test_function_errors(renderer: Renderer, template: str, error: str) -> None:
    with pytest.raises(TemplateError, match=error):
        renderer.render(template, CONTEXT)


def test_lipsum_is_not_available(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="'lipsum' is undefined"):
        renderer.render("{{ lipsum(5) }}", {})


# -- secrets -------------------------------------------------------------------------


def test_secret_is_read_from_base64_env() -> None:
    store = SecretStore({"SECRET_DB_PASSWORD": b64("s3cr3t!"), "PATH": "/bin"})
    renderer = Renderer(secrets=store)
    assert renderer.render("pw={{ secret('DB_PASSWORD') }}", {}) == "pw=s3cr3t!"
    assert store.revealed == frozenset({"s3cr3t!"})


def test_secret_values_may_be_wrapped_base64() -> None:
    value = "x" * 100
    encoded = base64.encodebytes(value.encode()).decode()  # 76-column lines
    assert "\n" in encoded.strip()
    assert SecretStore({"SECRET_LONG": encoded}).get("LONG") == value


def test_mask_replaces_every_secret_read_or_not() -> None:
    store = SecretStore({"SECRET_A": b64("hunter22"), "SECRET_B": b64("unused-value")})
    # none read yet (a script printed it some other way, right after a restart): masked
    assert store.mask("hunter22 unused-value") == "****** ******"
    assert store.mask(f"SECRET_B={b64('unused-value')}") == "SECRET_B=******"
    store.get("A")
    assert store.mask("login with hunter22, again hunter22") == "login with ******, again ******"


def test_mask_handles_overlapping_and_escaped_secrets() -> None:
    store = SecretStore(
        {"SECRET_SHORT": b64("abc"), "SECRET_LONG": b64("abcdef"), "SECRET_Q": b64('pa"ss\nwd')}
    )
    for name in ("SHORT", "LONG", "Q"):
        store.get(name)
    assert store.mask("abcdef abc") == "****** ******"
    assert store.mask('{"pw": "pa\\"ss\\nwd"}') == '{"pw": "******"}'


def test_short_secrets_are_not_masked() -> None:
    store = SecretStore({"SECRET_FLAG": b64("on")})
    assert store.get("FLAG") == "on"
    assert store.mask("turn it on") == "turn it on"
    assert store.revealed == frozenset({"on"})


@pytest.mark.parametrize(
    ("environ", "error"),
    [
        ({}, "secret 'DB' is not defined"),
        ({"SECRET_DB": "not base64 at all!"}, "not valid base64"),
        ({"SECRET_DB": base64.b64encode(b"\xff\xfe").decode()}, "not valid base64 UTF-8"),
    ],
)
def test_secret_errors(environ: dict[str, str], error: str) -> None:
    renderer = Renderer(secrets=SecretStore(environ))
    with pytest.raises(TemplateError, match=error) as caught:
        renderer.render("{{ secret('DB') }}", {})
    assert caught.value.variable == "secret('DB')"
    assert caught.value.template == "{{ secret('DB') }}"


def test_secrets_need_a_store(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="secrets are not available"):
        renderer.render("{{ secret('DB') }}", {})


def test_secret_in_a_rendered_variable() -> None:
    store = SecretStore({"SECRET_TOKEN": b64("tok-123")})
    renderer = Renderer(secrets=store)
    context = {"vars": {"header": "Bearer {{ secret('TOKEN') }}"}}
    assert renderer.render("{{ render(vars.header) }}", context) == "Bearer tok-123"
    assert store.mask("Authorization: Bearer tok-123") == "Authorization: Bearer ******"
