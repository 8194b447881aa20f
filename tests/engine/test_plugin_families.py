"""Plugin families behind a pip extra: missing dependencies refuse their types at load with
the command to run; a missing module of Podium's own is a bug that stops start-up."""

from __future__ import annotations

import pytest

from engine.catalog import _register_family
from engine.errors import FlowDefinitionError
from engine.flow import Registries, load_flow
from engine.plugin import OptionalFamily, PluginRegistry
from tasks import ALL_TASKS

FLOW = """
id: uses_a_family
namespace: t
tasks:
  - id: upload
    type: io.kestra.plugin.example.storage.Upload
    from: "{{ inputs.file }}"
"""


def _registries(family: OptionalFamily) -> Registries:
    registries = Registries(
        PluginRegistry("task"), PluginRegistry("trigger"), PluginRegistry("condition")
    )
    registries.tasks.register(*ALL_TASKS)
    _register_family(registries, family)
    return registries


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
        _registries(family)
