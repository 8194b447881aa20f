"""git.Clone: clone a repository into the task's working directory (share it with the
tasks after it in a WorkingDirectory)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from engine.errors import TaskFailed
from engine.plugin import RunContext, plugin
from tasks.git.common import GitTask
from tasks.git.repo import inside

__all__ = ["Clone"]


@plugin("io.kestra.plugin.git.Clone")
class Clone(GitTask):
    """Clone `url` at `branch` (the remote's default when not set) into `directory`."""

    branch: str = ""  # Kestra: the remote's default branch
    directory: str | None = None
    depth: int = Field(default=1, ge=1)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        working = ctx.working_dir()
        target = inside(working, str(ctx.render(self.directory or "")))
        if target.exists() and any(target.iterdir()):
            raise TaskFailed(f"cannot clone into {target}: the directory is not empty")
        branch = self.rendered_branch(ctx) if self.branch else None
        with self.session(ctx) as git:
            await git.clone(target, branch=branch, depth=self.depth)
            ctx.logger.info(f"cloned {git.remote.display} into {target}")
        return {"directory": str(target)}
