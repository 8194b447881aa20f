"""The dbt family registers through tasks.OPTIONAL_FAMILIES, git with the core tasks;
their flows load strictly (unknown properties refused with a suggestion)."""

from __future__ import annotations

import pytest

from engine.catalog import default_registries
from engine.errors import FlowDefinitionError
from engine.flow import load_flow
from tasks import OPTIONAL_FAMILIES

GIT_TYPES = ("Clone", "SyncFlows", "SyncNamespaceFiles", "PushFlows", "PushNamespaceFiles")
DBT_TYPES = ("DbtCLI", "Build", "Run", "Test", "Seed", "Snapshot", "Compile", "Deps")


def test_dbt_is_optional_git_is_always_there() -> None:
    extras = {family.prefix: family.extra for family in OPTIONAL_FAMILIES}
    assert extras["io.kestra.plugin.dbt."] == "dbt"
    assert not any(p.startswith("io.kestra.plugin.git.") for p in extras)  # no Python package
    tasks = default_registries().tasks
    for name in GIT_TYPES:
        assert f"io.kestra.plugin.git.{name}" in tasks
    for name in DBT_TYPES:
        assert f"io.kestra.plugin.dbt.cli.{name}" in tasks


@pytest.mark.parametrize(
    ("task", "wrong", "suggested"),
    [
        ("io.kestra.plugin.git.SyncFlows", "targetNamspace: prod", "targetNamespace"),
        ("io.kestra.plugin.dbt.cli.DbtCLI", "profile: x", "profiles"),
    ],
)
def test_unknown_properties_are_refused_with_a_suggestion(
    task: str, wrong: str, suggested: str
) -> None:
    source = f"""
id: f
namespace: n
tasks:
  - id: t
    type: {task}
    url: https://example.com/r.git
    commands: [dbt build]
    {wrong}
"""
    if "dbt" in task:
        source = source.replace("    url: https://example.com/r.git\n", "")
    else:
        source = source.replace("    commands: [dbt build]\n", "").replace(
            "    targetNamspace", "    targetNamespace: prod\n    targetNamspace"
        )
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(source, default_registries(), source="f.yaml")
    assert f"did you mean {suggested!r}" in str(caught.value), str(caught.value)
