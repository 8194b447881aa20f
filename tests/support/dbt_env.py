"""The cache of dbt environments the Process-runner dbt test reuses across test runs.

A Podium without dbt beside it builds a virtualenv with dbt-core and the profiles'
adapters on a task's first run (tasks/dbt/environment.py); that build takes about a
minute, so the tests keep the cache under ~/.cache/podium-tests and link each test
Podium's `cache/python-envs` to it. `python -m tests.support.dbt_env` builds the DuckDB
environment there through the task's own code path (scripts/test does, as a timed step).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tasks.dbt.environment import requirements
from tasks.scripts.deps import PythonEnvironments

__all__ = ["ADAPTERS", "link_shared_cache", "shared_cache"]

ADAPTERS = ["duckdb"]


def shared_cache() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "podium-tests"
    return cache / "dbt-python-envs"


def link_shared_cache(data: Path) -> Path:
    """Make `data`'s Podium keep its Python environments in the shared cache."""
    root = shared_cache()
    root.mkdir(parents=True, exist_ok=True)
    (data / "cache").mkdir(parents=True, exist_ok=True)
    (data / "cache" / "python-envs").symlink_to(root, target_is_directory=True)
    return root


async def _build() -> Path:
    environments = PythonEnvironments(shared_cache(), dict(os.environ))
    built = await environments.ensure(requirements(ADAPTERS), "PIP", lambda _l, m: print(m))
    return built.path


if __name__ == "__main__":
    print(asyncio.run(_build()))
