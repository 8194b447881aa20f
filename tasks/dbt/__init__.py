"""dbt: run dbt commands as script tasks (pip install 'podium[dbt]').

cli.py      dbt.cli.DbtCLI and Build/Run/Test/Seed/Snapshot/Compile/Deps
results.py  dbt's JSON log lines and run_results.json, read for Podium
"""

from tasks.dbt.cli import COMMAND_TASKS, DbtCLI

__all__ = ["TASKS"]

TASKS: tuple[type, ...] = (DbtCLI, *COMMAND_TASKS)
