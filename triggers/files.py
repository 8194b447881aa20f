"""Kestra's local-folder file triggers: a file lands in a folder, a flow runs.

    io.kestra.plugin.fs.local.RealtimeTrigger   one execution per file event;
                                                `trigger.file`, `trigger.changeType`
    io.kestra.plugin.fs.local.Trigger           every `interval`, one execution for the
                                                files found; `trigger.files`, `trigger.count`

Read the modules in this order:

    files_models    the YAML properties (pure, checked when the flow loads)
    files_scan      the folder on disk: filters, versions, settling, safety, the copy
    files_firing    claims, the journal, copying into storage, firing
    files_runners   the runners: watchfiles events or polling → files_firing

What a user can rely on:

- A folder must lie under `triggers.allowed_paths` (PODIUM_ALLOWED_PATHS), as Kestra's
  `allowed-paths`; otherwise the runner logs an error and watches nothing.
- A file fires once it is stable: two looks SETTLE_SECONDS apart see the same size and
  mtime. A writer that pauses longer than that makes two versions (two firings, or, with
  `on: CREATE`, one firing of the first part).
- Each version (path + size + mtime_ns) fires at most once, across restarts; files that
  arrived while Podium was down fire on start (as do files already there when the
  trigger is first deployed).
- The file is copied into internal storage before firing; `trigger.file.uri` (or each
  `trigger.files[i].uri`) stays readable after the source is moved or deleted.
- Symlinks, files reached through symlinked directories, FIFOs and devices are ignored.
"""

from __future__ import annotations

from typing import Any

from triggers.files_models import PollingTrigger, RealtimeTrigger
from triggers.files_runners import PollingRunner, RealtimeRunner
from triggers.files_scan import SETTLE_SECONDS

__all__ = ["TRIGGERS", "RUNNERS", "SETTLE_SECONDS", "PollingTrigger", "RealtimeTrigger"]

TRIGGERS: tuple[type, ...] = (RealtimeTrigger, PollingTrigger)
RUNNERS: dict[type, Any] = {RealtimeTrigger: RealtimeRunner(), PollingTrigger: PollingRunner()}
