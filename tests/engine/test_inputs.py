"""engine.inputs: input declarations, load-time checks, and resolution at execution creation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import jinja2
import pytest
from pydantic import TypeAdapter, ValidationError

from engine.errors import InputError
from engine.inputs import (
    ArrayInput,
    BoolInput,
    FileInput,
    Input,
    InputResolver,
    MultiselectInput,
    SelectInput,
    StringInput,
    check_declarations,
    nest_dotted,
    undeclared,
)
from engine.yaml_loader import load_yaml
from tests.conftest import course_flow

INPUTS = TypeAdapter(list[Input])
_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined)


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """A tiny stand-in for the engine's renderer: Jinja on strings, recursively."""
    if isinstance(value, str):
        return _JINJA.from_string(value).render(**context)
    if isinstance(value, list):
        return [render(item, context) for item in value]
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    return value


def evaluate_condition(template: str, context: Mapping[str, Any]) -> bool:
    return str(render(template, context)).strip().lower() == "true"


def declare(yaml_text: str) -> list[Input]:
    return INPUTS.validate_python(load_yaml(yaml_text).data["inputs"])


def resolve(yaml_text: str, given: Mapping[str, Any], **resolver: Any) -> dict[str, Any]:
    return InputResolver(render, evaluate_condition, **resolver).resolve(declare(yaml_text), given)


def errors_of(yaml_text: str, given: Mapping[str, Any], **resolver: Any) -> dict[str, str]:
    with pytest.raises(InputError) as caught:
        resolve(yaml_text, given, **resolver)
    return caught.value.errors


def one(type_and_options: str, value: Any) -> Any:
    return resolve(f"inputs:\n  - {{id: x, {type_and_options}}}\n", {"x": value})["x"]


def error(type_and_options: str, value: Any) -> str:
    return errors_of(f"inputs:\n  - {{id: x, {type_and_options}}}\n", {"x": value})["x"]


# ---------------------------------------------------------------- the shared flows


def test_hello_world_inputs() -> None:
    specs = INPUTS.validate_python(
        load_yaml(course_flow("01_hello_world.yaml").read_text()).data["inputs"]
    )
    assert isinstance(specs[0], StringInput)
    assert check_declarations(specs) == []
    resolver = InputResolver(render, evaluate_condition)
    assert resolver.resolve(specs, {}) == {"name": "Will"}
    assert resolver.resolve(specs, {"name": "Sarah"}) == {"name": "Sarah"}


def test_postgres_taxi_inputs() -> None:
    doc = load_yaml(course_flow("04_postgres_taxi.yaml").read_bytes())
    specs = INPUTS.validate_python(doc.data["inputs"])
    assert all(isinstance(spec, SelectInput) for spec in specs)
    assert specs[0].display_name == "Select taxi type"
    assert check_declarations(specs) == []
    resolver = InputResolver(render, evaluate_condition)
    assert resolver.resolve(specs, {}) == {"taxi": "yellow", "year": "2019", "month": "01"}
    given = {"taxi": "green", "year": 2020, "month": "11"}  # 2020 as the CLI's YAML reads it
    assert resolver.resolve(specs, given) == {"taxi": "green", "year": "2020", "month": "11"}
    with pytest.raises(InputError) as caught:
        resolver.resolve(specs, {"taxi": "purple", "month": "13"})
    assert caught.value.errors == {
        "taxi": "'purple' is not one of: yellow, green",
        "month": "'13' is not one of: 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 11, 12",
    }


def test_data_pipeline_array_input() -> None:
    doc = load_yaml(course_flow("03_getting_started_data_pipeline.yaml").read_text())
    specs = INPUTS.validate_python(doc.data["inputs"])
    assert isinstance(specs[0], ArrayInput)
    assert InputResolver(render, evaluate_condition).resolve(specs, {}) == {
        "columns_to_keep": ["brand", "price"]
    }


# ---------------------------------------------------------------- declarations


def test_aliases_and_python_names_both_work() -> None:
    by_alias = SelectInput.model_validate(
        {"id": "s", "type": "SELECT", "values": ["a"], "allowCustomValue": True, "displayName": "S"}
    )
    by_name = SelectInput(
        id="s", type="SELECT", values=["a"], allow_custom_value=True, display_name="S"
    )
    assert by_alias == by_name
    assert by_alias.model_dump(by_alias=True, exclude_none=True)["allowCustomValue"] is True


