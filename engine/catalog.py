"""The plugins this process knows: Podium's own and those of installed packages.

What a flow may use is decided once, at start, from an explicit index: the families of
`tasks.FAMILIES`, `triggers.FAMILIES` and `tasks.OPTIONAL_FAMILIES` (each a module and
the type-name prefixes of its classes), the types `tasks.UNAVAILABLE` refuses, and the
`podium.*` entry points. The registries are frozen at once, but a family's module is
imported only when a flow first names a type under its prefixes: importing every family
builds some 300 pydantic models (half a second), and `podium flow run` of a flow that
logs one line needs two of them. Whatever lists every type (the flow JSON schema, the
plugins API, `suggest`) asks the registry to load everything, and an unknown name does
too before it is refused, so no lookup answers differently than with every family
imported up front.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Sequence
from functools import cache

from engine.flow import Registries
from engine.plugin import OptionalFamily, PluginFamily, PluginRegistry

__all__ = ["Catalog", "default_registries"]

log = logging.getLogger("podium.catalog")


@cache
def default_registries() -> Registries:
    from tasks import FAMILIES, OPTIONAL_FAMILIES, UNAVAILABLE
    from triggers import FAMILIES as TRIGGER_FAMILIES

    return Catalog(
        (*FAMILIES, *TRIGGER_FAMILIES, *OPTIONAL_FAMILIES),
        unavailable=UNAVAILABLE,
        has_entry_points=True,
    ).registries


class Catalog:
    """Fills three registries from an index of families, each family when first needed.

    Families load in the order given when everything loads, and entry points only after
    all of them, so a third-party plugin that reuses one of Podium's names is refused as
    it was when everything was registered at start."""

    def __init__(
        self,
        families: Sequence[PluginFamily | OptionalFamily],
        *,
        unavailable: Sequence[tuple[str, str]] = (),
        has_entry_points: bool = False,
    ) -> None:
        self.families = tuple(families)
        self.has_entry_points = has_entry_points
        self.registries = Registries(
            PluginRegistry("task", loader=self),
            PluginRegistry("trigger", loader=self),
            PluginRegistry("condition", loader=self),
        )
        self._loaded: set[PluginFamily | OptionalFamily] = set()
        self._is_complete = False
        self._lock = threading.RLock()  # flows may be validated in worker threads
        for prefix, reason in unavailable:
            for registry in self._all_registries():
                registry.mark_unavailable(prefix, reason)
        for registry in self._all_registries():
            registry.freeze()

    def __repr__(self) -> str:
        return f"<Catalog {len(self._loaded)}/{len(self.families)} families loaded>"

    def _all_registries(self) -> tuple[PluginRegistry, ...]:
        return (self.registries.tasks, self.registries.triggers, self.registries.conditions)

    def load_for(self, type_name: str) -> None:
        """Import every family that has a prefix of `type_name`."""
        with self._lock:
            for family in self.families:
                if family not in self._loaded and type_name.startswith(family.prefixes):
                    self._load(family)

    def load_all(self) -> None:
        """Import every family, then every entry point."""
        if self._is_complete:
            return
        with self._lock:
            if self._is_complete:
                return
            for family in self.families:
                if family not in self._loaded:
                    self._load(family)
            self._load_entry_points()
            self._is_complete = True

    def _load(self, family: PluginFamily | OptionalFamily) -> None:
        self._loaded.add(family)  # a family that failed once is not retried per lookup
        if isinstance(family, OptionalFamily):
            missing = family.missing_module()
            if missing is not None:
                self._mark_unavailable(family, missing)
                return
        try:
            module = importlib.import_module(family.module)
        except ModuleNotFoundError as exc:
            is_ours = exc.name and (exc.name == family.module or exc.name.startswith("tasks."))
            if not isinstance(family, OptionalFamily) or is_ours:
                raise  # our own module is missing: a packaging bug, not a missing extra
            self._mark_unavailable(family, exc.name)
            return
        self.registries.tasks.add(*getattr(module, "TASKS", ()))
        self.registries.triggers.add(*getattr(module, "TRIGGERS", ()))
        self.registries.conditions.add(*getattr(module, "CONDITIONS", ()))

    def _mark_unavailable(self, family: OptionalFamily, missing: str | None) -> None:
        for registry in self._all_registries():
            registry.mark_unavailable(family.prefix, family.install_hint)
        log.debug("plugin family %s unavailable: no module %s", family.prefix, missing)

    def _load_entry_points(self) -> None:
        if not self.has_entry_points:
            return
        from importlib.metadata import entry_points  # reads every installed package's metadata

        for registry in self._all_registries():
            for entry in entry_points(group=f"podium.{registry.kind}s"):
                try:
                    registry.add(*entry.load())
                except Exception:  # a broken third-party plugin must not stop Podium
                    log.exception("could not load plugin entry point %s", entry.name)
