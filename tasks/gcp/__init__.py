"""Google Cloud Storage: io.kestra.plugin.gcp.gcs.* tasks and the gcs.Trigger, behind
the `gcp` extra (google-cloud-storage).

    client    connection properties, credentials, endpoint and policy checks, errors
    gcs       the tasks
    trigger   the polling trigger (run by triggers/polling.py)

    bigquery  io.kestra.plugin.gcp.bigquery.* (google-cloud-bigquery): Query, Load,
              CreateDataset, CreateTable, DeleteTable; LoadFromGcs is refused at load
              (tasks/__init__.py, UNAVAILABLE)
"""

from tasks.gcp.bigquery import CreateDataset, CreateTable, DeleteTable, Load, Query
from tasks.gcp.gcs import (
    Copy,
    CreateBucket,
    Delete,
    DeleteBucket,
    DeleteList,
    Download,
    Downloads,
    List,
    Upload,
)
from tasks.gcp.trigger import GcsTrigger

__all__ = ["TASKS", "TRIGGERS"]

TASKS: tuple[type, ...] = (
    Upload,
    Download,
    Downloads,
    List,
    Delete,
    DeleteList,
    Copy,
    CreateBucket,
    DeleteBucket,
    Query,
    Load,
    CreateDataset,
    CreateTable,
    DeleteTable,
)
TRIGGERS: tuple[type, ...] = (GcsTrigger,)
