"""The catalog imports a plugin family when a flow first names one of its types: its
index (tasks.FAMILIES, triggers.FAMILIES, tasks.OPTIONAL_FAMILIES) must name every
type a family registers, and a lookup must answer as if every family were imported."""

from __future__ import annotations

import importlib
import logging
from typing import Any

import pytest

import tasks
import triggers
from engine.catalog import Catalog, default_registries
from engine.flow import load_flow
from engine.plugin import OptionalFamily, PluginFamily, Task, current_name, plugin

EXPORTS = ("TASKS", "TRIGGERS", "CONDITIONS")


def _installed(family: PluginFamily | OptionalFamily) -> bool:
    return not isinstance(family, OptionalFamily) or family.missing_module() is None


# module -> the prefixes of every index entry that names it (an optional family may sit
# under several: MailSend's former home is an entry of its own)
PREFIXES: dict[str, tuple[str, ...]] = {}
for _family in (*tasks.FAMILIES, *triggers.FAMILIES, *tasks.OPTIONAL_FAMILIES):
    if _installed(_family):
        PREFIXES[_family.module] = (*PREFIXES.get(_family.module, ()), *_family.prefixes)


def _catalog() -> Catalog:
    return Catalog(
        (*tasks.FAMILIES, *triggers.FAMILIES, *tasks.OPTIONAL_FAMILIES),
        unavailable=tasks.UNAVAILABLE,
    )


@pytest.mark.parametrize("module", sorted(PREFIXES))
def test_every_name_of_a_family_is_under_its_prefixes(module: str) -> None:
    """A lookup loads the families whose prefixes the name (in its current spelling)
    starts with: a name outside them would be found only by loading everything."""
    exported = importlib.import_module(module)
    names = {
        name
        for export in EXPORTS
        for cls in getattr(exported, export, ())
        for name in (cls.type_name, *cls.aliases)
    }
    assert names, f"{module} exports no plugin"
    prefixes = PREFIXES[module]
    outside = sorted(n for n in names if not current_name(n).startswith(prefixes))
    assert not outside, f"{module} registers names outside its prefixes: {outside}"
    # and no prefix is stale (Kestra's former homes are aliases, so some name is there)
    for prefix in prefixes:
        assert any(current_name(n).startswith(prefix) for n in names), (module, prefix)


def test_each_module_is_one_family_of_the_index() -> None:
    modules = [f.module for f in (*tasks.FAMILIES, *triggers.FAMILIES)]
    assert len(modules) == len(set(modules))


@pytest.mark.parametrize("kind", ["tasks", "triggers", "conditions"])
def test_a_lookup_finds_every_type_without_loading_everything(kind: str) -> None:
    """Each name, looked up in a fresh catalog, gives the class the whole catalog holds,
    by importing only the families its prefixes name."""
    everything = dict(getattr(_catalog().registries, kind))
    assert everything
    for name, cls in everything.items():
        catalog = _catalog()
        assert getattr(catalog.registries, kind).get(name) is cls, name
        assert not catalog._is_complete, f"looking up {name} loaded every family"


def test_kestra_0x_names_load_their_family() -> None:
    catalog = _catalog()
    registries = catalog.registries
    assert registries.tasks.get("io.kestra.core.tasks.log.Log") is registries.tasks.get(
        "io.kestra.plugin.core.log.Log"
    )
    assert registries.conditions.get("io.kestra.core.models.conditions.types.VariableCondition")
    assert not catalog._is_complete


def test_listing_loads_everything_in_the_order_of_the_index() -> None:
    catalog = _catalog()
    tasks_registry = catalog.registries.tasks
    assert tasks_registry.get("io.kestra.plugin.core.log.Log") is not None
    names = tasks_registry.names()
    assert catalog._is_complete
    assert "io.kestra.plugin.jdbc.postgresql.Query" in names
    assert "io.kestra.plugin.core.trigger.Schedule" in dict(catalog.registries.triggers)


def test_an_unknown_type_is_refused_with_suggestions_from_every_family() -> None:
    registries = _catalog().registries
    assert registries.tasks.get("io.kestra.plugin.scripts.python.Scrpit") is None
    suggested = registries.tasks.suggest("io.kestra.plugin.scripts.python.Scrpit")
    assert suggested[0] == "io.kestra.plugin.scripts.python.Script"
    assert "LoadFromGcs" in (
        registries.tasks.unavailable_reason("io.kestra.plugin.gcp.bigquery.LoadFromGcs") or ""
    )


@plugin("io.kestra.plugin.core.log.Shout")
class Shout(Task):
    """A third-party task under a prefix of Podium's own."""


@plugin("io.kestra.plugin.core.log.Log")
class FakeLog(Task):
    """A third-party task that takes one of Podium's names."""


class _EntryPoint:
    def __init__(self, name: str, classes: tuple[type, ...]) -> None:
        self.name = name
        self.classes = classes

    def load(self) -> tuple[type, ...]:
        return self.classes


def test_entry_points_come_after_every_family(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A third-party type under Podium's prefixes is found (the family misses, then
    everything loads); one that reuses a name of Podium's is refused, as at start."""

    def entry_points(*, group: str) -> list[Any]:
        if group == "podium.tasks":
            return [_EntryPoint("shout", (Shout,)), _EntryPoint("fake", (FakeLog,))]
        return []

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    registries = Catalog(tasks.FAMILIES, has_entry_points=True).registries
    with caplog.at_level(logging.ERROR, logger="podium.catalog"):
        assert registries.tasks.get("io.kestra.plugin.core.log.Shout") is Shout
    assert registries.tasks.get("io.kestra.plugin.core.log.Log") is not FakeLog
    assert "could not load plugin entry point fake" in caplog.text


def test_a_registry_filled_by_its_catalog_stays_frozen() -> None:
    registries = _catalog().registries
    with pytest.raises(RuntimeError, match="frozen"):
        registries.tasks.register(Shout)


LOG_ONLY = """
id: hello
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "{{ 'hello' }}"
"""


def test_the_default_catalog_loads_a_flow() -> None:
    flow = load_flow(LOG_ONLY, default_registries())
    assert type(flow.tasks[0]).__module__ == "tasks.core.log"
