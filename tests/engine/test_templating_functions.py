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
        ("{{ m | yaml }}", "x: 1\ny:\n  - 2\n  - 3\n"),  # Jackson's INDENT_ARRAYS
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


# -- Kestra 1.x functions, filters and tests ------------------------------------------
# Each case cites the Kestra test it comes from (core/src/test/java/io/kestra/core/
# runners/pebble/...); the expected text is Kestra's.

KESTRA_CONTEXT: dict[str, Any] = {
    "my_vars": {"test": [1, 2, 3]},
    "vars": {
        "second": {
            "string": "string",
            "int": 1,
            "float": 1.123,
            "list": ["string", 1, 1.123],
            "bool": True,
            "map": {"string": "string", "int": 1},
        }
    },
    "lower": 1,
    "upper": 10,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # filters/JqFilterTest
        ('{{ [1, 2, 3] | jq(".[0]") | first }}', "1"),
        ('{{ my_vars | jq(".test[0]") }}', "[1]"),
        ('{{ vars | jq(".second.string") }}', '["string"]'),
        ('{{ vars | jq(".second.string") | first }}', "string"),
        ('{{ vars | jq(".second.float") | first }}', "1.123"),
        ('{{ vars | jq(".second.list") | first }}', '["string",1,1.123]'),
        ('{{ vars | jq(".second.bool") | first }}', "true"),
        ('{{ vars.second.list | jq(".[]") }}', '["string",1,1.123]'),
        ('{% set object = vars | jq(".second.map") %}{{ object[0].string }}', "string"),
        ("{{ '{\"a\": [1, 2]}' | jq('.a | add') | first }}", "3"),
        # filters/EscapeCharFilterTest
        ("{{ \"L'eau c'est la vie\" | escapeChar('single') }}", "L\\'eau c\\'est la vie"),
        ("{{ '\"Hello\"' | escapeChar('double') }}", '\\"Hello\\"'),
        ("{{ \"L'eau c'est la vie\" | escapeChar('shell') }}", "L'\\''eau c'\\''est la vie"),
        ("{{ '' | escapeChar('shell') }}", ""),
        # filters/ReplaceFilterTest
        ("{{ 'john doe is john doe' | replace({'john': 'jane'}) }}", "jane doe is jane doe"),
        (
            "{{ 'aa1bb2cc3dd4ee5' | replace({'(\\\\d)': '-$1-'}, regexp=true) }}",
            "aa-1-bb-2-cc-3-dd-4-ee-5-",
        ),
        ("{{ ['a-b', 'b'] | replace({'b': 'c'}) }}", '["a-c","c"]'),
        ("{{ 'x.y' | replace('.', '/') }}", "x/y"),  # Jinja's form still works
        # filters/UrlDecodeFilter (and Pebble's urlencode = java.net.URLEncoder)
        ("{{ 'Kestra rulez !' | urlencode | urldecode }}", "Kestra rulez !"),
        ("{{ 'a b/c~*' | urlencode }}", "a+b%2Fc%7E*"),
        # filters/YamlFilterTest
        ("{{ vars.second.string | yaml }}", "string\n"),
        ("{{ vars.second.int | yaml }}", "1\n"),
        ("{{ vars.second.float | yaml }}", "1.123\n"),
        ("{{ vars.second.list | yaml }}", " - string\n - 1\n - 1.123\n"),
        ("{{ vars.second.bool | toYaml }}", "true\n"),
        # filters/SlugifyFilterTest
        ('{{ "Test\t\t\ntest*" | slugify }}', "test-test"),
        # functions/FromIonFunctionTest
        (
            "{{ fromIon('{date:2024-04-21T23:00:00.000Z, title:\"Main_Page\",views:109787}').title }}",
            "Main_Page",
        ),
        ("{{ fromIon('{a: 1d0, b: [x, 2.5e0]}') }}", '{"a":1,"b":["x",2.5]}'),
        ("{{ fromIon(null) }}", ""),
        # functions/RandomIntFunctionTest (lower == upper)
        ("{{ randomInt(10, 10) }}", "10"),
        # functions/FetchContextFunctionTest
        ("{{ printContext().vars.second.string }}", "string"),
        # Pebble's numberformat (java.text.DecimalFormat)
        ("{{ 3.141592653 | numberformat('#.##') }}", "3.14"),
        ("{{ 1234567.891 | numberformat('#,##0.00') }}", "1,234,567.89"),
        ("{{ 0.125 | numberformat('0.00') }}", "0.12"),  # half-even, as Java
        ("{{ 0.5 | numberformat('#%') }}", "50%"),
        ("{{ 7 | numberformat('000') }}", "007"),
        ("{{ -2.5 | numberformat('#') }}", "-2"),
        # Pebble's merge
        ("{{ [1, 2] | merge([3]) }}", "[1,2,3]"),
        ("{{ {'a': 1, 'b': 1} | merge({'b': 2}) }}", '{"a":1,"b":2}'),
        # tests
        ("{{ 'kestra' is startsWith('kes') }}{{ 'kestra' is endsWith('x') }}", "truefalse"),
        ("{% if ['a', 'b'] is contains('b') %}yes{% endif %}", "yes"),
        ("{{ 'abc' is contains('bc') }}", "true"),
        # Pebble core (pebbletemplates.io docs): max/min, abbreviate, rsort, raw, map test
        ("{{ max(20, 80, 30) }} {{ min(20, 80, 30) }}", "80 20"),
        ("{{ 'this is a long sentence.' | abbreviate(7) }}", "this..."),
        ("{{ [3, 1, 2] | rsort }}", "[3,2,1]"),
        ("{{ '<b>' | raw }}", "<b>"),
        ("{{ vars is map }} {{ vars.second.list is map }}", "true false"),
        # tests/JsonTest
        ("{{ '{\"a\": 1}' is json }} {{ 'nope' is json }}", "true false"),
    ],
)
def test_kestra_functions(renderer: Renderer, template: str, expected: str) -> None:
    assert renderer.render(template, KESTRA_CONTEXT) == expected


