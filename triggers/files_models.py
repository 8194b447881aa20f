"""The YAML shape of Kestra's two local-folder triggers, validated when a flow loads.

    io.kestra.plugin.fs.local.RealtimeTrigger   one execution per file event
    io.kestra.plugin.fs.local.Trigger           one execution per poll that found files

Loading is pure: nothing here touches the disk or the settings. Whether `from` lies
under the configured allowed paths can only be known when a runner starts (see
files_runners.py), which is also when templated properties are rendered.

Podium extensions (not in Kestra): `glob` (a shell pattern on the path relative to
`from`, or on the file name when it has no `/`) and `forcePolling` (watch by polling,
for network filesystems that send no events).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from engine.durations import is_template
from engine.plugin import Duration, Trigger, plugin

__all__ = ["FolderTrigger", "PollingTrigger", "RealtimeTrigger"]

Change = Literal["CREATE", "UPDATE", "CREATE_OR_UPDATE"]


class FolderTrigger(Trigger):
    """What both local-folder triggers share: the folder and which of its files count."""

    from_: str = Field(alias="from", min_length=1)
    recursive: bool = False
    # Kestra's filter: a Java regular expression that must match the whole absolute path.
    regExp: str | None = None
    glob: str | None = Field(default=None, min_length=1)

    @field_validator("regExp")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None or is_template(value):
            return value  # rendered, then compiled, when the runner starts
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"regExp is not a valid regular expression: {exc}") from exc
        return value

    @property
    def folder(self) -> str:
        """`from`, as written (it may hold a template)."""
        return self.from_


@plugin("io.kestra.plugin.fs.local.RealtimeTrigger")
class RealtimeTrigger(FolderTrigger):
    """Start one execution per file created or updated (or deleted) in a folder."""

    on: Literal["CREATE", "UPDATE", "CREATE_OR_UPDATE", "DELETE"] = "CREATE_OR_UPDATE"
    forcePolling: bool | None = None


@plugin("io.kestra.plugin.fs.local.Trigger")
class PollingTrigger(FolderTrigger):
    """Every `interval`, start one execution for the new or changed files of a folder."""

    interval: Duration = timedelta(seconds=60)
    on: Change = "CREATE_OR_UPDATE"
    action: Literal["NONE", "MOVE", "DELETE"] = "NONE"
    moveDirectory: str | None = Field(default=None, min_length=1)
    maxFiles: int = Field(default=25, ge=1)

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("interval must be positive")
        return value

    @model_validator(mode="after")
    def _move_needs_a_directory(self) -> PollingTrigger:
        if self.action == "MOVE" and not self.moveDirectory:
            raise ValueError("action MOVE needs a 'moveDirectory'")
        return self
