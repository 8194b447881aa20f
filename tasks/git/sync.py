"""git → Podium: git.SyncNamespaceFiles and git.SyncFlows.

Both clone `branch` shallowly into a private folder, compare `gitDirectory` with what the
namespace holds, and then write every change at once: namespace files in one
transaction, flows only after every flow file validated. A clone that fails (wrong
credentials, unknown branch) or an invalid flow therefore changes nothing. `dryRun`
computes and logs the same diff and writes nothing. `delete: true` removes what git does
not have; the flow that runs SyncFlows is never deleted by it. Outputs are Kestra's: the
URI of the diff file, as `files` (SyncNamespaceFiles) or `flows` (SyncFlows).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import FlowDefinitionError, PodiumError, TaskFailed
from engine.plugin import RunContext, plugin
from tasks.git.common import GitTask, log_diff, replace_namespace, store_diff
from tasks.git.repo import inside, relative_files

__all__ = ["SyncFlows", "SyncNamespaceFiles"]

MAX_SYNC_FILES = 10_000


async def _clone_directory(
    task: GitTask, ctx: RunContext, folder: Path, git_directory: str
) -> Path:
    with task.session(ctx) as git:
        await git.clone(folder / "repo", branch=task.rendered_branch(ctx), depth=1)
        ctx.logger.info(f"cloned {git.remote.display} at {task.rendered_branch(ctx)}")
    root = inside(folder / "repo", git_directory)
    if not root.is_dir():  # a typo must not read as "git is empty" and delete everything
        raise TaskFailed(f"gitDirectory {git_directory!r} is not a folder of the branch")
    return root


def _read_all(files: Mapping[str, Path]) -> dict[str, bytes]:
    if len(files) > MAX_SYNC_FILES:
        raise TaskFailed(f"the git directory has more than {MAX_SYNC_FILES} files")
    return {name: path.read_bytes() for name, path in files.items()}


@plugin("io.kestra.plugin.git.SyncNamespaceFiles")
class SyncNamespaceFiles(GitTask):
    """Make a namespace's files those of `gitDirectory` in the repository."""

    namespace: str | None = None
    gitDirectory: str = "_files"
    delete: bool = False
    dryRun: bool = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace = str(ctx.render(self.namespace)) if self.namespace else ctx.namespace
        git_directory = str(ctx.render(self.gitDirectory))
        with tempfile.TemporaryDirectory(prefix="podium-sync-") as tmp:
            root = await _clone_directory(self, ctx, Path(tmp), git_directory)
            wanted = await asyncio.to_thread(_read_all, relative_files(root))
        current = dict(await ctx.namespace_files.list_files(namespace))
        rows: list[dict[str, Any]] = []
        changed: dict[str, bytes] = {}
        for path, data in wanted.items():
            state = "ADDED"
            if path in current:
                same = current[path] == len(data) and (
                    await ctx.namespace_files.read(namespace, path) == data
                )
                state = "UNCHANGED" if same else "OVERWRITTEN"
            if state != "UNCHANGED":
                changed[path] = data
            rows.append(_row(git_directory, path, state))
        removed = sorted(set(current) - set(wanted)) if self.delete else []
        rows += [_row(git_directory, path, "DELETED") for path in removed]
        log_diff(ctx, rows, dry_run=self.dryRun)
        if not self.dryRun:
            try:
                if changed:
                    await ctx.namespace_files.put(namespace, changed)
                if removed:
                    await ctx.namespace_files.delete(namespace, removed)
            except PodiumError as exc:
                raise TaskFailed(
                    f"cannot write the namespace files of {namespace}: {exc}"
                ) from None
        return {"files": store_diff(ctx, rows)}


def _row(git_directory: str, path: str, state: str) -> dict[str, Any]:
    return {
        "gitPath": f"{git_directory.strip('/')}{path}" if git_directory.strip("/") else path[1:],
        "kestraPath": path,
        "syncState": state,
    }


