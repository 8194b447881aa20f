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
"""

from tasks.core import CORE_TASKS
from tasks.http import HTTP_TASKS
from tasks.jdbc import JDBC_TASKS
from tasks.notifications import NOTIFICATIONS_TASKS
from tasks.scripts import SCRIPTS_TASKS

__all__ = ["ALL_TASKS"]

ALL_TASKS: tuple[type, ...] = (
    *CORE_TASKS,
    *SCRIPTS_TASKS,
    *HTTP_TASKS,
    *JDBC_TASKS,
    *NOTIFICATIONS_TASKS,
)
