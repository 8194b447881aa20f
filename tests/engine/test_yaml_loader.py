"""engine.yaml_loader: safe, strict, located YAML loading."""

from __future__ import annotations

import math
import time

import pytest

from engine.errors import FlowDefinitionError, Problem
from engine.yaml_loader import Mark, YamlDocument, format_path, load_yaml
from tests.conftest import COURSE_FLOW_NAMES, course_flow


def problems_of(text: str | bytes, **limits: int) -> list[Problem]:
    with pytest.raises(FlowDefinitionError) as caught:
        load_yaml(text, source="flow.yaml", **limits)
    return caught.value.problems


def only_problem(text: str | bytes, **limits: int) -> Problem:
    problems = problems_of(text, **limits)
    assert len(problems) == 1, problems
    assert problems[0].source == "flow.yaml"
    return problems[0]


def where(problem: Problem) -> tuple[int | None, int | None]:
    return problem.line, problem.column


# ---------------------------------------------------------------- the shared flows


@pytest.mark.parametrize("name", COURSE_FLOW_NAMES)
def test_shared_flows_load(name: str) -> None:
    path = course_flow(name)
    doc = load_yaml(path.read_bytes(), source=path.name)
    assert doc.data["namespace"] == "zoomcamp"
    assert doc.source == path.name
    assert doc.marks[()] == Mark(1, 1)
    assert doc.locate(("id",)) == Mark(1, 1)


def test_hello_world_values() -> None:
    doc = load_yaml(course_flow("01_hello_world.yaml").read_text())
    assert doc.data["inputs"] == [{"id": "name", "type": "STRING", "defaults": "Will"}]
    assert doc.data["concurrency"] == {"behavior": "FAIL", "limit": 2}
    assert doc.data["triggers"][0]["disabled"] is True
    assert doc.data["triggers"][0]["cron"] == "0 10 * * *"
    assert doc.data["tasks"][2]["duration"] == "PT15S"
    assert doc.locate(("triggers", 0, "disabled")) == Mark(48, 5)
    assert doc.locate(("concurrency", "limit")) == Mark(11, 3)


def test_postgres_taxi_values_and_marks() -> None:
    doc = load_yaml(course_flow("04_postgres_taxi.yaml").read_bytes())
    year = doc.data["inputs"][1]
    assert year["values"] == ["2019", "2020"]  # quoted: strings, not ints
    assert doc.data["inputs"][2]["defaults"] == "01"
    copy_in = doc.data["tasks"][2]["then"][3]
    assert copy_in["header"] is True
    assert copy_in["from"] == "{{render(vars.data)}}"
    assert doc.data["tasks"][2]["then"][0]["sql"].startswith("CREATE TABLE IF NOT EXISTS")
    assert doc.locate(("inputs", 1)) == Mark(13, 5)
    assert doc.locate(("tasks", 2, "then", 0)) == Mark(51, 9)
    assert doc.locate(("tasks", 2, "then", 0, "sql")) == Mark(53, 9)
    assert doc.locate(("tasks", 2, "then", 3, "header")) == Mark(113, 9)
    assert doc.locate(("tasks", 2, "then", 3, "columns", 1)) == Mark(114, 28)


def test_python_script_block_is_kept_verbatim() -> None:
    doc = load_yaml(course_flow("02_python.yaml").read_text())
    script = doc.data["tasks"][0]["script"]
    assert script.startswith("from kestra import Kestra\nimport requests\n")
    assert '    """Queries the Docker Hub API' in script
    assert doc.data["tasks"][0]["dependencies"] == ["requests", "kestra"]


# ---------------------------------------------------------------- marks and paths


def test_marks_of_nested_lists_and_mappings() -> None:
    text = "tasks:\n  - id: a\n    then:\n      - id: b\n        sql: select 1\n"
    doc = load_yaml(text)
    assert doc.marks[("tasks",)] == Mark(1, 1)  # an entry is located at its key
    assert doc.marks[("tasks", 0)] == Mark(2, 5)
    assert doc.marks[("tasks", 0, "then")] == Mark(3, 5)
    assert doc.marks[("tasks", 0, "then", 0)] == Mark(4, 9)
    assert doc.marks[("tasks", 0, "then", 0, "sql")] == Mark(5, 9)


