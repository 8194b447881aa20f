"""Task plugins, one module per task family, keyed by Kestra type name.

Tasks see Podium only through `engine.plugin` (the `Task` model and the `RunContext`);
they never import the bus, the store or the executor. `ALL_TASKS` is what the catalog
registers at start; third-party packages add theirs through the `podium.tasks` entry point.
"""

from tasks.core import CORE_TASKS

__all__ = ["ALL_TASKS"]

ALL_TASKS: tuple[type, ...] = (*CORE_TASKS,)
