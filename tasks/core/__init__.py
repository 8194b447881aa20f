"""Kestra's core tasks: logging, outputs, flow control, execution control, storage, KV,
namespace files, trigger.Toggle, and counting and purging past executions (count.py,
purge.py)."""

from tasks.core.branching import If, Switch
from tasks.core.count import Count
from tasks.core.debug import OutputValues, Return
from tasks.core.execution import Exit, Fail, Labels, Resume, SetVariables, UnsetVariables
from tasks.core.for_each_item import ForEachItem
from tasks.core.grouping import AllowFailure, Dag, Parallel, Sequential, WorkingDirectory
from tasks.core.kv import KV_TASKS
from tasks.core.log import Fetch, Log
from tasks.core.loops import ForEach, WaitFor
from tasks.core.namespace import DeleteFiles, DownloadFiles, UploadFiles
from tasks.core.purge import PurgeExecutions, PurgeLogs
from tasks.core.storage import (
    Concat,
    Delete,
    LocalFiles,
    PurgeCurrentExecutionFiles,
    Reverse,
    Size,
    Write,
)
from tasks.core.storage_items import DeduplicateItems, FilterItems
from tasks.core.storage_split import Split
from tasks.core.subflow import Subflow
from tasks.core.templating import TemplatedTask
from tasks.core.trigger import Toggle
from tasks.core.waiting import Pause, Sleep

__all__ = ["CORE_TASKS"]

CORE_TASKS: tuple[type, ...] = (
    AllowFailure,
    Concat,
    Count,
    Dag,
    DeduplicateItems,
    Delete,
    DeleteFiles,
    DownloadFiles,
    Exit,
    Fail,
    Fetch,
    FilterItems,
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
    PurgeExecutions,
    PurgeLogs,
    Resume,
    Return,
    Reverse,
    Sequential,
    SetVariables,
    Size,
    Sleep,
    Split,
    Subflow,
    Switch,
    TemplatedTask,
    Toggle,
    UnsetVariables,
    UploadFiles,
    WaitFor,
    WorkingDirectory,
    Write,
    *KV_TASKS,
)