def test_locate_walks_back_to_the_nearest_parent() -> None:
    doc = load_yaml("tasks:\n  - id: a\n    type: Log\n")
    assert doc.locate(("tasks", 0, "message")) == Mark(2, 5)
    assert doc.locate(("tasks", 7, "x")) == Mark(1, 1)
    assert doc.locate(("nothing",)) == Mark(1, 1)


def test_problem_is_located() -> None:
    doc = load_yaml("id: x\ntasks:\n  - id: a\n    type: Nope\n", source="x.yaml")
    problem = doc.problem(("tasks", 0, "type"), "unknown task type")
    assert problem == Problem("unknown task type", "tasks[0].type", "x.yaml", 4, 5)
    assert str(problem) == "x.yaml:4:5: tasks[0].type: unknown task type"


def test_columns_count_characters_not_bytes() -> None:
    doc = load_yaml("名前: é\nnext: [ü, z]\n".encode())
    assert doc.data == {"名前": "é", "next": ["ü", "z"]}
    assert doc.marks[("next", 1)] == Mark(2, 11)


def test_format_path() -> None:
    assert format_path(("tasks", 3, "then", 0, "sql")) == "tasks[3].then[0].sql"
    assert format_path(()) == ""
    assert format_path((0, "a")) == "[0].a"
    assert format_path(("inputFiles", "data.json")) == 'inputFiles["data.json"]'


def test_alias_is_located_where_it_is_written() -> None:
    doc = load_yaml("base: &b\n  x: 1\nother: *b\n")
    assert doc.data == {"base": {"x": 1}, "other": {"x": 1}}
    assert doc.data["other"] is not doc.data["base"]  # a tree, not a shared graph
    assert doc.marks[("other",)] == Mark(3, 1)
    assert doc.marks[("other", "x")] == Mark(2, 3)


def test_repr_is_short() -> None:
    doc = load_yaml("a: 1\n", source="f.yaml")
    assert repr(doc) == "YamlDocument(source='f.yaml', data=dict, marks=2)"
    assert isinstance(doc, YamlDocument)


# ---------------------------------------------------------------- YAML 1.2 core scalars


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("FALSE", False),
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("no", "no"),
        ("y", "y"),
        ("n", "n"),
        ("tRUE", "tRUE"),
        ("null", None),
        ("Null", None),
        ("NULL", None),
        ("~", None),
        ("", None),
        ("10", 10),
        ("-7", -7),
        ("+7", 7),
        ("010", 10),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b101", "0b101"),
        ("1_000", "1_000"),
        ("1:30", "1:30"),
        ("2024-01-31", "2024-01-31"),
        ("2024-01-31T10:00:00Z", "2024-01-31T10:00:00Z"),
        ("1.5", 1.5),
        ("-.5", -0.5),
        ("1e3", 1000.0),
        ("6.02E+23", 6.02e23),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("+.INF", math.inf),
        ("1.2.3", "1.2.3"),
        ("PT15S", "PT15S"),
        ("'true'", "true"),
        ('"10"', "10"),
        ("!!str 10", "10"),
        ("!!int '0x1F'", 31),
        ("!!float 3", 3.0),
        ("!!bool 'True'", True),
        ("!!null ''", None),
    ],
)
def test_core_schema_scalars(written: str, value: object) -> None:
    got = load_yaml(f"v: {written}\n").data["v"]
    assert got == value
    assert type(got) is type(value)


def test_nan() -> None:
    assert math.isnan(load_yaml("v: .NaN\n").data["v"])


def test_block_and_quoted_scalars_stay_strings() -> None:
    data = load_yaml("a: |\n  123\nb: >-\n  true\nc: 'null'\n").data
    assert data == {"a": "123\n", "b": "true", "c": "null"}


def test_keys_are_strings_as_written() -> None:
    data = load_yaml("1: a\ntrue: b\n0x10: c\nnull: d\n").data
    assert data == {"1": "a", "true": "b", "0x10": "c", "null": "d"}


def test_merge_keys() -> None:
    text = (
        "defaults: &d {level: INFO, retry: 3}\n"
        "extra: &e {retry: 5, owner: ops}\n"
        "task:\n"
        "  <<: [*d, *e]\n"
        "  level: ERROR\n"
    )
    doc = load_yaml(text)
    assert doc.data["task"] == {"retry": 3, "owner": "ops", "level": "ERROR"}
    assert list(doc.data["task"]) == ["retry", "owner", "level"]
    assert doc.marks[("task", "level")] == Mark(5, 3)
    assert doc.marks[("task", "owner")] == Mark(2, 22)