@plugin("io.kestra.plugin.git.SyncFlows")
class SyncFlows(GitTask):
    """Make the flows of `targetNamespace` those in `gitDirectory`. As in Kestra, the folder
    decides the namespace: a flow file's top-level `namespace:` is rewritten to
    `targetNamespace` (plus `.a.b` for a file in `a/b/`, with `includeChildNamespaces`)."""

    targetNamespace: str
    gitDirectory: str = "_flows"
    includeChildNamespaces: bool = False
    delete: bool = False
    dryRun: bool = False
    ignoreInvalidFlows: bool = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace = str(ctx.render(self.targetNamespace))
        git_directory = str(ctx.render(self.gitDirectory)).strip("/")
        with tempfile.TemporaryDirectory(prefix="podium-sync-") as tmp:
            root = await _clone_directory(self, ctx, Path(tmp), git_directory)
            files = {
                path: file
                for path, file in relative_files(
                    root, recursive=self.includeChildNamespaces
                ).items()
                if path.endswith((".yml", ".yaml"))
            }
            sources = await asyncio.to_thread(_read_all, files)
        wanted = self._validate(ctx, namespace, git_directory, sources)
        current = {
            (f.namespace, f.id): f
            for f in await ctx.flows.list(namespace, include_children=self.includeChildNamespaces)
        }
        rows: list[dict[str, Any]] = []
        for key, (git_path, source) in sorted(wanted.items()):
            old = current.get(key)
            state = "ADDED" if old is None else "UNCHANGED" if old.source == source else "UPDATED"
            revision = old.revision if old is not None else None
            if state != "UNCHANGED" and not self.dryRun:
                revision = (await ctx.flows.save(source, name=git_path))[2]
            rows.append(_flow_row(git_path, key, state, revision))
        removed = (
            [
                key
                for key in sorted(set(current) - set(wanted))
                if key != (ctx.namespace, ctx.flow_id)  # never the flow that syncs
            ]
            if self.delete
            else []
        )
        for key in removed:
            if not self.dryRun:
                await ctx.flows.delete(*key)
            rows.append(_flow_row(None, key, "DELETED", current[key].revision))
        log_diff(ctx, rows, dry_run=self.dryRun)
        return {"flows": store_diff(ctx, rows)}

    def _validate(
        self, ctx: RunContext, namespace: str, git_directory: str, sources: Mapping[str, bytes]
    ) -> dict[tuple[str, str], tuple[str, str]]:
        """(namespace, id) → (git path, source as it will be saved) of every flow file;
        nothing is saved when one is invalid."""
        wanted: dict[tuple[str, str], tuple[str, str]] = {}
        problems: list[str] = []
        for path, data in sources.items():
            git_path = f"{git_directory}{path}" if git_directory else path[1:]
            folder = path.rsplit("/", 1)[0].strip("/").replace("/", ".")
            target = f"{namespace}.{folder}" if folder else namespace
            try:
                source = replace_namespace(data.decode("utf-8"), target)
                if source is None:
                    raise ValueError("no top-level 'namespace:' line")
                key = ctx.flows.validate(source, name=git_path)
            except (UnicodeDecodeError, ValueError, FlowDefinitionError) as exc:
                if self.ignoreInvalidFlows:
                    ctx.logger.warning(f"{git_path} is skipped: {exc}")
                    continue
                problems.append(f"{git_path}: {exc}")
                continue
            if key in wanted:
                problems.append(f"{git_path}: flow {key[0]}.{key[1]} is also in {wanted[key][0]}")
            else:
                wanted[key] = (git_path, source)
        if problems:
            raise TaskFailed("no flow was synced:\n" + "\n".join(problems))
        return wanted


def _flow_row(
    git_path: str | None, key: tuple[str, str], state: str, revision: int | None
) -> dict[str, Any]:
    return {
        "gitPath": git_path,
        "namespace": key[0],
        "flowId": key[1],
        "revision": revision,
        "syncState": state,
    }
