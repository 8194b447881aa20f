"""io.kestra.plugin.gcp.bigquery.*: datasets, tables, queries and loads of BigQuery.

    Query          sql → fetch / fetchOne / store      outputs jobId, rows|row|uri, size
    CreateDataset  ifExists ERROR/UPDATE/SKIP           outputs dataset, project, …
    CreateTable    dataset, table, tableDefinition      outputs projectId, datasetId, table, …
    DeleteTable    dataset, table                       outputs projectId, datasetId, table
    Load           a CSV file of internal storage       outputs jobId, rows, destinationTable

The connection (projectId, serviceAccount, scopes, endpoint) is the GCS tasks' one
(tasks/gcp/client.py): same credentials, same network policy check, same masking.
Only the properties Podium was tested with are declared: any other (destinationTable on
a Query, JSON or Avro loads…) is refused at load as unknown, never accepted and ignored.
LoadFromGcs stays refused at load (tasks/__init__.py, UNAVAILABLE): the BigQuery server
Podium is tested against (crucible-emulator) has no load from gs:// URIs.

Every SDK call runs in a worker thread (`blocking`) with a socket timeout per request
and a wall-clock bound per call (JOB_WAIT for a job to finish).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from engine.errors import TaskFailed
from engine.plugin import Model, RunContext, Task, lazy_import, plugin
from tasks.gcp.client import GcpConnection, masked, resolve_credentials
from tasks.gcp.client import describe_error as _describe_error
from tasks.jdbc.results import Result, RowFile, fetching_of
from tasks.objectstore import blocking
from tasks.properties import (
    masks_failures,
    render_choice,
    render_flag,
    render_integer,
    render_mapping,
)

if TYPE_CHECKING:
    from google.api_core import exceptions as google_errors
    from google.auth import exceptions as auth_errors
    from google.cloud import bigquery
else:  # the SDK is imported when a task first uses it: the catalog stays fast
    google_errors = lazy_import("google.api_core.exceptions")
    auth_errors = lazy_import("google.auth.exceptions")
    bigquery = lazy_import("google.cloud.bigquery")

__all__ = ["CreateDataset", "CreateTable", "DeleteTable", "Load", "Query"]

DEFAULT_ENDPOINT = "https://bigquery.googleapis.com"
REQUEST_TIMEOUT = 60.0
"""Socket timeout of one HTTP request of the SDK (connect and each read)."""
JOB_WAIT = 3600.0
"""The longest a query or load job is waited for (the job itself keeps running in
BigQuery: Kestra's jobTimeout is not supported)."""
PAGE_ROWS = 10_000
"""Rows read per page of a result, and per hop to a worker thread."""


@dataclass
class BigQuerySession:
    client: bigquery.Client
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def mask(self, text: str) -> str:
        return masked(self.secrets, text)


class BigQueryTask(Task, GcpConnection):
    location: str | None = None

    async def session(self, ctx: RunContext) -> BigQuerySession:
        found = await resolve_credentials(self, ctx.render, DEFAULT_ENDPOINT)
        options = {"api_endpoint": found.endpoint} if found.endpoint else None
        location = ctx.render(self.location) if self.location else None
        try:
            client = bigquery.Client(
                project=found.project or "podium",
                credentials=found.credentials,
                client_options=options,
                location=location,
            )
        except auth_errors.GoogleAuthError as exc:
            raise TaskFailed(f"no Google credentials: {exc}; set serviceAccount") from None
        return BigQuerySession(client, found.secrets)


def describe_error(session: BigQuerySession | None, exc: BaseException, what: str) -> TaskFailed:
    """As for GCS, but a 404 keeps BigQuery's message: it names the missing table."""
    if isinstance(exc, google_errors.NotFound) and exc.message:
        text = f"{what}: not found: {exc.message}"
        return TaskFailed(session.mask(text) if session is not None else text)
    return _describe_error(session, exc, what)


def _json_value(value: Any) -> Any:
    """A value of a fetched row as JSON outputs carry it (as tasks/jdbc does)."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def _table_ref(session: BigQuerySession, text: str, what: str) -> bigquery.TableReference:
    try:
        return bigquery.TableReference.from_string(text, default_project=session.client.project)
    except ValueError:
        raise TaskFailed(f"{what} {text!r} is not [project.]dataset.table") from None


def _table_output(ref: bigquery.TableReference) -> dict[str, str]:
    return {"project": ref.project, "dataset": ref.dataset_id, "table": ref.table_id}


@plugin("io.kestra.plugin.gcp.bigquery.Query")
class Query(BigQueryTask):
    """Run a GoogleSQL query job; keep its rows as Kestra's fetch types say."""

    sql: str
    legacySql: bool | str = False
    defaultDataset: str | None = None
    labels: dict[str, str] | str | None = None
    maximumBytesBilled: int | str | None = None
    useQueryCache: bool | str | None = None
    fetch: bool | str = False
    fetchOne: bool | str = False
    store: bool | str = False
    fetchType: Literal["NONE", "FETCH_ONE", "FETCH", "STORE"] | str = "NONE"
    fetchSize: int | str | None = None

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        fetching = fetching_of(ctx, self)
        sql = ctx.render(self.sql)
        config = bigquery.QueryJobConfig()
        config.use_legacy_sql = _flag(ctx, self.legacySql, "legacySql")
        default_dataset = ctx.render(self.defaultDataset) if self.defaultDataset else None
        if self.labels is not None:
            config.labels = {
                str(k): str(v) for k, v in render_mapping(ctx, self.labels, "labels").items()
            }
        if self.maximumBytesBilled is not None:
            config.maximum_bytes_billed = render_integer(
                ctx, self.maximumBytesBilled, "maximumBytesBilled", minimum=1
            )
        if self.useQueryCache is not None:
            config.use_query_cache = _flag(ctx, self.useQueryCache, "useQueryCache")
        session = await self.session(ctx)
        if default_dataset:
            try:  # "dataset" or "project.dataset", as Kestra takes it
                config.default_dataset = bigquery.DatasetReference.from_string(
                    default_dataset, default_project=session.client.project
                )
            except ValueError:
                raise TaskFailed(
                    f"defaultDataset {default_dataset!r} is not [project.]dataset"
                ) from None
        try:
            job = await blocking(
                lambda: session.client.query(sql, job_config=config, timeout=REQUEST_TIMEOUT)
            )
            rows = await blocking(
                lambda: job.result(page_size=PAGE_ROWS, timeout=JOB_WAIT),
                timeout=JOB_WAIT + REQUEST_TIMEOUT,
            )
        except TaskFailed:
            raise
        except Exception as exc:
            raise describe_error(session, exc, "query") from None
        ctx.logger.info(f"query job {job.job_id} done")
        outputs: dict[str, Any] = {"jobId": job.job_id}
        if job.destination is not None and fetching.kind == "NONE":
            outputs["destinationTable"] = _table_output(job.destination)
        if fetching.kind != "NONE":
            try:
                result = await self._keep(ctx, fetching.kind, rows)
            except TaskFailed:
                raise
            except Exception as exc:
                raise describe_error(
                    session, exc, f"reading the rows of job {job.job_id}"
                ) from None
            outputs.update(result.as_output())
            ctx.metric("fetch.size", result.size)
        return outputs

    async def _keep(self, ctx: RunContext, kind: str, rows: Iterable[Any]) -> Result:
        result = Result(kind)
        iterator = iter(rows)

        def next_page() -> list[dict[str, Any]]:
            page = []
            for row in iterator:  # the SDK fetches the next page when this one is read
                page.append(dict(row.items()))
                if len(page) >= PAGE_ROWS:
                    break
            return page

        if kind == "STORE":
            name = "rows.ion"
            part = ctx.working_dir() / f"{ctx.task_run_id}_{name}"
            writer = RowFile(part)
            handle = await asyncio.to_thread(part.open, "wb")
            try:
                while page := await blocking(next_page):
                    chunk = writer.add(page)
                    if chunk:
                        await asyncio.to_thread(handle.write, chunk)
                await asyncio.to_thread(handle.write, writer.take())
            finally:
                await asyncio.to_thread(handle.close)
            result.size = writer.size
            result.uri = await asyncio.to_thread(ctx.storage.put_file, name, part)
            await asyncio.to_thread(part.unlink)
            return result
        if kind == "FETCH_ONE":
            first = await blocking(next_page)
            result.row = {k: _json_value(v) for k, v in first[0].items()} if first else None
            result.size = 1 if first else 0
            return result
        while page := await blocking(next_page):
            result.add_rows([{k: _json_value(v) for k, v in row.items()} for row in page])
        if result.rows is None:
            result.rows = []
        return result


def _flag(ctx: RunContext, value: Any, name: str) -> bool:
    return bool(render_flag(ctx, value, name))


@plugin("io.kestra.plugin.gcp.bigquery.CreateDataset")
class CreateDataset(BigQueryTask):
    """Create a dataset; if it exists: ERROR (fail) or SKIP (return it as it is).

    Kestra's ifExists UPDATE is refused: the BigQuery server Podium is tested against
    cannot update a dataset, and Podium builds nothing it has not run."""

    name: str
    ifExists: Literal["ERROR", "SKIP"] | str = "ERROR"
    description: str | None = None
    friendlyName: str | None = None
    labels: dict[str, str] | str | None = None
    defaultTableExpirationMs: int | str | None = None

    @model_validator(mode="after")
    def _no_update(self) -> Any:
        if self.ifExists == "UPDATE":
            raise ValueError(_NO_UPDATE)
        return self

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        name = ctx.render(self.name)
        if ctx.render(self.ifExists) == "UPDATE":
            raise TaskFailed(_NO_UPDATE)
        if_exists = render_choice(ctx, self.ifExists, "ifExists", ("ERROR", "SKIP"))
        session = await self.session(ctx)
        dataset = bigquery.Dataset(bigquery.DatasetReference(session.client.project, name))
        for attribute, value in (
            ("description", self.description),
            ("friendly_name", self.friendlyName),
            ("location", self.location),
        ):
            if value is not None:
                setattr(dataset, attribute, ctx.render(value))
        if self.labels is not None:
            dataset.labels = {
                str(k): str(v) for k, v in render_mapping(ctx, self.labels, "labels").items()
            }
        if self.defaultTableExpirationMs is not None:
            dataset.default_table_expiration_ms = render_integer(
                ctx, self.defaultTableExpirationMs, "defaultTableExpirationMs", minimum=1
            )
        try:
            created = await blocking(
                lambda: session.client.create_dataset(dataset, timeout=REQUEST_TIMEOUT)
            )
        except google_errors.Conflict:
            if if_exists == "ERROR":
                raise TaskFailed(f"dataset {name} already exists (ifExists: ERROR)") from None
            try:
                created = await blocking(
                    lambda: session.client.get_dataset(dataset.reference, timeout=REQUEST_TIMEOUT)
                )
            except Exception as exc:
                raise describe_error(session, exc, f"dataset {name}") from None
        except Exception as exc:
            raise describe_error(session, exc, f"creating dataset {name}") from None
        return {
            "dataset": created.dataset_id,
            "project": created.project,
            "friendlyName": created.friendly_name,
            "description": created.description,
            "location": created.location,
        }


_NO_UPDATE = (
    "ifExists UPDATE is not available in Podium yet (the BigQuery server it is tested "
    "against cannot update a dataset); use ERROR or SKIP"
)


class SchemaField(Model):
    """One column of Kestra's `schema.fields` / `tableDefinition.schema.fields`."""

    name: str
    type: str
    mode: Literal["NULLABLE", "REQUIRED", "REPEATED"] = "NULLABLE"
    description: str | None = None


class Schema(Model):
    fields: list[SchemaField]

    def to_api(self) -> list[bigquery.SchemaField]:
        return [
            bigquery.SchemaField.from_api_repr(
                {"name": f.name, "type": f.type.upper(), "mode": f.mode}
                | ({"description": f.description} if f.description is not None else {})
            )
            for f in self.fields
        ]


class TableDefinition(Model):
    type: Literal["TABLE"] = "TABLE"
    schema_: Schema = Field(alias="schema")


def _table_metadata(table: bigquery.Table) -> dict[str, Any]:
    """Kestra's TableMetadata outputs, as far as the server gives them."""
    created = table.created
    return {
        "projectId": table.project,
        "datasetId": table.dataset_id,
        "table": table.table_id,
        "friendlyName": table.friendly_name,
        "description": table.description,
        "numRows": table.num_rows,
        "creationTime": created.isoformat() if created else None,
        "schema": {
            "fields": [{"name": f.name, "type": f.field_type, "mode": f.mode} for f in table.schema]
        },
    }


@plugin("io.kestra.plugin.gcp.bigquery.CreateTable")
class CreateTable(BigQueryTask):
    """Create a table in a dataset from its schema."""

    dataset: str
    table: str
    tableDefinition: TableDefinition
    friendlyName: str | None = None
    description: str | None = None
    labels: dict[str, str] | str | None = None

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        session = await self.session(ctx)
        name = f"{ctx.render(self.dataset)}.{ctx.render(self.table)}"
        ref = _table_ref(session, name, "dataset.table")
        table = bigquery.Table(ref, schema=self.tableDefinition.schema_.to_api())
        if self.friendlyName is not None:
            table.friendly_name = ctx.render(self.friendlyName)
        if self.description is not None:
            table.description = ctx.render(self.description)
        if self.labels is not None:
            table.labels = {
                str(k): str(v) for k, v in render_mapping(ctx, self.labels, "labels").items()
            }
        try:
            created = await blocking(
                lambda: session.client.create_table(table, timeout=REQUEST_TIMEOUT)
            )
        except google_errors.Conflict:
            raise TaskFailed(f"table {name} already exists") from None
        except Exception as exc:
            raise describe_error(session, exc, f"creating table {name}") from None
        return _table_metadata(created)


@plugin("io.kestra.plugin.gcp.bigquery.DeleteTable")
class DeleteTable(BigQueryTask):
    """Delete a table (a missing table fails the task, as in Kestra)."""

    dataset: str
    table: str

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        session = await self.session(ctx)
        name = f"{ctx.render(self.dataset)}.{ctx.render(self.table)}"
        ref = _table_ref(session, name, "dataset.table")
        try:
            await blocking(lambda: session.client.delete_table(ref, timeout=REQUEST_TIMEOUT))
        except Exception as exc:
            raise describe_error(session, exc, f"deleting table {name}") from None
        return {"projectId": ref.project, "datasetId": ref.dataset_id, "table": ref.table_id}


class CsvOptions(Model):
    fieldDelimiter: str = ","
    skipLeadingRows: int | str | None = None


@plugin("io.kestra.plugin.gcp.bigquery.Load")
class Load(BigQueryTask):
    """Load a CSV file of internal storage into a table, with an explicit schema."""

    from_: str = Field(alias="from")
    destinationTable: str
    format: Literal["CSV"] = "CSV"
    csvOptions: CsvOptions | None = None
    schema_: Schema = Field(alias="schema")
    writeDisposition: Literal["WRITE_APPEND", "WRITE_TRUNCATE"] | str | None = None

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = ctx.storage.local_path(ctx.render(self.from_))
        session = await self.session(ctx)
        ref = _table_ref(session, ctx.render(self.destinationTable), "destinationTable")
        config = bigquery.LoadJobConfig(source_format="CSV", schema=self.schema_.to_api())
        options = self.csvOptions or CsvOptions()
        config.field_delimiter = options.fieldDelimiter
        if options.skipLeadingRows is not None:
            config.skip_leading_rows = render_integer(
                ctx, options.skipLeadingRows, "csvOptions.skipLeadingRows", minimum=0
            )
        if self.writeDisposition is not None:
            config.write_disposition = render_choice(
                ctx, self.writeDisposition, "writeDisposition", ("WRITE_APPEND", "WRITE_TRUNCATE")
            )

        def load() -> Any:
            with source.open("rb") as handle:
                job = session.client.load_table_from_file(
                    handle, ref, job_config=config, timeout=REQUEST_TIMEOUT
                )
            return job.result(timeout=JOB_WAIT)

        try:
            job = await blocking(load, timeout=JOB_WAIT + REQUEST_TIMEOUT)
        except FileNotFoundError:
            raise TaskFailed(f"no file in internal storage at {self.from_!r}") from None
        except TaskFailed:
            raise
        except Exception as exc:
            raise describe_error(session, exc, f"loading into {ref}") from None
        rows = job.output_rows or 0
        ctx.metric("rows", rows)
        ctx.logger.info(f"load job {job.job_id}: {rows} rows into {ref}")
        return {"jobId": job.job_id, "rows": rows, "destinationTable": _table_output(ref)}