def test_nested_merge_and_quoted_merge_key() -> None:
    text = "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\nd: {'<<': 1}\n"
    data = load_yaml(text).data
    assert data["c"] == {"x": 1, "y": 2, "z": 3}
    assert data["d"] == {"<<": 1}


def test_merge_of_a_scalar_is_a_problem() -> None:
    problem = only_problem("a: 1\nb:\n  <<: x\n")
    assert where(problem) == (3, 7)
    assert "merge key" in problem.message
    assert problem.path == 'b["<<"]'


# ---------------------------------------------------------------- rejections


def test_duplicate_keys_name_the_key_and_the_first_one() -> None:
    problem = only_problem("id: a\ntasks:\n  - id: x\n    type: Log\n    id: y\n")
    assert where(problem) == (5, 5)
    assert problem.path == "tasks[0].id"
    assert problem.message == "duplicate key 'id' (first defined at line 3, column 5)"


def test_every_duplicate_is_reported() -> None:
    problems = problems_of("a: 1\nb: 2\na: 3\nb: 4\n")
    assert [(p.path, p.line, p.column) for p in problems] == [("a", 3, 1), ("b", 4, 1)]


def test_too_large_is_refused_before_parsing() -> None:
    problem = only_problem("a: [" + "1, " * 100 + "]", max_bytes=100)
    assert where(problem) == (1, 1)
    assert problem.message == "the file is larger than the limit of 100 bytes"
    assert only_problem("é" * 60, max_bytes=100).message.endswith("limit of 100 bytes")
    assert load_yaml(b"a: " + b"1" * 97, max_bytes=100).data == {"a": int("1" * 97)}


def test_too_deep() -> None:
    problem = only_problem("a:\n  b:\n    c: [[1]]\n", max_depth=4)
    assert where(problem) == (3, 9)
    assert problem.path == "a.b.c[0]"
    assert "deeper than 4 levels" in problem.message


def test_deep_flow_nesting_is_cheap_to_refuse() -> None:
    problem = only_problem("a: " + "[" * 500_000 + "]" * 500_000)
    assert where(problem) == (1, 67)
    assert "deeper than 64" in problem.message


def test_alias_cannot_nest_past_the_depth_limit() -> None:
    problem = only_problem("a: &x [[[1]]]\nb: [[*x]]\n", max_depth=5)
    assert where(problem) == (2, 6)
    assert "*x" in problem.message


def test_too_many_nodes() -> None:
    problem = only_problem("a: [1, 2, 3]\nb: [4, 5, 6]\n", max_nodes=7)
    assert where(problem) == (2, 4)
    assert "more than 7 nodes" in problem.message


def test_expanded_aliases_count_as_nodes() -> None:
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8]\nb: [*a, *a, *a]\n"
    problem = only_problem(text, max_nodes=30)
    assert where(problem) == (2, 9)  # the second *a crosses 30


def test_billion_laughs_is_refused_in_milliseconds() -> None:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]")
    started = time.perf_counter()
    problem = only_problem("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 0.1
    assert "alias expansions" in problem.message
    assert where(problem) == (5, 8)
    assert problem.path == "e[0]"


def test_merge_keys_count_toward_alias_expansions() -> None:
    text = "a: &a {x: 1}\nb: {<<: *a}\nc: {<<: *a}\nd: {<<: [*a, *a]}\n"
    assert load_yaml(text, max_alias_expansions=4).data["d"] == {"x": 1}
    problem = only_problem(text, max_alias_expansions=3)
    assert where(problem) == (4, 14)


def test_alias_to_itself() -> None:
    problem = only_problem("a: &x\n  b: *x\n")
    assert where(problem) == (2, 6)
    assert "contains it" in problem.message


def test_undefined_alias() -> None:
    problem = only_problem("a: *nowhere\n")
    assert where(problem) == (1, 4)
    assert "not defined" in problem.message


def test_multiple_documents() -> None:
    problem = only_problem("id: a\n---\nid: b\n")
    assert where(problem) == (2, 1)
    assert "one YAML document" in problem.message


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("- a\n- b\n", "a list"),
        ("just text\n", "the scalar 'just text'"),
        ("42\n", "the scalar 42"),
    ],
)
def test_root_must_be_a_mapping(text: str, found: str) -> None:
    problem = only_problem(text)
    assert where(problem) == (1, 1)
    assert problem.message.endswith(found)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_empty_file(text: str) -> None:
    problem = only_problem(text)
    assert where(problem) == (1, 1)
    assert problem.message == "the file is empty"


