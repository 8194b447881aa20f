"""Podium → git: git.PushNamespaceFiles and git.PushFlows.

Clone `branch` (or start it from the remote's default branch when it does not exist),
make `gitDirectory` hold what Podium has — with `delete` (the default, as in Kestra),
files git has and Podium no longer has are removed — then commit with the author and
message given and push. Nothing changed means no commit (`commitId` and `commitURL` are
then null, as in Kestra). `dryRun` logs the diff and pushes nothing. Only paths the push
selects (`files` globs, `flows` id globs) are deleted. Flows of a child namespace go in a
sub-folder named after the part of the namespace below the source namespace
(`company.team.sub` → `<gitDirectory>/sub/`); `targetNamespace` rewrites each flow's
top-level `namespace:` line (source prefix → target prefix) in what is pushed.
Outputs: `commitId`, `commitURL`, and the diff file as `files` or `flows`.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from engine.errors import TaskFailed
from engine.plugin import RunContext, plugin
from tasks.git.common import GitTask, log_diff, replace_namespace, store_diff
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

    output_name: ClassVar[str] = "diff"

    def selects(self, ctx: RunContext) -> Callable[[str], bool]:
        """Which paths below gitDirectory this push owns (only those may be deleted)."""
        return lambda path: True

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        git_directory = str(ctx.render(self.gitDirectory)).strip("/")
        branch = self.rendered_branch(ctx)
        wanted = await self.desired(ctx)
        owned = self.selects(ctx)
        with tempfile.TemporaryDirectory(prefix="podium-push-") as tmp, self.session(ctx) as git:
            repo = Path(tmp) / "repo"
            if await git.has_branch(branch):
                await git.clone(repo, branch=branch, depth=1)
            else:
                ctx.logger.info(f"branch {branch} does not exist yet: it is created")
                await git.clone(repo, branch=None, depth=1)
                await git.run("checkout", "--quiet", "-B", branch, cwd=repo)
            root = inside(repo, git_directory)
            await asyncio.to_thread(self._write, root, wanted, owned)
            await git.run("add", "--all", "--", git_directory or ".", cwd=repo)
            numstat = await git.run("diff", "--cached", "--numstat", "--no-renames", cwd=repo)
            rows = [_numstat_row(line) for line in numstat.splitlines() if line.strip()]
            log_diff(ctx, rows, dry_run=self.dryRun)
            outputs: dict[str, Any] = {
                self.output_name: store_diff(ctx, rows),
                "commitId": None,
                "commitURL": None,
            }
            if self.dryRun:
                ctx.logger.info(f"dry run: nothing is pushed to {git.remote.display}")
            elif not rows:
                ctx.logger.info("no changes to commit: nothing is pushed")
            else:
                commit_id = await self._commit_and_push(ctx, git, repo, branch)
                outputs["commitId"] = commit_id
                base = git.remote.display.removesuffix(".git")
                outputs["commitURL"] = f"{base}/commit/{commit_id}"
        return outputs

    def _write(self, root: Path, wanted: Mapping[str, bytes], owned: Callable[[str], bool]) -> None:
        existing = relative_files(root)
        for path, data in wanted.items():
            target = inside(root, path)  # checked again after the folders exist
            target.parent.mkdir(parents=True, exist_ok=True)
            inside(root, path).write_bytes(data)
        if self.delete:
            for path in set(existing) - set(wanted):
                if owned(path):
                    existing[path].unlink()

    async def _commit_and_push(
        self, ctx: RunContext, git: GitSession, repo: Path, branch: str
    ) -> str:
        name = str(ctx.render(self.authorName or "Podium"))
        email = str(ctx.render(self.authorEmail or "podium@localhost"))
        message = str(ctx.render(self.commitMessage))
        if not message.strip():
            raise TaskFailed("'commitMessage' must not be empty")
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

    output_name: ClassVar[str] = "files"

    namespace: str | None = None
    gitDirectory: str = "_files"
    files: list[str] | str | None = None

    def selects(self, ctx: RunContext) -> Callable[[str], bool]:
        patterns = ctx.render(self.files) if self.files is not None else None
        if isinstance(patterns, str):
            patterns = [patterns]
        return path_predicate([str(p) for p in patterns or []])

    async def desired(self, ctx: RunContext) -> dict[str, bytes]:
        namespace = str(ctx.render(self.namespace)) if self.namespace else ctx.namespace
        keep = self.selects(ctx)
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

    output_name: ClassVar[str] = "flows"

    sourceNamespace: str | None = None
    targetNamespace: str | None = None
    gitDirectory: str = "_flows"
    flows: list[str] | str | None = None
    includeChildNamespaces: bool = False

    def selects(self, ctx: RunContext) -> Callable[[str], bool]:
        selected = ctx.render(self.flows) if self.flows is not None else None
        if isinstance(selected, str):
            selected = [selected]
        keep = path_predicate([f"glob:{s}" for s in selected or []])
        return lambda path: keep(path.rsplit("/", 1)[-1].rsplit(".", 1)[0])

    async def desired(self, ctx: RunContext) -> dict[str, bytes]:
        namespace = str(ctx.render(self.sourceNamespace)) if self.sourceNamespace else ctx.namespace
        target = str(ctx.render(self.targetNamespace)) if self.targetNamespace else None
        keep = self.selects(ctx)
        found: dict[str, bytes] = {}
        for flow in await ctx.flows.list(namespace, include_children=self.includeChildNamespaces):
            if not keep(f"/{flow.id}.yml"):
                continue
            rest = flow.namespace[len(namespace) :]
            source = flow.source
            if target is not None:
                rewritten = replace_namespace(source, target + rest)
                if rewritten is None:
                    raise TaskFailed(f"flow {flow.namespace}.{flow.id}: no 'namespace:' line")
                source = rewritten
            below = rest.lstrip(".").replace(".", "/")
            path = f"/{below}/{flow.id}.yml" if below else f"/{flow.id}.yml"
            found[path] = source.encode("utf-8")
        return found


_NUMSTAT = re.compile(r"^(\d+|-)\t(\d+|-)\t(.+)$")


def _numstat_row(line: str) -> dict[str, Any]:
    """`git diff --numstat` line → Kestra's diff row (binary files count as 0 lines)."""
    match = _NUMSTAT.match(line)
    if not match:
        return {"file": line, "additions": "+0", "deletions": "-0"}
    added, deleted, name = match.groups()
    return {
        "file": name,
        "additions": f"+{0 if added == '-' else added}",
        "deletions": f"-{0 if deleted == '-' else deleted}",
    }
