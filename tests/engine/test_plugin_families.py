"""Plugin families behind a pip extra: missing dependencies refuse their types at load with
the command to run; a missing module of Podium's own is a bug that stops start-up."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.catalog import Catalog, default_registries
from engine.errors import FlowDefinitionError
from engine.flow import Registries, load_flow
from engine.plugin import OptionalFamily, lazy_import
from tasks import FAMILIES
from tests.support.child import run_python

ROOT = Path(__file__).resolve().parents[2]

FLOW = """
id: uses_a_family
namespace: t
tasks:
  - id: upload
    type: io.kestra.plugin.example.storage.Upload
    from: "{{ inputs.file }}"
"""


def _registries(family: OptionalFamily) -> Registries:
    return Catalog((*FAMILIES, family)).registries


def test_a_family_without_its_extra_is_refused_with_the_install_command() -> None:
    family = OptionalFamily(
        "io.kestra.plugin.example.", "tests.support.family_without_its_extra", "example"
    )
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(FLOW, _registries(family), source="flow.yaml")
    message = str(caught.value)
    assert "flow.yaml:6:5: tasks[0].type" in message
    assert "pip install 'podium[example]'" in message
    assert "did you mean" not in message


def test_a_missing_module_of_podium_itself_is_not_mistaken_for_a_missing_extra() -> None:
    family = OptionalFamily("io.kestra.plugin.example.", "tasks.no_such_family", "example")
    with pytest.raises(ModuleNotFoundError):
        _registries(family).tasks.get("io.kestra.plugin.example.storage.Upload")


def test_a_missing_required_module_is_found_without_importing_the_family() -> None:
    """`requires` is looked up with find_spec: the family module is not even imported."""
    family = OptionalFamily(
        "io.kestra.plugin.example.", "tasks.no_such_family", "example", ("no_such_sdk_podium",)
    )
    with pytest.raises(FlowDefinitionError, match=r"pip install 'podium\[example\]'"):
        load_flow(FLOW, _registries(family), source="flow.yaml")


def test_the_catalog_imports_no_plugin_sdk() -> None:
    """SDKs cost seconds to import: the catalog registers their families without them,
    and a task imports its SDK when it first uses it."""
    code = (
        "import sys\n"
        "from engine.catalog import default_registries\n"
        "registries = default_registries()\n"
        "assert registries.tasks.get('io.kestra.plugin.gcp.bigquery.Query') is not None\n"
        "sdks = ('boto3', 'botocore', 'google.cloud.bigquery', 'google.cloud.storage',\n"
        "        'openpyxl', 'pyarrow', 'fastavro', 'asyncmy', 'aiosmtplib', 'dbt.version',\n"
        "        'duckdb', 'asyncpg')\n"
        "print(sorted(name for name in sdks if name in sys.modules))\n"
    )
    done = run_python(code)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_lazy_module_imports_on_first_use() -> None:
    module = lazy_import("colorsys")  # not imported by Podium nor by pytest
    sys.modules.pop("colorsys", None)
    assert repr(module) == "<LazyModule colorsys>"
    assert "colorsys" not in sys.modules
    assert module.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules
    with pytest.raises(AttributeError):
        _ = module.no_such_function


def test_every_plugin_model_builds_its_schema() -> None:
    """Models build their pydantic schema on first use (`defer_build`): build every one
    here, so that a broken model fails a test rather than a user's first flow."""
    registries = default_registries()
    for registry in (registries.tasks, registries.triggers, registries.conditions):
        for name, cls in registry:
            if not cls.__pydantic_complete__:  # type: ignore[attr-defined]
                cls.model_rebuild(force=True)  # type: ignore[attr-defined]
            assert cls.__pydantic_complete__, name  # type: ignore[attr-defined]
