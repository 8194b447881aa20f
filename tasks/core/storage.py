"""Internal-storage tasks: storage.PurgeCurrentExecutionFiles, and Kestra's deprecated
storage.LocalFiles (files in and out of the task's working directory)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, plugin
from tasks.properties import render_mapping, render_strings
from tasks.scripts.files import upload_output_files, write_input_files

__all__ = ["LocalFiles", "PurgeCurrentExecutionFiles"]


@plugin("io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles")
class PurgeCurrentExecutionFiles(Task):
    """Delete every file this execution put in internal storage."""

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uris = ctx.storage.purge_execution()
        ctx.logger.info(f"purged {len(uris)} file(s) of execution {ctx.execution_id}")
        return {"uris": uris}


@plugin("io.kestra.plugin.core.storage.LocalFiles")
class LocalFiles(Task):
    """Kestra's deprecated form of a WorkingDirectory's `inputFiles`/`outputFiles`: write
    `inputs` (name -> inline text or `kestra:///` URI) into the working directory, then
    upload the files matching the `outputs` globs (output `uris`: name -> storage URI).
    Inside a WorkingDirectory the folder is the one its tasks share."""

    inputs: dict[str, Any] | str | None = None
    outputs: list[str] | str | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        files = render_mapping(ctx, self.inputs, "inputs")
        for name, content in files.items():
            if isinstance(content, dict | list) or content is None:
                raise TaskFailed(f"input file {name!r}: content must be text")
            files[name] = str(content)
        folder = ctx.working_dir()
        await write_input_files(ctx, folder, files)
        uris = await upload_output_files(ctx, folder, render_strings(ctx, self.outputs, "outputs"))
        return {"uris": uris}
