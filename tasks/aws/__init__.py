"""Amazon S3 (and S3-compatible stores): io.kestra.plugin.aws.s3.* tasks and the
s3.Trigger, behind the `aws` extra (boto3).

    client    connection properties, credentials, endpoint and policy checks, listings
    s3        the tasks
    trigger   the polling trigger (run by triggers/polling.py)
"""

from tasks.aws.s3 import Copy, CreateBucket, Delete, DeleteList, Download, Downloads, List, Upload
from tasks.aws.trigger import S3Trigger

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
)
TRIGGERS: tuple[type, ...] = (S3Trigger,)
