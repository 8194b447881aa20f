"""The plugins this process knows: Podium's own and those of installed packages.

Registries are filled explicitly here and frozen, so what a flow may use is decided
once, at start, and never by import side effects.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from engine.flow import Registries
from engine.plugin import PluginRegistry

__all__ = ["default_registries"]

log = logging.getLogger("podium.catalog")


@cache
def default_registries() -> Registries:
    from tasks import ALL_TASKS
    from triggers import CONDITIONS, TRIGGERS

    registries = Registries(
        PluginRegistry("task"), PluginRegistry("trigger"), PluginRegistry("condition")
    )
    registries.tasks.register(*ALL_TASKS)
    registries.triggers.register(*TRIGGERS)
    registries.conditions.register(*CONDITIONS)
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
