"""Task plugins, one package per task family, keyed by Kestra type name.

Tasks see Podium only through `engine.plugin` (the `Task` model and the `RunContext`);
they never import the bus, the store or the executor. `ALL_TASKS` is what the catalog
registers at start; third-party packages add theirs through the `podium.tasks` entry point.

    core/           log, debug, outputs, execution control, flow control, storage,
                    namespace files
    scripts/        Python and shell scripts; runners: local process, Docker
    http/           HTTP download and request
    jdbc/           PostgreSQL and DuckDB queries, COPY in and out
    notifications/  Slack and generic webhooks
    git/            clone, sync from and push to git repositories (Debian's git program)
    dbt/            dbt commands (optional: pip install 'podium[dbt]')

Families with heavy dependencies are `OPTIONAL_FAMILIES`, each behind a pip extra
(`pip install 'podium[gcp]'`): the catalog imports them when their extra is installed and
otherwise refuses their types at load with the command to run.
"""

from engine.plugin import OptionalFamily
from tasks.core import CORE_TASKS
from tasks.git import GIT_TASKS
from tasks.http import HTTP_TASKS
from tasks.jdbc import JDBC_TASKS
from tasks.notifications import NOTIFICATIONS_TASKS
from tasks.scripts import SCRIPTS_TASKS

__all__ = ["ALL_TASKS", "OPTIONAL_FAMILIES"]

ALL_TASKS: tuple[type, ...] = (
    *CORE_TASKS,
    *SCRIPTS_TASKS,
    *HTTP_TASKS,
    *JDBC_TASKS,
    *NOTIFICATIONS_TASKS,
    *GIT_TASKS,
)

# Each module exports TASKS (and TRIGGERS/CONDITIONS if it has any); see engine/catalog.py.
OPTIONAL_FAMILIES: tuple[OptionalFamily, ...] = (
    OptionalFamily("io.kestra.plugin.dbt.", "tasks.dbt", "dbt"),
)
