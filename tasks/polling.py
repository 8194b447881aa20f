"""`PollingRunContext`: the few `RunContext` calls a task's own code makes, answered by
a polling trigger's `PollContext`, so a trigger can reuse its task family's code (the
JDBC connection, the HTTP request) to look at what is there."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from engine.errors import TaskFailed
from engine.plugin import PollContext, RunContext

__all__ = ["PollingRunContext"]


class _NoStorage:
    """A poll has no execution yet, so no internal storage to read files from."""

    def __repr__(self) -> str:
        return "<no storage while polling>"

    def local_path(self, uri: str) -> Path:
        raise TaskFailed(f"a trigger cannot read {uri!r}: internal storage belongs to executions")

    execution_file = local_path


class PollingRunContext:
    """Rendering, logging, masking for task code run by a poll. Nothing is stored and no
    metric is kept."""

    storage = _NoStorage()

    def __init__(self, ctx: PollContext) -> None:
        self._ctx = ctx
        self.logger = ctx.logger
        self.namespace = ctx.namespace
        self.flow_id = ctx.flow_id
        self.task_run_id = f"trigger-{secrets.token_hex(4)}"
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def __repr__(self) -> str:
        return f"<PollingRunContext {self.namespace}.{self.flow_id}>"

    def render(self, value: Any, *, extra: Mapping[str, Any] | None = None) -> Any:
        return self._ctx.render(value, extra=extra)

    def render_text(self, template: str) -> str:
        return str(self._ctx.render(template))

    def mask(self, text: str) -> str:
        return self._ctx.mask(text)

    def metric(self, *_: Any, **__: Any) -> None:
        return None

    def working_dir(self) -> Path:
        """A private folder (client certificates), removed by `close`."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="podium-trigger-")
        return Path(self._folder.name)

    def close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()

    def as_run_context(self) -> RunContext:
        return cast(RunContext, self)
