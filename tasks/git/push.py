"""Podium → git: git.PushNamespaceFiles and git.PushFlows.

Clone `branch` (or start it from the remote's default branch when it does not exist),
make `gitDirectory` hold what Podium has — with `delete` (the default, as in Kestra),
files git has and Podium no longer has are removed — then commit with the author and
message given and push. Nothing changed means no commit. `dryRun` logs the diff and
pushes nothing. Flows of a child namespace go in a sub-folder named after the part of
the namespace below the source namespace (`company.team.sub` → `<gitDirectory>/sub/`).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import TaskFailed
from engine.plugin import RunContext, plugin
from tasks.git.common import GitTask, log_diff, store_diff
from tasks.git.repo import GitSession, inside, relative_files
from tasks.scripts.nsfiles import path_predicate

__all__ = ["PushFlows", "PushNamespaceFiles"]


class PushTask(GitTask):
    gitDirectory: str = ""
    commitMessage: str = "Update from Podium"
    authorName: str | None = None
    authorEmail: str | None = None
    delete: bool = True
    dryRun: bool = False

    async def desired(self, ctx: RunContext) -> dict[str, bytes]:
        """Path below gitDirectory (`/a/b`) → content."""
        raise NotImplementedError

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        git_directory = str(ctx.render(self.gitDirectory))
        branch = self.rendered_branch(ctx)
        wanted = await self.desired(ctx)
        with tempfile.TemporaryDirectory(prefix="podium-push-") as tmp, self.session(ctx) as git:
            repo = Path(tmp) / "repo"
            if await git.has_branch(branch):
                await git.clone(repo, branch=branch, depth=1)
            else:
                ctx.logger.info(f"branch {branch} does not exist yet: it is created")
                await git.clone(repo, branch=None, depth=1)
                await git.run("checkout", "--quiet", "-B", branch, cwd=repo)
            root = inside(repo, git_directory)
            rows = await asyncio.to_thread(self._apply, root, git_directory, wanted)
            log_diff(ctx, rows, dry_run=self.dryRun)
            diff = store_diff(ctx, rows)
            status = await git.run("status", "--porcelain", cwd=repo)
            if self.dryRun or not status.strip():
                if not status.strip():
                    ctx.logger.info("nothing to commit: git already has it")
                head = (await git.run("rev-parse", "HEAD", cwd=repo, check=False)).strip()
                return {"commitId": head if len(head) == 40 else None, "diff": diff}
            commit_id = await self._commit_and_push(ctx, git, repo, branch)
        return {
            "commitId": commit_id,
            "commitURL": f"{git.remote.display.removesuffix('.git')}/commit/{commit_id}",
            "diff": diff,
        }

    def _apply(
        self, root: Path, git_directory: str, wanted: Mapping[str, bytes]
    ) -> list[dict[str, Any]]:
        existing = relative_files(root)
        rows: list[dict[str, Any]] = []
        prefix = git_directory.strip("/")
        for path, data in sorted(wanted.items()):
            target = inside(root, path)
            old = existing.get(path)
            state = "ADDED" if old is None else "UNCHANGED"
            if old is not None and old.read_bytes() != data:
                state = "UPDATED"
            if state != "UNCHANGED" and not self.dryRun:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            rows.append(
                {"gitPath": f"{prefix}{path}".lstrip("/"), "kestraPath": path, "syncState": state}
            )
        if self.delete:
            for path in sorted(set(existing) - set(wanted)):
                if not self.dryRun:
                    existing[path].unlink()
                rows.append(
                    {
                        "gitPath": f"{prefix}{path}".lstrip("/"),
                        "kestraPath": None,
                        "syncState": "DELETED",
                    }
                )
        return rows

    async def _commit_and_push(
        self, ctx: RunContext, git: GitSession, repo: Path, branch: str
    ) -> str:
        name = str(ctx.render(self.authorName or "Podium"))
        email = str(ctx.render(self.authorEmail or "podium@localhost"))
        message = str(ctx.render(self.commitMessage))
        if not message.strip():
            raise TaskFailed("'commitMessage' must not be empty")
        await git.run("add", "--all", "--", ".", cwd=repo)
        await git.run(
            "-c", f"user.name={name}", "-c", f"user.email={email}",
            "commit", "--quiet", "--no-verify", "-m", message, cwd=repo,
        )  # fmt: skip
        await git.remote.check_network()
        await git.run("push", "--quiet", "--no-verify", "origin", f"HEAD:refs/heads/{branch}",
                      cwd=repo)  # fmt: skip
        commit_id = (await git.run("rev-parse", "HEAD", cwd=repo)).strip()
        ctx.logger.info(f"pushed {commit_id} to {git.remote.display} {branch}")
        return commit_id


@plugin("io.kestra.plugin.git.PushNamespaceFiles")
class PushNamespaceFiles(PushTask):
    """Commit a namespace's files (those `files` selects) to `gitDirectory` and push."""

    namespace: str | None = None
    gitDirectory: str = "_files"
    files: list[str] | str | None = None

    async def desired(self, ctx: RunContext) -> dict[str, bytes]:
        namespace = str(ctx.render(self.namespace)) if self.namespace else ctx.namespace
        patterns = ctx.render(self.files) if self.files is not None else None
        if isinstance(patterns, str):
            patterns = [patterns]
        keep = path_predicate([str(p) for p in patterns or []])
        listed = await ctx.namespace_files.list_files(namespace)
        return {
            path: await ctx.namespace_files.read(namespace, path)
            for path, _ in listed
            if keep(path)
        }


@plugin("io.kestra.plugin.git.PushFlows")
class PushFlows(PushTask):
    """Commit the flows of `sourceNamespace` (those `flows` names, all by default) to
    `gitDirectory` as `<flow id>.yml` and push."""

    sourceNamespace: str | None = None
    targetNamespace: str | None = None
    gitDirectory: str = "_flows"
    flows: list[str] | str | None = None
    includeChildNamespaces: bool = False

    async def desired(self, ctx: RunContext) -> dict[str, bytes]:
        if self.targetNamespace:
            raise TaskFailed(
                "'targetNamespace' (rewriting flows' namespace on push) is not supported"
            )
        namespace = str(ctx.render(self.sourceNamespace)) if self.sourceNamespace else ctx.namespace
        selected = ctx.render(self.flows) if self.flows is not None else None
        if isinstance(selected, str):
            selected = [selected]
        keep = path_predicate([f"glob:{s}" for s in selected or []])
        found: dict[str, bytes] = {}
        for flow in await ctx.flows.list(namespace, include_children=self.includeChildNamespaces):
            if not keep(flow.id):
                continue
            below = flow.namespace[len(namespace) :].lstrip(".").replace(".", "/")
            path = f"/{below}/{flow.id}.yml" if below else f"/{flow.id}.yml"
            found[path] = flow.source.encode("utf-8")
        return found
