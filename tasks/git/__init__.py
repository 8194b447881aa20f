"""git: clone a repository, sync flows and namespace files from it, push them to it.

    repo.py    running Debian's git safely for a flow: URLs, credentials, network policy
    common.py  the properties every git task has, the diff output
    clone.py   git.Clone
    sync.py    git.SyncNamespaceFiles, git.SyncFlows (git → Podium)
    push.py    git.PushNamespaceFiles, git.PushFlows (Podium → git)

It needs no Python package, only the `git` program (Debian's git package), so the family
is always registered; without `git` on PATH a task fails with the command to install it.
(`pip install 'podium[git]'` exists for Kestra users' habits and installs nothing.)
"""

from tasks.git.clone import Clone
from tasks.git.push import PushFlows, PushNamespaceFiles
from tasks.git.sync import SyncFlows, SyncNamespaceFiles

__all__ = ["TASKS"]

TASKS: tuple[type, ...] = (Clone, SyncFlows, SyncNamespaceFiles, PushFlows, PushNamespaceFiles)
