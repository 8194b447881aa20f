"""git: clone a repository, sync flows and namespace files from it, push them to it.

    repo.py    running Debian's git safely for a flow: URLs, credentials, network policy
    common.py  the properties every git task has, the diff output
    clone.py   git.Clone
    sync.py    git.SyncNamespaceFiles, git.SyncFlows (git → Podium)
    push.py    git.PushNamespaceFiles, git.PushFlows (Podium → git)

It needs only the `git` program (Debian's git package); `pip install 'podium[git]'` adds
no Python dependency, and the family is registered only when `git` is on PATH.
"""

import shutil

from tasks.git.clone import Clone
from tasks.git.push import PushFlows, PushNamespaceFiles
from tasks.git.sync import SyncFlows, SyncNamespaceFiles

__all__ = ["TASKS"]

if shutil.which("git") is None:  # the catalog then refuses the types with the hint
    raise ModuleNotFoundError("the git program is not installed", name="git")

TASKS: tuple[type, ...] = (Clone, SyncFlows, SyncNamespaceFiles, PushFlows, PushNamespaceFiles)
