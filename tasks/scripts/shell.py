"""Shell script tasks: shell.Script (an inline script) and shell.Commands.

Both hand one script to the interpreter (`/bin/sh -c` unless `interpreter` says
otherwise): `set -e` (while `failFast`), then `beforeCommands`, then the inline script or
the commands, one per line, as Kestra does. The Docker runner's default image is `ubuntu`.
"""

from __future__ import annotations

from typing import ClassVar

from engine.plugin import plugin
from tasks.scripts.execution import Prepared, ScriptTask

__all__ = ["TASKS", "ShellCommands", "ShellScript"]


@plugin("io.kestra.plugin.scripts.shell.Script")
class ShellScript(ScriptTask):
    """Run an inline shell script."""

    default_image: ClassVar[str] = "ubuntu"

    script: str

    async def script_lines(self, prepared: Prepared) -> list[str]:
        return await prepared.localize([prepared.render(self.script)])


@plugin("io.kestra.plugin.scripts.shell.Commands")
class ShellCommands(ScriptTask):
    """Run shell commands, one after the other, stopping at the first failure."""

    default_image: ClassVar[str] = "ubuntu"

    commands: list[str] | str

    async def script_lines(self, prepared: Prepared) -> list[str]:
        return await prepared.localize(prepared.render_list(self.commands))


TASKS: tuple[type, ...] = (ShellCommands, ShellScript)