def test_legacy_name_is_the_id() -> None:
    [spec] = INPUTS.validate_python([{"name": "old", "type": "STRING"}])
    assert spec.id == "old"


def test_legacy_boolean_type() -> None:
    specs = INPUTS.validate_python([{"id": "a", "type": "BOOLEAN"}, {"id": "b", "type": "BOOL"}])
    assert all(isinstance(spec, BoolInput) for spec in specs)


def test_select_values_are_read_as_strings() -> None:
    [spec] = declare("inputs:\n  - {id: y, type: SELECT, values: [2019, 2020], defaults: 2019}\n")
    assert isinstance(spec, SelectInput)
    assert spec.values == ["2019", "2020"]
    assert check_declarations([spec]) == []


def test_multiselect_legacy_options() -> None:
    [spec] = declare("inputs:\n  - {id: m, type: MULTISELECT, options: [a, b]}\n")
    assert isinstance(spec, MultiselectInput)
    assert spec.static_choices() == ["a", "b"]


def test_file_input_fields() -> None:
    [spec] = declare("inputs:\n  - {id: f, type: FILE, allowedFileExtensions: [.csv, txt]}\n")
    assert isinstance(spec, FileInput)
    assert spec.allowed_file_extensions == [".csv", "txt"]


@pytest.mark.parametrize(
    ("declaration", "reason"),
    [
        ({"id": "x", "type": "INT", "min": 5, "max": 3}, "min 5 is greater than max 3"),
        ({"id": "x", "type": "FLOAT", "min": 2.5, "max": 1}, "min 2.5 is greater than max 1"),
        ({"id": "x", "type": "DURATION", "min": "PT1H", "max": "PT1M"}, "min PT1H is greater"),
        (
            {"id": "x", "type": "DATE", "after": "2024-02-01", "before": "2024-01-01"},
            "after 2024-02-01",
        ),
        ({"id": "x", "type": "DATE", "after": "someday"}, "'someday' is not an ISO-8601 date"),
        ({"id": "x", "type": "STRING", "validator": "(a"}, "not a valid regular expression"),
        ({"id": "x", "type": "SECRET", "validator": "[a"}, "not a valid regular expression"),
        ({"id": "x", "type": "SELECT"}, "give exactly one of `values` or `expression`"),
        ({"id": "x", "type": "SELECT", "values": ["a"], "expression": "{{ x }}"}, "exactly one"),
        ({"id": "x", "type": "SELECT", "values": "a,b"}, "`values` must be a list"),
        ({"id": "x", "type": "MULTISELECT", "values": ["a"], "options": ["a"]}, "`options`"),
        ({"id": "x", "type": "ARRAY"}, "Field required"),
        ({"id": "x", "type": "ARRAY", "itemType": "ARRAY"}, "Input should be 'STRING'"),
        ({"id": "x", "type": "COLOR"}, "does not match any of the expected tags"),
        ({"id": "x y", "type": "STRING"}, "should match pattern"),
        ({"id": "x", "type": "STRING", "colour": "red"}, "Extra inputs are not permitted"),
        ({"type": "STRING"}, "Field required"),
    ],
)
def test_invalid_declarations(declaration: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        INPUTS.validate_python([declaration])


def test_declarations_are_frozen() -> None:
    [spec] = declare("inputs:\n  - {id: a, type: STRING}\n")
    with pytest.raises(ValidationError):
        spec.required = False


# ---------------------------------------------------------------- check_declarations


def test_check_declarations_finds_every_problem() -> None:
    specs = declare(
        """
inputs:
  - {id: a, type: INT, min: 1, max: 9, defaults: 12}
  - {id: b, type: SELECT, values: [x, y], defaults: z}
  - {id: a, type: STRING}
  - {id: c, type: STRING, dependsOn: {inputs: [a, d, nope, c]}}
  - {id: d, type: BOOL, defaults: "yes"}
  - {id: e, type: STRING, validator: "^[a-z]+$", defaults: ABC}
"""
    )
    assert check_declarations(specs) == [
        ((2, "id"), "duplicate input id 'a' (also input 0)"),
        ((0, "defaults"), "invalid default: 12 is above the maximum 9"),
        ((1, "defaults"), "invalid default: 'z' is not one of: x, y"),
        (
            (3, "dependsOn", "inputs", 1),
            "'d' is declared after 'c'; dependsOn may only name earlier inputs",
        ),
        ((3, "dependsOn", "inputs", 2), "'nope' is not an input of this flow"),
        ((3, "dependsOn", "inputs", 3), "an input cannot depend on itself"),
        ((4, "defaults"), "invalid default: 'yes' is not a boolean (true or false)"),
        ((5, "defaults"), "invalid default: 'ABC' does not match the validator ^[a-z]+$"),
    ]


def test_check_declarations_skips_templates_and_custom_values() -> None:
    specs = declare(
        """
inputs:
  - {id: a, type: INT, max: 3, defaults: "{{ 1 + 1 }}"}
  - {id: b, type: SELECT, values: [x], allowCustomValue: true, defaults: other}
  - {id: c, type: SELECT, expression: "{{ ['p', 'q'] }}", defaults: anything}
  - {id: d, type: ARRAY, itemType: INT, defaults: ["{{ inputs.a }}", 2]}
  - {id: e, type: DATETIME, defaults: "2024-01-31T10:00:00Z"}
"""
    )
    assert check_declarations(specs) == []


# ---------------------------------------------------------------- coercion by type


@pytest.mark.parametrize(
    ("declaration", "given", "expected"),
    [
        ("type: STRING", "hello", "hello"),
        ("type: STRING", 2019, "2019"),
        ("type: STRING", True, "true"),
        ("type: STRING", "", ""),
        ("type: STRING, validator: '^a+$'", "aaa", "aaa"),
        ("type: SECRET", "s3cr3t", "s3cr3t"),
        ("type: EMAIL", "ops@example.com", "ops@example.com"),
        ("type: URI", "https://example.com/a.csv", "https://example.com/a.csv"),
        ("type: URI", "s3://bucket/key", "s3://bucket/key"),
        ("type: INT", "2019", 2019),
        ("type: INT", " -3 ", -3),
        ("type: INT", 7, 7),
        ("type: INT", 7.0, 7),
        ("type: INT, min: 5, max: 10", 5, 5),
        ("type: FLOAT", "1.5", 1.5),
        ("type: FLOAT", 2, 2.0),
        ("type: FLOAT", "1e3", 1000.0),
        ("type: BOOL", "true", True),
        ("type: BOOL", "FALSE", False),
        ("type: BOOLEAN", True, True),
        ("type: DATETIME", "2024-01-31T10:00:00Z", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        ("type: DATETIME", "2024-01-31T10:00:00", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        (
            "type: DATETIME",
            "2024-01-31T10:00:00+02:00",
            datetime(2024, 1, 31, 10, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("type: DATE", "2024-01-31", date(2024, 1, 31)),
        ("type: DATE", date(2024, 1, 31), date(2024, 1, 31)),
        ("type: TIME", "10:30", time(10, 30)),
        ("type: TIME", "10:30:15", time(10, 30, 15)),
        ("type: DURATION", "PT15M", timedelta(minutes=15)),
        ("type: DURATION", "P1DT2H", timedelta(days=1, hours=2)),
        ("type: DURATION, min: PT1M, max: PT1H", "PT1H", timedelta(hours=1)),
        ("type: JSON", '{"a": [1, 2]}', {"a": [1, 2]}),
        ("type: JSON", {"already": "parsed"}, {"already": "parsed"}),
        ("type: JSON", "[1, null]", [1, None]),
        ("type: YAML", "a: 1\nb: [x, on]\n", {"a": 1, "b": ["x", "on"]}),
        ("type: YAML", "- 1\n- 2\n", [1, 2]),
        ("type: YAML", {"a": 1}, {"a": 1}),
        ("type: SELECT, values: [a, b]", "b", "b"),
        ("type: SELECT, values: [a, b], allowCustomValue: true", "zzz", "zzz"),
        ("type: MULTISELECT, values: [a, b, c]", ["a", "c"], ["a", "c"]),
        ("type: MULTISELECT, values: [a, b, c]", '["b"]', ["b"]),
        ("type: MULTISELECT, values: [a], allowCustomValue: true", ["a", "z"], ["a", "z"]),
        ("type: MULTISELECT, values: ['1', '2'], itemType: INT", ["2"], [2]),
        ("type: ARRAY, itemType: STRING", ["a", 1], ["a", "1"]),
        ("type: ARRAY, itemType: INT", "[1, 2, 3]", [1, 2, 3]),
        ("type: ARRAY, itemType: INT", ["1", 2], [1, 2]),
        ("type: ARRAY, itemType: DATE", ["2024-01-01"], [date(2024, 1, 1)]),
        ("type: ARRAY, itemType: BOOL", '[true, "false"]', [True, False]),
        (
            "type: FILE",
            "kestra:///ns/flow/executions/1/inputs/f/data.csv",
            "kestra:///ns/flow/executions/1/inputs/f/data.csv",
        ),
    ],
)
def test_values_are_coerced(declaration: str, given: Any, expected: Any) -> None:
    got = one(declaration, given)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("declaration", "given", "reason"),
    [
        ("type: STRING", {"a": 1}, "expected text, got a mapping"),
        ("type: STRING, validator: '^a+$'", "abc", "'abc' does not match the validator ^a+$"),
        ("type: SECRET, validator: '^a+$'", "hunter2", "does not match the validator ^a+$"),
        ("type: EMAIL", "not-an-email", "'not-an-email' is not an email address"),
        ("type: URI", "no scheme here", "'no scheme here' is not a URI"),
        ("type: INT", "abc", "'abc' is not an integer"),
        ("type: INT", "1.5", "'1.5' is not an integer"),
        ("type: INT", True, "true is not an integer"),
        ("type: INT, min: 5", 3, "3 is below the minimum 5"),
        ("type: INT, max: 10", "12", "12 is above the maximum 10"),
        ("type: FLOAT", "abc", "'abc' is not a number"),
        ("type: FLOAT", "nan", "'nan' is not a number"),
        ("type: FLOAT, min: 0.5", 0.25, "0.25 is below the minimum 0.5"),
        ("type: BOOL", "yes", "'yes' is not a boolean (true or false)"),
        ("type: BOOL", 1, "1 is not a boolean (true or false)"),
        ("type: DATETIME", "tomorrow", "'tomorrow' is not an ISO-8601 date-time"),
        (
            "type: DATETIME, after: '2024-01-01T00:00:00Z'",
            "2023-12-31T23:59:59Z",
            "2023-12-31T23:59:59+00:00 is before the earliest allowed 2024-01-01T00:00:00+00:00",
        ),
        (
            "type: DATE, before: '2024-01-31'",
            "2024-02-01",
            "2024-02-01 is after the latest allowed 2024-01-31",
        ),
        ("type: DATE", "31/01/2024", "'31/01/2024' is not an ISO-8601 date"),
        ("type: TIME", "25:00", "'25:00' is not an ISO-8601 time"),
        ("type: TIME, after: '09:00'", "08:59", "08:59:00 is before the earliest allowed 09:00:00"),
        ("type: DURATION", "15 minutes", "'15 minutes' is not an ISO-8601 duration"),
        ("type: DURATION, min: PT1M", "PT30S", "PT30S is below the minimum PT1M"),
        ("type: JSON", "{broken", "not valid JSON"),
        ("type: YAML", "a: [1,", "not valid YAML at line"),
        (
            "type: SELECT, values: [yellow, green]",
            "purple",
            "'purple' is not one of: yellow, green",
        ),
        ("type: MULTISELECT, values: [a, b]", ["a", "z"], "'z' is not one of: a, b"),
        ("type: MULTISELECT, values: [a, b]", "a", "expected a list"),
        ("type: ARRAY, itemType: INT", [1, "two"], "item 1: 'two' is not an integer"),
        ("type: ARRAY, itemType: INT", "1,2", "expected a list (or a JSON array"),
        ("type: FILE", "/tmp/data.csv", "expected an internal storage URI (kestra:///...)"),
    ],
)
def test_invalid_values_say_what_was_expected(declaration: str, given: Any, reason: str) -> None:
    assert reason in error(declaration, given)


def test_secret_values_never_appear_in_errors() -> None:
    assert "hunter2" not in error("type: SECRET, validator: '^a+$'", "hunter2")


def test_yaml_input_refuses_alias_bombs() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{level}: &{level} [{', '.join([f'*{chr(ord(level) - 1)}'] * 9)}]\n"
        for level in "bcdefghi"
    )
    assert "alias expansions" in error("type: YAML", bomb)


# ---------------------------------------------------------------- required, defaults, unknown


def test_required_and_optional() -> None:
    declared = "inputs:\n  - {id: a, type: STRING}\n  - {id: b, type: INT, required: false}\n"
    assert errors_of(declared, {}) == {"a": "required input is missing"}
    assert resolve(declared, {"a": "x"}) == {"a": "x", "b": None}
    assert resolve(declared, {"a": "x", "b": None}) == {"a": "x", "b": None}
    assert resolve(declared, {"a": "x", "b": ""}) == {"a": "x", "b": None}  # an empty form field


def test_undeclared_inputs_are_ignored_as_kestra_does() -> None:
    declared = (
        "inputs:\n  - {id: a, type: STRING, defaults: x}\n  - {id: b, type: INT, required: false}\n"
    )
    assert resolve(declared, {"c": 1}) == {"a": "x", "b": None}
    assert undeclared(declare(declared), {"a": "y", "c": 1, "d": 2}) == ["c", "d"]
    assert InputResolver(render, evaluate_condition).resolve([], {"x": 1}) == {}


def test_dotted_input_ids_nest_as_in_kestra() -> None:
    values = resolve("inputs:\n  - {id: nested.value, type: STRING}\n", {"nested.value": "v"})
    assert nest_dotted(values) == {"nested": {"value": "v"}}


def test_every_error_is_collected() -> None:
    declared = """
inputs:
  - {id: year, type: INT, min: 2009}
  - {id: taxi, type: SELECT, values: [yellow, green]}
  - {id: note, type: STRING}
"""
    with pytest.raises(InputError) as caught:
        resolve(declared, {"year": 2001, "taxi": "purple", "colour": "red"})
    assert caught.value.errors == {
        "year": "2001 is below the minimum 2009",
        "taxi": "'purple' is not one of: yellow, green",
        "note": "required input is missing",
    }
    assert "input 'year': 2001 is below the minimum 2009" in str(caught.value)


def test_defaults_are_rendered_from_earlier_inputs() -> None:
    declared = """
inputs:
  - {id: taxi, type: SELECT, values: [yellow, green], defaults: yellow}
  - {id: year, type: INT, defaults: 2019}
  - {id: file, type: STRING, defaults: "{{ inputs.taxi }}_tripdata_{{ inputs.year }}.csv"}
  - {id: next_year, type: INT, defaults: "{{ inputs.year + 1 }}", max: 2030}
  - {id: cols, type: ARRAY, itemType: STRING, defaults: ["{{ inputs.taxi }}", fare]}
"""
    assert resolve(declared, {"taxi": "green"}) == {
        "taxi": "green",
        "year": 2019,
        "file": "green_tripdata_2019.csv",
        "next_year": 2020,
        "cols": ["green", "fare"],
    }
    assert errors_of(declared, {"year": "2030"}) == {"next_year": "2031 is above the maximum 2030"}


def test_defaults_see_the_caller_context() -> None:
    declared = 'inputs:\n  - {id: day, type: DATE, defaults: "{{ trigger.date }}"}\n'
    resolver = InputResolver(render, evaluate_condition)
    specs = declare(declared)
    assert resolver.resolve(specs, {}, context={"trigger": {"date": "2024-03-01"}}) == {
        "day": date(2024, 3, 1)
    }


def test_a_default_that_fails_to_render_is_an_input_error() -> None:
    declared = 'inputs:\n  - {id: a, type: STRING, defaults: "{{ nowhere.x }}"}\n'
    assert errors_of(declared, {})["a"].startswith("cannot render defaults:")


def test_given_values_win_over_defaults() -> None:
    declared = "inputs:\n  - {id: name, type: STRING, defaults: Will}\n"
    assert resolve(declared, {"name": "Sarah"}) == {"name": "Sarah"}


# ---------------------------------------------------------------- dependsOn and dynamic choices


DEPENDENT = """
inputs:
  - {id: cloud, type: SELECT, values: [aws, gcp]}
  - id: region
    type: SELECT
    values: [eu-west-1, us-east-1]
    dependsOn: {inputs: [cloud], condition: "{{ inputs.cloud == 'aws' }}"}
"""


def test_depends_on_condition_true_validates_the_input() -> None:
    assert resolve(DEPENDENT, {"cloud": "aws", "region": "us-east-1"}) == {
        "cloud": "aws",
        "region": "us-east-1",
    }
    assert errors_of(DEPENDENT, {"cloud": "aws"}) == {"region": "required input is missing"}
    assert errors_of(DEPENDENT, {"cloud": "aws", "region": "mars"}) == {
        "region": "'mars' is not one of: eu-west-1, us-east-1"
    }


def test_depends_on_condition_false_hides_the_input() -> None:
    assert resolve(DEPENDENT, {"cloud": "gcp"}) == {"cloud": "gcp", "region": None}
    assert resolve(DEPENDENT, {"cloud": "gcp", "region": "mars"}) == {
        "cloud": "gcp",
        "region": None,
    }


def test_hiding_spreads_to_what_depends_on_a_hidden_input() -> None:
    declared = DEPENDENT + "  - {id: zone, type: STRING, dependsOn: {inputs: [region]}}\n"
    assert resolve(declared, {"cloud": "gcp"}) == {"cloud": "gcp", "region": None, "zone": None}
    assert errors_of(declared, {"cloud": "aws", "region": "eu-west-1"}) == {
        "zone": "required input is missing"
    }


def test_a_failed_dependency_does_not_cascade() -> None:
    assert errors_of(DEPENDENT, {"cloud": "azure"}) == {"cloud": "'azure' is not one of: aws, gcp"}


def test_a_broken_condition_is_an_input_error() -> None:
    def broken(template: str, context: Mapping[str, Any]) -> bool:
        raise RuntimeError("boom")

    resolver = InputResolver(render, broken)
    with pytest.raises(InputError) as caught:
        resolver.resolve(declare(DEPENDENT), {"cloud": "aws"})
    assert caught.value.errors == {"region": "cannot evaluate dependsOn.condition: boom"}


def test_select_values_from_an_expression() -> None:
    declared = """
inputs:
  - {id: env, type: SELECT, values: [dev, prod]}
  - {id: db, type: SELECT, expression: "{{ inputs.env }}-a,{{ inputs.env }}-b"}
  - {id: dbs, type: MULTISELECT, expression: '["{{ inputs.env }}-a", "{{ inputs.env }}-b"]'}
"""
    # The first expression renders to text that is not a list: its error says so.
    assert errors_of(declared, {"env": "dev", "db": "dev-a", "dbs": ["dev-b"]}) == {
        "db": 'expected a list (or a JSON array such as ["a", "b"]), got \'dev-a,dev-b\''
    }
    declared = declared.replace(
        '"{{ inputs.env }}-a,{{ inputs.env }}-b"', "'[\"{{ inputs.env }}-a\"]'"
    )
    assert resolve(declared, {"env": "dev", "db": "dev-a", "dbs": ["dev-b"]}) == {
        "env": "dev",
        "db": "dev-a",
        "dbs": ["dev-b"],
    }
    assert errors_of(declared, {"env": "prod", "db": "dev-a", "dbs": "[]"}) == {
        "db": "'dev-a' is not one of: prod-a"
    }


def test_values_given_as_a_template() -> None:
    declared = 'inputs:\n  - {id: s, type: SELECT, values: "{{ choices }}"}\n'
    resolver = InputResolver(lambda value, context: context["choices"], evaluate_condition)
    specs = declare(declared)
    assert resolver.resolve(specs, {"s": "b"}, context={"choices": ["a", "b"]}) == {"s": "b"}


# ---------------------------------------------------------------- files


FILES = "inputs:\n  - {id: data, type: FILE, allowedFileExtensions: [csv]}\n"


def test_files_are_stored_through_the_callback(tmp_path: Path) -> None:
    stored: list[tuple[str, Any]] = []

    def store(input_id: str, value: Any) -> str:
        stored.append((input_id, value))
        return f"kestra:///zoomcamp/flow/executions/e1/inputs/{input_id}/data.csv"

    source = tmp_path / "data.csv"
    source.write_text("a,b\n")
    values = resolve(FILES, {"data": source}, store_file=store)
    assert values == {"data": "kestra:///zoomcamp/flow/executions/e1/inputs/data/data.csv"}
    assert stored == [("data", source)]
    assert resolve(FILES, {"data": b"a,b\n"}, store_file=store)["data"].startswith("kestra:///")


def test_file_extensions_are_checked_before_storing() -> None:
    def store(input_id: str, value: Any) -> str:
        raise AssertionError("must not be called")

    reason = errors_of(FILES, {"data": "/tmp/Report.XLSX"}, store_file=store)["data"]
    assert reason == "'Report.XLSX' is not one of the allowed file types: .csv"


def test_file_uris_pass_through_without_a_store() -> None:
    uri = "kestra:///zoomcamp/flow/executions/e1/inputs/data/Data.CSV"
    assert resolve(FILES, {"data": uri}) == {"data": uri}


def test_a_file_that_cannot_be_stored_is_an_input_error(tmp_path: Path) -> None:
    def store(input_id: str, value: Any) -> str:
        return Path(value).read_text()  # the CLI's way: read a local file

    reason = errors_of(FILES, {"data": str(tmp_path / "missing.csv")}, store_file=store)["data"]
    assert reason.startswith("cannot store the file: [Errno 2]")
