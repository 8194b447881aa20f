"""Script tasks: Python and shell scripts run by a local process or in a container.

How to read this package: `models` holds the YAML properties (shared ones and the two
task runners'); `execution` is one attempt from properties to outputs, and the
`ScriptTask` base whose hooks `python` and `shell` fill in; `protocol` says what the
lines a script prints mean (Kestra's `::{…}::` outputs, metrics and logs); `files` moves
input and output files; `deps` caches Python virtual environments; `runners/` start the
script (`process`, `docker`).
"""

from tasks.scripts.python import PythonCommands, PythonScript
from tasks.scripts.shell import ShellCommands, ShellScript

__all__ = ["SCRIPTS_TASKS"]

SCRIPTS_TASKS: tuple[type, ...] = (PythonCommands, PythonScript, ShellCommands, ShellScript)
