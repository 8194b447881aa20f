"""Task plugins, one package per task family, keyed by Kestra type name.

Tasks see Podium only through `engine.plugin` (the `Task` model and the `RunContext`);
they never import the bus, the store or the executor. `ALL_TASKS` is what the catalog
registers at start; third-party packages add theirs through the `podium.tasks` entry point.

    core/           log, debug, outputs, execution control, flow control, storage,
                    namespace files
    scripts/        Python and shell scripts; runners: local process, Docker
    http/           HTTP download and request; the HTTP polling trigger
    jdbc/           PostgreSQL, DuckDB, SQLite queries, COPY in and out, Batch; MySQL
                    (extra `mysql`)
    notifications/  Slack and generic webhooks; executions' summaries to chat tools
    email/          MailSend, MailExecution over SMTP (extra `email`)
    serdes/         CSV, JSON, XML files to and from Ion, Kestra's row format (Excel,
                    Avro and Parquet behind the `serdes` extra)
    git/            clone, sync from and push to git repositories (Debian's git program)
    dbt/            dbt commands (optional: pip install 'podium[dbt]')

Families with heavy dependencies are `OPTIONAL_FAMILIES`, each behind a pip extra
(`pip install 'podium[gcp]'`): the catalog registers them when their extra's modules are
installed (looked up, not imported: a family imports its SDK with
`engine.plugin.lazy_import`, when one of its tasks first uses it) and otherwise refuses
their types at load with the command to run.
"""

from engine.plugin import OptionalFamily
from tasks.core import CORE_TASKS
from tasks.git import GIT_TASKS
from tasks.http import HTTP_TASKS, HTTP_TRIGGERS
from tasks.jdbc import JDBC_TASKS, JDBC_TRIGGERS
from tasks.notifications import NOTIFICATIONS_TASKS
from tasks.scripts import SCRIPTS_TASKS
from tasks.serdes import SERDES_TASKS

__all__ = ["ALL_TASKS", "ALL_TRIGGERS", "OPTIONAL_FAMILIES", "UNAVAILABLE"]

ALL_TASKS: tuple[type, ...] = (
    *CORE_TASKS,
    *SCRIPTS_TASKS,
    *HTTP_TASKS,
    *JDBC_TASKS,
    *NOTIFICATIONS_TASKS,
    *SERDES_TASKS,
    *GIT_TASKS,
)

# Triggers that live beside their task family (a query or an endpoint polled).
ALL_TRIGGERS: tuple[type, ...] = (*JDBC_TRIGGERS, *HTTP_TRIGGERS)

# Each module exports TASKS (and TRIGGERS/CONDITIONS if it has any); see engine/catalog.py.
# `requires` lists the modules each extra installs: they are looked for at start and
# imported only when a task of the family runs (engine.plugin.lazy_import).
_GCP = ("google.cloud.bigquery", "google.cloud.storage", "google.auth", "google.api_core")
OPTIONAL_FAMILIES: tuple[OptionalFamily, ...] = (
    OptionalFamily("io.kestra.plugin.gcp.", "tasks.gcp", "gcp", _GCP),
    OptionalFamily("io.kestra.plugin.aws.", "tasks.aws", "aws", ("boto3", "botocore")),
    OptionalFamily("io.kestra.plugin.email.", "tasks.email", "email", ("aiosmtplib",)),
    # MailSend and MailExecution's former home, which Kestra keeps as aliases
    OptionalFamily("io.kestra.plugin.notifications.mail.", "tasks.email", "email", ("aiosmtplib",)),
    OptionalFamily("io.kestra.plugin.jdbc.mysql.", "tasks.jdbc.mysql", "mysql", ("asyncmy",)),
    OptionalFamily("io.kestra.plugin.serdes.excel.", "tasks.serdes.excel", "serdes", ("openpyxl",)),
    OptionalFamily("io.kestra.plugin.serdes.avro.", "tasks.serdes.avro", "serdes", ("fastavro",)),
    OptionalFamily(
        "io.kestra.plugin.serdes.parquet.", "tasks.serdes.parquet", "serdes", ("pyarrow",)
    ),
    OptionalFamily("io.kestra.plugin.dbt.", "tasks.dbt", "dbt", ("dbt.version",)),
)

# Kestra types Podium knows it lacks: a flow using one is refused at load with the reason.
UNAVAILABLE: tuple[tuple[str, str], ...] = (
    (
        "io.kestra.plugin.gcp.bigquery.LoadFromGcs",
        "BigQuery LoadFromGcs is not available in Podium yet: the BigQuery server Podium is "
        "tested against (crucible-emulator) has no load from gs:// URIs; download the file "
        "with io.kestra.plugin.gcp.gcs.Download and use io.kestra.plugin.gcp.bigquery.Load "
        "(see docs/plugins.md, BigQuery)",
    ),
)
