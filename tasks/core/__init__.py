"""Kestra's core tasks: logging, outputs, flow control, execution control, storage, KV,
namespace files, trigger.Toggle."""

from tasks.core.branching import If, Switch
from tasks.core.debug import OutputValues, Return
from tasks.core.execution import Fail, Labels, Resume
from tasks.core.for_each_item import ForEachItem
from tasks.core.grouping import AllowFailure, Dag, Parallel, Sequential, WorkingDirectory
from tasks.core.kv import KV_TASKS
from tasks.core.log import Fetch, Log
from tasks.core.loops import ForEach, WaitFor
from tasks.core.namespace import DeleteFiles, DownloadFiles, UploadFiles
from tasks.core.storage import LocalFiles, PurgeCurrentExecutionFiles
from tasks.core.subflow import Subflow
from tasks.core.trigger import Toggle
from tasks.core.waiting import Pause, Sleep

__all__ = ["CORE_TASKS"]

CORE_TASKS: tuple[type, ...] = (
    AllowFailure,
    Dag,
    DeleteFiles,
    DownloadFiles,
    Fail,
    Fetch,
    ForEach,
    ForEachItem,
    If,
    Labels,
    LocalFiles,
    Log,
    OutputValues,
    Parallel,
    Pause,
    PurgeCurrentExecutionFiles,
    Resume,
    Return,
    Sequential,
    Sleep,
    Subflow,
    Switch,
    Toggle,
    UploadFiles,
    WaitFor,
    WorkingDirectory,
    *KV_TASKS,
)
