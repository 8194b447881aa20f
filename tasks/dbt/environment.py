"""Which dbt a task on the Process runner runs.

dbt is a large program with strict pins of its own, and each warehouse needs its adapter
package (`dbt-duckdb`, `dbt-postgres`…). A task on the Process runner runs:
- the dbt installed beside Podium (`pip install 'podium[dbt]'`) when that Python has dbt
  and every adapter the profiles name: nothing to install;
- otherwise a cached virtual environment holding dbt-core and those adapters, built once
  per adapter set by the same cache as Python scripts' `dependencies`
  (tasks/scripts/deps.py) and reused by every later run.

The adapters are read from the rendered `profiles` (each output's `type`), or from the
`profiles.yml` of the project folder when the task gives none.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

import yaml

from engine.errors import TaskFailed

__all__ = ["DBT_CORE", "adapters_in_profiles", "beside_podium", "requirements"]

# dbt-core 1.11 downloads a wheel from GitHub while it installs: 1.10 installs from PyPI.
DBT_CORE = "dbt-core>=1.10,<1.11"
ADAPTER_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def adapters_in_profiles(text: str | None) -> list[str]:
    """The adapter types a profiles.yml names, sorted: `{taxi: {outputs: {dev: {type:
    duckdb}}}}` → ["duckdb"]. A type that is not a plain package-name word is refused
    (it becomes a pip requirement)."""
    if not text:
        return []
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TaskFailed(f"'profiles' is not valid YAML: {exc}") from None
    found: set[str] = set()
    for profile in (document or {}).values() if isinstance(document, dict) else ():
        outputs = profile.get("outputs") if isinstance(profile, dict) else None
        for output in (outputs or {}).values() if isinstance(outputs, dict) else ():
            kind = output.get("type") if isinstance(output, dict) else None
            if kind is None:
                continue
            name = str(kind).strip().lower()
            if not name or not set(name) <= ADAPTER_NAME_CHARS or name.startswith("-"):
                raise TaskFailed(f"'profiles' names an invalid adapter type {kind!r}")
            found.add(name)
    return sorted(found)


def adapters_in_project(project: Path) -> list[str]:
    path = project / "profiles.yml"
    if not path.is_file():
        return []
    return adapters_in_profiles(path.read_text(encoding="utf-8"))


def beside_podium(adapters: Iterable[str]) -> bool:
    """Whether the Python running Podium has dbt and every one of `adapters`."""
    try:
        if importlib.util.find_spec("dbt.cli") is None:
            return False
        return all(
            importlib.util.find_spec(f"dbt.adapters.{name.replace('-', '_')}") is not None
            for name in adapters
        )
    except (ImportError, ValueError):
        return False


def requirements(adapters: Iterable[str]) -> list[str]:
    """The pip requirements of a cached dbt environment for `adapters`."""
    return [DBT_CORE, *(f"dbt-{name}" for name in sorted(set(adapters)))]