def test_syntax_error_is_located() -> None:
    problem = only_problem("id: a\ntasks: [1, 2\nnext: 3\n")
    assert problem.line == 3
    assert problem.message.startswith("invalid YAML:")
    assert "line 2, column 8" in problem.message  # where the unclosed list began


def test_unclosed_quote() -> None:
    problem = only_problem("id: a\nmessage: 'hello\n")
    assert problem.message.startswith("invalid YAML:")
    assert "quoted scalar at line 2, column 10" in problem.message


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a:\n\tb: 1\n", 2, 1),
        ("a:\n  \tb: 1\n", 2, 3),
        ("a: 1\n\tb: 2\n", 2, 1),
        ("tasks:\n  - id: x\n\t  type: y\n", 3, 1),
    ],
)
def test_tabs_for_indentation(text: str, line: int, column: int) -> None:
    problem = only_problem(text)
    assert (problem.line, problem.column) == (line, column)
    assert "tabs are not allowed" in problem.message


def test_tabs_inside_block_scalars_are_content() -> None:
    assert load_yaml("script: |\n  all:\n  \techo hi\n").data == {"script": "all:\n\techo hi\n"}


def test_invalid_utf8() -> None:
    problem = only_problem(b"id: a\nname: caf\xc3\xa9 \xff\n")
    assert where(problem) == (2, 12)
    assert "UTF-8" in problem.message


def test_nul_byte() -> None:
    problem = only_problem("id: a\nname: x\x00y\n")
    assert where(problem) == (2, 8)
    assert "NUL" in problem.message


def test_control_character() -> None:
    problem = only_problem("id: a\x07\n")
    assert where(problem) == (1, 6)
    assert "U+0007" in problem.message


def test_utf8_bom_is_accepted() -> None:
    assert load_yaml(b"\xef\xbb\xbfid: a\n").data == {"id": "a"}
    assert load_yaml("\ufeffid: a\n").data == {"id": "a"}


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['echo hi']\n",
        "a: !!python/name:os.system\n",
        "a: !custom thing\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!set {x}\n",
        "a: !!timestamp 2024-01-01\n",
    ],
)
def test_unknown_tags_are_problems(text: str) -> None:
    problem = only_problem(text)
    assert where(problem) == (1, 4)
    assert problem.path == "a"


def test_invalid_explicit_scalar() -> None:
    problem = only_problem("a: !!int twelve\n")
    assert problem.message == "'twelve' is not a valid !!int"


def test_huge_integer_is_a_problem_not_a_crash() -> None:
    problem = only_problem("a: " + "9" * 5000 + "\n")
    assert where(problem) == (1, 4)
    assert "too large" in problem.message


def test_complex_keys_are_problems() -> None:
    problem = only_problem("? [a, b]\n: 1\n")
    assert where(problem) == (1, 3)
    assert "keys" in problem.message


def test_problems_of_several_kinds_are_collected() -> None:
    problems = problems_of("a: 1\na: 2\nb: !!int x\nc: !weird 1\n")
    assert [p.line for p in problems] == [2, 3, 4]


# ---------------------------------------------------------------- performance


def test_a_large_flow_loads_with_every_position() -> None:
    """10,000 tasks load and the last one's position is exact (speed: bench/, not here)."""
    tasks = "".join(
        f"  - id: task_{i}\n    type: io.kestra.plugin.core.log.Log\n    message: hello {i}\n"
        for i in range(10_000)
    )
    text = f"id: big\nnamespace: perf\ntasks:\n{tasks}"
    doc = load_yaml(text)
    assert len(doc.data["tasks"]) == 10_000
    assert doc.locate(("tasks", 9_999, "message")) == Mark(3 + 3 * 9_999 + 3, 5)
