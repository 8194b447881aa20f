"""Task plugins, one package per task family, keyed by Kestra type name.

Tasks see Podium only through `engine.plugin` (the `Task` model and the `RunContext`);
they never import the bus, the store or the executor. `FAMILIES` is the index the
catalog (engine/catalog.py) registers at start: each family is a module exporting
`TASKS` (and `TRIGGERS`) and the type-name prefixes of its classes, imported when a
flow first names one of them; third-party packages add theirs through the
`podium.tasks` entry point.

    core/           log, debug, outputs, execution control, flow control, storage,
                    namespace files (one family per module)
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

This package imports no family: tests/engine/test_catalog.py checks that every type a
family registers lies under one of its prefixes.
"""

from engine.plugin import OptionalFamily, PluginFamily

__all__ = ["FAMILIES", "OPTIONAL_FAMILIES", "UNAVAILABLE"]

_CORE = "io.kestra.plugin.core."
_FLOW = f"{_CORE}flow."
_STORAGE = f"{_CORE}storage."
_JDBC = "io.kestra.plugin.jdbc."
_SERDES = "io.kestra.plugin.serdes."
FAMILIES: tuple[PluginFamily, ...] = (
    PluginFamily("tasks.core.log", (f"{_CORE}log.",)),
    PluginFamily("tasks.core.debug", (f"{_CORE}debug.", f"{_CORE}output.")),
    PluginFamily("tasks.core.execution", (f"{_CORE}execution.",)),
    PluginFamily("tasks.core.count", (f"{_CORE}execution.Count",)),
    PluginFamily(
        "tasks.core.purge",
        (f"{_CORE}execution.PurgeExecutions", f"{_CORE}log.PurgeLogs", f"{_STORAGE}Purge"),
    ),
    PluginFamily("tasks.core.branching", (f"{_FLOW}If", f"{_FLOW}Switch")),
    PluginFamily(
        "tasks.core.grouping",
        (
            f"{_FLOW}AllowFailure",
            f"{_FLOW}Dag",
            f"{_FLOW}Parallel",
            f"{_FLOW}Sequential",
            f"{_FLOW}WorkingDirectory",
        ),
    ),
    PluginFamily("tasks.core.loops", (f"{_FLOW}ForEach", f"{_FLOW}WaitFor")),
    PluginFamily("tasks.core.for_each_item", (f"{_FLOW}ForEachItem",)),
    PluginFamily("tasks.core.subflow", (f"{_FLOW}Subflow", f"{_FLOW}Flow")),
    PluginFamily("tasks.core.waiting", (f"{_FLOW}Pause", f"{_FLOW}Sleep")),
    PluginFamily("tasks.core.storage", (_STORAGE,)),
    PluginFamily(
        "tasks.core.storage_items", (f"{_STORAGE}DeduplicateItems", f"{_STORAGE}FilterItems")
    ),
    PluginFamily("tasks.core.storage_split", (f"{_STORAGE}Split",)),
    PluginFamily("tasks.core.namespace", (f"{_CORE}namespace.",)),
    PluginFamily(
        "tasks.core.kv", (f"{_CORE}kv.", f"{_CORE}state.", "io.kestra.core.tasks.states.")
    ),
    PluginFamily(
        "tasks.core.templating", (f"{_CORE}templating.", "io.kestra.core.tasks.templating.")
    ),
    PluginFamily("tasks.core.trigger", (f"{_CORE}trigger.Toggle", "io.kestra.core.tasks.trigger.")),
    PluginFamily("tasks.scripts.python", ("io.kestra.plugin.scripts.python.",)),
    PluginFamily("tasks.scripts.shell", ("io.kestra.plugin.scripts.shell.",)),
    PluginFamily("tasks.http", (f"{_CORE}http.", "io.kestra.plugin.fs.http.")),
    PluginFamily("tasks.jdbc", (f"{_JDBC}postgresql.", f"{_JDBC}duckdb.", f"{_JDBC}sqlite.")),
    PluginFamily(
        "tasks.notifications",
        (
            "io.kestra.plugin.notifications.",
            "io.kestra.plugin.slack.notifications.",
            "io.podium.plugin.notifications.",
        ),
    ),
    PluginFamily("tasks.serdes", (f"{_SERDES}csv.", f"{_SERDES}json.", f"{_SERDES}xml.")),
    PluginFamily("tasks.git", ("io.kestra.plugin.git.",)),
)

# Each module exports TASKS (and TRIGGERS/CONDITIONS if it has any); see engine/catalog.py.
# `requires` lists the modules each extra installs: they are looked for when a flow first
# names a type of the family, and imported only when one of its tasks runs
# (engine.plugin.lazy_import).
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
