"""Google Cloud Storage: io.kestra.plugin.gcp.gcs.* tasks and the gcs.Trigger, behind
the `gcp` extra (google-cloud-storage).

    client    connection properties, credentials, endpoint and policy checks, errors
    gcs       the tasks
    trigger   the polling trigger (run by triggers/polling.py)

BigQuery (io.kestra.plugin.gcp.bigquery.*) is not available in Podium yet: the catalog
refuses those types at load with that message (engine/catalog.py).
"""

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
)
TRIGGERS: tuple[type, ...] = (GcsTrigger,)
