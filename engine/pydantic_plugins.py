"""Pydantic's plugin scan, answered cheaply when no installed package has a plugin.

At the first schema it builds, pydantic imports `importlib.metadata` (with `email` and
`csv`) and parses the entry points of every installed distribution, looking for the
group `pydantic` (its plugins, e.g. an observability SDK's). In a venv of some 200
distributions that is ~90 M instructions, a quarter of what a `podium flow run` of a
1-task flow spends outside the interpreter's own start (bench/README.md, session 11).

`skip_empty_plugin_scan()` reads each distribution's `entry_points.txt` as bytes instead;
when none mentions "pydantic", it fills pydantic's cache of plugins with what its own
scan would have found, nothing, and pydantic's loader is imported with a stand-in for
`importlib.metadata` that imports the real module only if pydantic scans after all.
When a file does mention "pydantic", or the search path holds something this check does
not read (a zip, an egg, a finder of distributions other than the standard one),
pydantic scans as it always did. `PYDANTIC_DISABLE_PLUGINS`, when set, is pydantic's to read: nothing is
checked. Only the `podium` command calls this (engine/cli.py), once, before any schema.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from types import ModuleType
from typing import Any

__all__ = ["has_pydantic_entry_points", "skip_empty_plugin_scan"]

_INFO_SUFFIXES = (".dist-info", ".egg-info")


def has_pydantic_entry_points(paths: list[str] | None = None) -> bool | None:
    """False when no distribution on `paths` (default: sys.path) can declare an entry
    point of the group `pydantic`; True when one may (its entry_points.txt says
    "pydantic" somewhere); None when something here is not read (then ask pydantic)."""
    for finder in sys.meta_path:
        if finder is not importlib.machinery.PathFinder and hasattr(finder, "find_distributions"):
            return None  # distributions found elsewhere than in folders on the path
    for entry in sys.path if paths is None else paths:
        if not isinstance(entry, str):
            return None
        root = entry or "."
        if os.path.basename(root).lower().endswith(".egg"):
            return None
        try:
            children = os.scandir(root)
        except (FileNotFoundError, NotADirectoryError):
            if os.path.isfile(root):
                return None  # a zip file on the path: importlib.metadata reads inside it
            continue  # importlib.metadata skips what does not exist as well
        except OSError:
            return None
        with children:
            for child in children:
                if not child.name.lower().endswith(_INFO_SUFFIXES):
                    continue
                try:
                    with open(os.path.join(child.path, "entry_points.txt"), "rb") as file:
                        if b"pydantic" in file.read():
                            return True
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except OSError:
                    return None
    return False


class _MetadataOnUse(ModuleType):
    """Stands for `importlib.metadata` in pydantic's plugin loader, which imports it at
    the top and uses it only to scan: the real module is imported on the first
    attribute asked for, and answers it."""

    def __getattr__(self, name: str) -> Any:
        import importlib.metadata

        return getattr(importlib.metadata, name)


def _plugin_loader() -> ModuleType:
    """pydantic's plugin loader, importing a stand-in for `importlib.metadata` (only
    while it is imported: anyone else importing it later gets the real module)."""
    name = "importlib.metadata"
    if name in sys.modules or "pydantic.plugin._loader" in sys.modules:
        from pydantic.plugin import _loader

        return _loader
    stand_in = _MetadataOnUse(name)
    sys.modules[name] = stand_in
    try:
        from pydantic.plugin import _loader
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
    return _loader


def skip_empty_plugin_scan() -> bool:
    """Tell pydantic it has no plugins when no installed distribution declares one.
    True when done; False when pydantic is left to scan (or to read its variable)."""
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") is not None:
        return False
    if has_pydantic_entry_points() is not False:
        return False
    loader = _plugin_loader()
    if getattr(loader, "_plugins", False) is not None:
        return False  # scanned already, or a pydantic whose cache is another
    loader._plugins = {}  # type: ignore[attr-defined]  # what its own scan finds: nothing
    return True
