"""Properties every git task shares (Kestra's `AbstractGitTask`) and the diff they report.

`diff` outputs are internal-storage files of JSON lines, one per changed path:
syncs write `{"gitPath", "kestraPath", "syncState"}` per namespace file (`ADDED`,
`OVERWRITTEN`, `UNCHANGED`, `DELETED`) and `{"gitPath", "namespace", "flowId", "revision",
"syncState"}` per flow (`ADDED`, `UPDATED`, `UNCHANGED`, `DELETED`); pushes write
`{"file", "additions", "deletions"}` per changed file, from `git diff --numstat`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from pydantic import Field

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task
from tasks.git.repo import GitRemote, GitSession, check_ref

__all__ = ["GitTask", "log_diff", "replace_namespace", "store_diff"]

# A flow's top-level `namespace:` line, as Kestra finds it to rewrite it.
_NAMESPACE_LINE = re.compile(r"^namespace:[ \t]*(.*)$", re.MULTILINE)


class GitTask(Task):
    url: str
    username: str | None = None
    password: str | None = None
    privateKey: str | None = None
    passphrase: str | None = None
    cloneSubmodules: bool = False
    branch: str = "main"
    trustedCaPemPath: str | None = None
    noProxy: bool = False  # Podium's git never uses a proxy (it sees no proxy variables)
    connectTimeout: int = Field(default=10_000, ge=1)  # ms; ssh (git's curl has none)
    readTimeout: int = Field(default=60_000, ge=1)  # ms without progress, then abort
    gitConfig: dict[str, Any] | None = None

    def session(self, ctx: RunContext) -> GitSession:
        if self.passphrase:
            raise TaskFailed("'passphrase' (an encrypted private key) is not supported yet")
        if self.cloneSubmodules:
            raise TaskFailed("'cloneSubmodules' is not supported: submodule URLs are unchecked")
        remote = GitRemote.parse(str(ctx.render(self.url)))
        config = check_git_config(ctx.render(self.gitConfig or {}))
        config["http.lowSpeedLimit"] = "1"
        config["http.lowSpeedTime"] = str(max(1, self.readTimeout // 1000))
        if self.trustedCaPemPath:
            config["http.sslCAInfo"] = str(ctx.render(self.trustedCaPemPath))
        return GitSession(
            ctx,
            remote,
            username=_text(ctx, self.username),
            password=_text(ctx, self.password),
            private_key=_text(ctx, self.privateKey),
            config=config,
            connect_seconds=max(1, self.connectTimeout // 1000),
        )

    def rendered_branch(self, ctx: RunContext) -> str:
        return check_ref(str(ctx.render(self.branch)))


# `gitConfig` keys a flow may set: only ones that change how files are read and written.
# Anything that can name a program (core.sshCommand, core.fsmonitor, core.hooksPath,
# *.helper, filter.*, diff.*.textconv…) would let a flow run commands on the server.
SAFE_GIT_CONFIG = frozenset(
    {
        "core.autocrlf", "core.eol", "core.safecrlf", "core.filemode", "core.ignorecase",
        "core.precomposeunicode", "core.quotepath", "core.symlinks", "core.longpaths",
        "core.compression", "http.postbuffer", "http.sslverify", "pack.threads",
    }
)  # fmt: skip


def check_git_config(config: Any) -> dict[str, str]:
    """`gitConfig` as `key → value` git understands, or TaskFailed for a refused key."""
    if not isinstance(config, dict):
        raise TaskFailed("'gitConfig' must be a map of git config keys to values")
    checked: dict[str, str] = {}
    for key, value in config.items():
        if str(key).lower() not in SAFE_GIT_CONFIG:
            raise TaskFailed(
                f"gitConfig key {key!r} is refused: allowed are {', '.join(sorted(SAFE_GIT_CONFIG))}"
            )
        checked[str(key)] = (
            ("true" if value else "false") if isinstance(value, bool) else str(value)
        )
    return checked


def _text(ctx: RunContext, value: str | None) -> str | None:
    if value is None:
        return None
    rendered = ctx.render(value)
    return str(rendered) if rendered not in (None, "") else None


def store_diff(ctx: RunContext, rows: Iterable[Mapping[str, Any]]) -> str:
    """The diff as a JSON-lines file in internal storage (Kestra writes ION); its URI."""
    data = b"".join(orjson.dumps(dict(row)) + b"\n" for row in rows)
    return ctx.storage.put_bytes("diff.jsonl", data)


def log_diff(ctx: RunContext, rows: Iterable[Mapping[str, Any]], *, dry_run: bool) -> None:
    verb = "would be" if dry_run else "is"
    for row in rows:
        if row.get("syncState", "CHANGED") != "UNCHANGED":
            target = row.get("kestraPath") or row.get("file") or row.get("gitPath")
            if "flowId" in row:
                target = f"flow {row['namespace']}.{row['flowId']}"
            change = str(row.get("syncState", "changed")).lower()
            ctx.logger.info(f"{target} {verb} {change}")


def replace_namespace(source: str, namespace: str) -> str | None:
    """The flow source with its top-level namespace set (None if it has no such line)."""
    if not _NAMESPACE_LINE.search(source):
        return None
    return _NAMESPACE_LINE.sub(lambda _: f"namespace: {namespace}", source, count=1)
