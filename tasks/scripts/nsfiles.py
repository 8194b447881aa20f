"""Script tasks' `namespaceFiles`: copy namespace files into the working directory.

    namespaceFiles:
      enabled: true            # the default once the block is there
      include: [scripts/**]    # globs (or `regex:…`), matched against `/path/of/file`
      exclude: ["**.md"]
      namespaces: [a, b]       # default: the flow's; a later namespace wins a clash
      folderPerNamespace: false  # true: <workingDir>/<namespace>/<path>
      ifExists: OVERWRITE      # OVERWRITE, FAIL, WARN, IGNORE: when the file is there

Patterns follow Kestra's `PathMatcherPredicate`: Java globs over the absolute path; a
pattern that starts with a word character gets `**/` in front (so `main.py` matches
`/main.py` and `/src/main.py`); `regex:` and `glob:` prefixes choose the syntax.

Files come through `RunContext.namespace_files` (the engine checks paths and sizes) and
are written under the working directory only, never through a symlink that points out.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from engine.errors import TaskFailed
from engine.plugin import RunContext
from tasks.scripts.files import check_relative_name, glob_to_regex, target_inside
from tasks.scripts.models import NamespaceFilesSpec, is_true

__all__ = ["load_namespace_files", "path_predicate"]

_WORD_START = re.compile(r"^\w")


def _matcher(pattern: str) -> Callable[[str], bool]:
    if pattern.startswith("regex:"):
        try:
            regex = re.compile(pattern[len("regex:") :])
        except re.error as exc:
            raise TaskFailed(f"invalid namespace file pattern {pattern!r}: {exc}") from None
        return lambda path: regex.fullmatch(path) is not None
    glob = pattern[len("glob:") :] if pattern.startswith("glob:") else pattern
    if not pattern.startswith("glob:") and _WORD_START.match(glob):
        glob = "**/" + glob
    compiled = glob_to_regex(glob, "namespace file pattern")
    return lambda path: compiled.match(path) is not None


def path_predicate(includes: Sequence[str], excludes: Sequence[str] = ()) -> Callable[[str], bool]:
    """Kestra's include/exclude rule over paths like `/a/b.py`: included (or no include
    given) and not excluded."""
    keep = [_matcher(p) for p in includes]
    drop = [_matcher(p) for p in excludes]

    def test(path: str) -> bool:
        if keep and not any(m(path) for m in keep):
            return False
        return not any(m(path) for m in drop)

    return test


async def load_namespace_files(
    ctx: RunContext,
    folder: Path,
    spec: NamespaceFilesSpec | None,
    *,
    render: Callable[[Any], Any],
    render_list: Callable[[Any], list[str]],
) -> list[str]:
    """Copy the selected namespace files into the working directory; returns their
    relative names there."""
    if spec is None or not is_true(render(spec.enabled)):
        return []
    predicate = path_predicate(render_list(spec.include), render_list(spec.exclude))
    namespaces = render_list(spec.namespaces) or [ctx.namespace]
    per_namespace = is_true(render(spec.folderPerNamespace))
    if_exists = str(render(spec.ifExists)).upper()
    if if_exists not in ("OVERWRITE", "FAIL", "WARN", "IGNORE"):
        raise TaskFailed(
            f"namespaceFiles.ifExists must be OVERWRITE, FAIL, WARN or IGNORE, got {if_exists!r}"
        )
    chosen: dict[str, bytes] = {}
    for namespace in namespaces:
        try:
            listing = await ctx.namespace_files.list_files(namespace)
            for path, _ in listing:
                if predicate(path):
                    name = f"{namespace}{path}" if per_namespace else path.lstrip("/")
                    chosen[name] = await ctx.namespace_files.read(namespace, path)
        except TaskFailed:
            raise
        except Exception as exc:  # the engine's refusal, already worded for the user
            raise TaskFailed(f"namespace files of {namespace!r}: {exc}") from None

    def write() -> list[str]:
        written = []
        for name, data in chosen.items():
            relative = check_relative_name(name, "namespace file")
            target = target_inside(folder, PurePosixPath(relative))
            if Path(target).exists():
                if if_exists == "FAIL":
                    raise TaskFailed(f"namespace file {name!r} is already in the working directory")
                if if_exists in ("WARN", "IGNORE"):
                    if if_exists == "WARN":
                        ctx.logger.warning(f"namespace file {name!r} is already there; kept")
                    continue
            target.write_bytes(data)
            written.append(name)
        return written

    written = await asyncio.to_thread(write)
    ctx.logger.debug(f"copied {len(written)} namespace file(s) into the working directory")
    return written
