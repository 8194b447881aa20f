"""Properties every git task shares (Kestra's `AbstractGitTask`) and the diff they report.

`diff` outputs are internal-storage files of JSON lines, one per changed path:
`{"gitPath": …, "kestraPath": …, "syncState": "ADDED" | "UPDATED" | "DELETED" |
"UNCHANGED"}` for namespace files, with `namespace`/`flowId` for flows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task
from tasks.git.repo import GitRemote, GitSession, check_ref

__all__ = ["GitTask", "store_diff"]


class GitTask(Task):
    url: str
    username: str | None = None
    password: str | None = None
    privateKey: str | None = None
    passphrase: str | None = None
    cloneSubmodules: bool = False
    branch: str = "main"

    def session(self, ctx: RunContext) -> GitSession:
        if self.passphrase:
            raise TaskFailed("'passphrase' (an encrypted private key) is not supported yet")
        if self.cloneSubmodules:
            raise TaskFailed("'cloneSubmodules' is not supported: submodule URLs are unchecked")
        remote = GitRemote.parse(str(ctx.render(self.url)))
        return GitSession(
            ctx,
            remote,
            username=_text(ctx, self.username),
            password=_text(ctx, self.password),
            private_key=_text(ctx, self.privateKey),
        )

    def rendered_branch(self, ctx: RunContext) -> str:
        return check_ref(str(ctx.render(self.branch)))


def _text(ctx: RunContext, value: str | None) -> str | None:
    if value is None:
        return None
    rendered = ctx.render(value)
    return str(rendered) if rendered not in (None, "") else None


def store_diff(ctx: RunContext, rows: Iterable[Mapping[str, Any]]) -> str:
    """The diff as a JSON-lines file in internal storage; its URI."""
    data = b"".join(orjson.dumps(dict(row)) + b"\n" for row in rows)
    return ctx.storage.put_bytes("diff.jsonl", data)


def log_diff(ctx: RunContext, rows: Iterable[Mapping[str, Any]], *, dry_run: bool) -> None:
    verb = "would be" if dry_run else "is"
    for row in rows:
        if row["syncState"] != "UNCHANGED":
            target = row.get("kestraPath") or row.get("gitPath")
            ctx.logger.info(f"{target} {verb} {str(row['syncState']).lower()}")
