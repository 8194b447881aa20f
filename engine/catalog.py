"""The plugins this process knows: Podium's own and those of installed packages.

Registries are filled explicitly here and frozen, so what a flow may use is decided
once, at start, and never by import side effects.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from importlib.metadata import entry_points

from engine.flow import Registries
from engine.plugin import OptionalFamily, PluginRegistry

__all__ = ["default_registries"]

log = logging.getLogger("podium.catalog")


@cache
def default_registries() -> Registries:
    from tasks import ALL_TASKS, ALL_TRIGGERS
    from triggers import CONDITIONS, TRIGGERS

    registries = Registries(
        PluginRegistry("task"), PluginRegistry("trigger"), PluginRegistry("condition")
    )
    from tasks import OPTIONAL_FAMILIES, UNAVAILABLE

    registries.tasks.register(*ALL_TASKS)
    registries.triggers.register(*TRIGGERS, *ALL_TRIGGERS)
    registries.conditions.register(*CONDITIONS)
    for family in OPTIONAL_FAMILIES:
        _register_family(registries, family)
    for prefix, reason in UNAVAILABLE:
        for registry in (registries.tasks, registries.triggers, registries.conditions):
            registry.mark_unavailable(prefix, reason)
    for group, registry in (
        ("podium.tasks", registries.tasks),
        ("podium.triggers", registries.triggers),
        ("podium.conditions", registries.conditions),
    ):
        for entry in entry_points(group=group):
            try:
                registry.register(*entry.load())
            except Exception:  # a broken third-party plugin must not stop Podium
                log.exception("could not load plugin entry point %s", entry.name)
    for registry in (registries.tasks, registries.triggers, registries.conditions):
        registry.freeze()
    return registries


def _register_family(registries: Registries, family: OptionalFamily) -> None:
    """Register a family behind an extra, or mark its types as needing that extra.

    The extra's modules are looked for, not imported: the family imports its SDK when
    one of its tasks runs."""
    missing = family.missing_module()
    if missing is not None:
        _mark_family_unavailable(registries, family, missing)
        return
    try:
        module = importlib.import_module(family.module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == family.module or exc.name.startswith("tasks.")):
            raise  # our own module is missing: a packaging bug, not a missing extra
        _mark_family_unavailable(registries, family, exc.name)
        return
    registries.tasks.register(*getattr(module, "TASKS", ()))
    registries.triggers.register(*getattr(module, "TRIGGERS", ()))
    registries.conditions.register(*getattr(module, "CONDITIONS", ()))


def _mark_family_unavailable(
    registries: Registries, family: OptionalFamily, missing: str | None
) -> None:
    for registry in (registries.tasks, registries.triggers, registries.conditions):
        registry.mark_unavailable(family.prefix, family.install_hint)
    log.debug("plugin family %s unavailable: no module %s", family.prefix, missing)