def test_generated_values_have_their_shape(renderer: Renderer) -> None:
    """functions/UUIDFunctionTest, IDFunctionTest, NanoIDFuntionTest, RandomIntFunctionTest,
    RandomPortFunctionTest: fresh values of the documented form on every call."""
    import re
    import socket

    uuids = {renderer.render("{{ uuid() }}", {}) for _ in range(3)}
    assert len(uuids) == 3
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", u)
        for u in uuids
    )
    assert renderer.render("{{ id() }}", {}) != renderer.render("{{ id() }}", {})
    assert re.fullmatch(r"[0-9A-Za-z_-]{21}", renderer.render("{{ nanoId() }}", {}))
    assert re.fullmatch(r"[ab]{5}", renderer.render("{{ nanoId(length=5, alphabet='ab') }}", {}))
    values = {int(renderer.render("{{ randomInt(-10, -1) }}", {})) for _ in range(50)}
    assert values <= set(range(-10, -1))
    port = int(renderer.render("{{ randomPort() }}", {}))
    assert 0 < port < 65536
    with socket.socket() as probe:  # nothing stays bound to it
        probe.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ 'Hello' | escapeChar('foo') }}", "either 'single', 'double', or 'shell'"),
        ("{{ randomInt(lower) }}", "expects an integer argument upper"),
        ("{{ randomInt() }}", "expects an integer argument lower"),
        ("{{ randomInt('1', '10') }}", "expects an integer argument lower"),
        ("{{ randomInt(10, 1) }}", "upper is less than lower"),
        ("{{ fromIon('{not: ion') }}", "invalid Ion"),
        ("{{ nanoId(length=1001) }}", "lower than 1000"),
        ("{{ [1] | jq('.[') }}", "jq: cannot run"),
        ("{{ 'not json' | jq('.') }}", "jq: cannot run"),
        ("{{ 'x' | replace({'(': 'y'}, regexp=true) }}", "invalid regular expression"),
        ("{{ 'x' | replace({'(x)': '$2'}, regexp=true) }}", "names a group"),
        ("{{ 1 | merge(2) }}", "cannot merge"),
        ("{{ 'x' | numberformat('abc') }}", "not a number"),
        ("{{ errorLogs() }}", "only available while an execution runs"),
        # jq reads no environment (secrets live there), files or further inputs
        ("{{ vars | jq('$ENV.SECRET_X') }}", "'\\$ENV' is not allowed"),
        ("{{ vars | jq('\"\\\\(env.SECRET_X)\"') }}", "'env' is not allowed"),
        ("{{ vars | jq('import \"x\" as $x; .') }}", "'import' is not allowed"),
        ("{{ vars | jq('[inputs]') }}", "'inputs' is not allowed"),
    ],
)
def test_kestra_function_errors(renderer: Renderer, template: str, error: str) -> None:
    with pytest.raises(TemplateError, match=error):
        renderer.render(template, KESTRA_CONTEXT)


def test_jq_and_regexps_are_bounded_in_time_and_size() -> None:
    """A jq program that never ends or floods, and a catastrophic regexp, fail the render
    within its time limit instead of hanging the worker."""
    renderer = Renderer(time_limit=0.5, max_output_chars=1000)
    with pytest.raises(TemplateError, match="ran longer than"):
        renderer.render("{{ n | jq('[repeat(.)] | length') }}", {"n": 1})
    with pytest.raises(TemplateError, match="longer than 1000 characters"):
        renderer.render("{{ n | jq('range(100000)') }}", {"n": 1})
    assert renderer.render("{{ n | jq('. + 1') | first }}", {"n": 1}) == "2"  # a new worker
    text = "a" * 30 + "!"
    with pytest.raises(TemplateError, match="took too long|longer than"):
        renderer.render(
            "{{ text | replace({'^(\\\\w+\\\\s?)*$|(a|aa)+(a|aa)+(a|aa)+(a|aa)+b': 'x'}, regexp=true) }}",
            {"text": text * 3},
        )
    with pytest.raises(TemplateError, match="over the limit"):
        renderer.render("{{ t | replace({'': 'x' * 100}, regexp=true) | length }}", {"t": "a" * 20})


def test_print_context_masks_secrets() -> None:
    store = SecretStore({"SECRET_TOKEN": b64("s3cr3t-value")})
    renderer = Renderer(secrets=store)
    context = {"outputs": {"t": {"value": "s3cr3t-value"}}, "n": 1}
    assert renderer.render("{{ secret('TOKEN') | length }}", context) == "12"
    printed = renderer.render("{{ printContext() }}", context)
    assert "s3cr3t-value" not in printed
    assert '"outputs":{"t":{"value":"******"}}' in printed
    assert "render" not in printed  # functions are not variables


def test_current_each_output_follows_the_loop_values(renderer: Renderer) -> None:
    """Kestra's docs: `currentEachOutput(outputs.first)` inside nested ForEach loops."""
    context = {
        "outputs": {"first": {"v1": {"a": {"value": "v1-a"}}, "v2": {"a": {"value": "v2-a"}}}},
        "parents": [{"taskrun": {"value": "v2"}}],
        "taskrun": {"value": "a"},
    }
    assert renderer.render("{{ currentEachOutput(outputs.first).value }}", context) == "v2-a"


def test_file_functions_read_only_this_executions_files(tmp_path: Any) -> None:
    """functions/FileSizeFunctionTest, FileExistsFunctionTest, IsFileEmptyFunctionTest:
    a file of the execution answers; another execution's file is refused, not probed."""
    from engine.storage import LocalStorage

    storage = LocalStorage(tmp_path)
    mine = storage.write("company/team/flow/executions/e1/tasks/t/r1/data.csv", b"hello")
    empty = storage.write("company/team/flow/executions/e1/tasks/t/r1/empty.csv", b"")
    theirs = storage.write("company/team/flow/executions/e2/tasks/t/r1/data.csv", b"x")
    renderer = Renderer(storage=storage)
    context = {
        "flow": {"namespace": "company.team", "id": "flow"},
        "execution": {"id": "e1"},
        "mine": mine,
        "empty": empty,
        "theirs": theirs,
        "missing": mine.replace("data.csv", "nope.csv"),
    }
    assert renderer.render("{{ fileSize(mine) }}", context) == "5"
    assert (
        renderer.render("{{ fileExists(mine) }} {{ fileExists(missing) }}", context) == "true false"
    )
    assert (
        renderer.render("{{ isFileEmpty(empty) }} {{ isFileEmpty(mine) }}", context) == "true false"
    )
    for function in ("fileSize", "fileExists", "isFileEmpty"):
        with pytest.raises(TemplateError, match="not a file of this execution"):
            renderer.render(f"{{{{ {function}(theirs) }}}}", context)
    with pytest.raises(TemplateError, match="not a file of this execution"):
        renderer.render("{{ fileSize('kestra:///company/team/flow/executions/e1x/a') }}", context)
    with pytest.raises(TemplateError, match="escapes the storage root"):
        renderer.render(
            "{{ fileExists('kestra:///company/team/flow/executions/e1/../e2/tasks/t/r1/data.csv') }}",
            context,
        )
    with pytest.raises(TemplateError, match="expects a kestra:/// URI"):
        renderer.render("{{ fileSize('/etc/passwd') }}", context)
    with pytest.raises(TemplateError, match="no file at"):
        renderer.render("{{ fileSize(missing) }}", context)
    with pytest.raises(TemplateError, match="storage is not available"):
        Renderer().render("{{ fileSize(mine) }}", context)


def test_file_uri_names_a_namespace_file(renderer: Renderer) -> None:
    """functions/FileURIFunctionTest: `kestra:///<namespace folders>/_files/<path>`."""
    context = {"flow": {"namespace": "io.kestra.tests", "id": "f"}}
    assert (
        renderer.render("{{ fileURI('/sql/query.sql') }}", context)
        == "kestra:///io/kestra/tests/_files/sql/query.sql"
    )
    with pytest.raises(TemplateError, match="stay inside the namespace"):
        renderer.render("{{ fileURI('a/../../secret') }}", context)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # Pebble's tag names (pebbletemplates.io: if / verbatim)
        ("{% if n > 5 %}big{% elseif n > 1 %}mid{% else %}small{% endif %}", "mid"),
        ("{% verbatim %}{{ not rendered }}{% endverbatim %}", "{{ not rendered }}"),
        ("{%- verbatim -%} {{ x }} {%- endverbatim -%}", "{{ x }}"),
    ],
)
def test_pebble_tag_names(renderer: Renderer, template: str, expected: str) -> None:
    assert renderer.render(template, {"n": 3}) == expected
