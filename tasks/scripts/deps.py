"""Python `dependencies`: cached virtual environments, created once per dependency set.

For the Process runner, a task's `dependencies` are installed into a virtual environment
under `ctx.cache_dir("python-envs")`, keyed by a hash of the sorted dependency set, the
package manager and the base interpreter (its real path and version). The task then runs
with that environment's `bin/` first on PATH, so `python` and `pip` are the venv's.

Created once, even under concurrency:
- in this process, an asyncio lock per key: the second task waits, then finds it ready;
- across processes, the environment is built in a private temporary folder and renamed
  into place only when complete (a rename is atomic); whoever loses the race drops its
  copy. Script shebangs that name the temporary folder are rewritten before the rename.
A crashed build leaves only a `.tmp` folder, removed by a later build once it is old.

In a container the image's Python is used: `docker_prelude()` is a constant shell line
that installs the requirements file before the script, as Kestra does.

Dependencies never reach a shell: they are written one per line to a requirements file,
and a line that pip would read as an option (`-…`) is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sys
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.errors import TaskFailed
from tasks.scripts.protocol import Stream
from tasks.scripts.runners.process import run_process

__all__ = [
    "PackageManager",
    "PythonEnvironments",
    "check_requirements",
    "docker_prelude",
    "write_requirements",
]

PackageManager = Literal["PIP", "UV"]
MARKER = ".podium-env.json"
PROBE_SECONDS = 60.0
INSTALL_SECONDS = 1800.0  # one step (venv, install); the task's own timeout applies too
STALE_BUILD_SECONDS = 24 * 3600
_PROBE = "import sys; print(sys.executable); print(sys.version.split()[0])"

# One lock table per event loop: asyncio locks belong to the loop that first used them.
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_interpreters: dict[str, tuple[str, str]] = {}


def check_requirements(dependencies: Sequence[str]) -> list[str]:
    """Sorted, de-duplicated requirement lines; raises TaskFailed on an unsafe one."""
    cleaned = set()
    for raw in dependencies:
        line = str(raw).strip()
        if not line:
            continue
        if line.startswith("-") or any(c in line for c in "\n\r\x00"):
            raise TaskFailed(f"invalid Python dependency {raw!r}")
        cleaned.add(line)
    return sorted(cleaned)


def write_requirements(path: Path, requirements: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in requirements), encoding="utf-8")
    return path


def docker_prelude(requirements_file: str, manager: PackageManager) -> str:
    """The shell line that installs a requirements file inside a container.

    `requirements_file` is a path Podium chose (no user text). PEP 668 images (Debian's
    python3) refuse system installs unless told otherwise; the variables are harmless
    elsewhere. uv is used when asked for and present in the image, else pip.
    """
    pip = (
        "PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore "
        f"python -m pip install --quiet --disable-pip-version-check -r {requirements_file}"
    )
    if manager == "UV":
        return (
            "if command -v uv >/dev/null 2>&1; then UV_BREAK_SYSTEM_PACKAGES=1 uv pip install "
            f"--quiet --system -r {requirements_file}; else {pip}; fi"
        )
    return pip


@dataclass(frozen=True, slots=True)
class PythonEnv:
    path: Path
    is_new: bool

    @property
    def bin(self) -> Path:
        return self.path / "bin"


LogLine = Callable[[str, str], None]  # (level, message)


class PythonEnvironments:
    """The cache of virtual environments under one folder."""

    def __init__(self, root: Path, host_env: Mapping[str, str]) -> None:
        self.root = root
        self.host_env = dict(host_env)  # pip runs packages' build code: no server secrets

    def __repr__(self) -> str:
        return f"<PythonEnvironments {self.root}>"

    async def ensure(
        self, requirements: Sequence[str], manager: PackageManager, log: LogLine
    ) -> PythonEnv:
        """The environment for `requirements`, built now if it does not exist yet."""
        executable, version = await _base_interpreter()
        if manager == "UV" and shutil.which("uv") is None:
            log("WARN", "packageManager UV: 'uv' is not installed here; using pip instead")
            manager = "PIP"
        spec: dict[str, object] = {
            "requirements": list(requirements),
            "python": [executable, version],
            "manager": manager,
        }
        key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]
        final = self.root / key
        if (final / MARKER).exists():
            log("DEBUG", f"reusing the cached Python environment {key}")
            return PythonEnv(final, is_new=False)
        async with _lock_for(key):
            if (final / MARKER).exists():
                log("DEBUG", f"reusing the cached Python environment {key}")
                return PythonEnv(final, is_new=False)
            log(
                "INFO",
                f"installing {len(requirements)} Python dependencies with {manager.lower()} "
                f"into the cached environment {key}",
            )
            started = time.monotonic()
            await self._build(final, spec, requirements, executable, manager, log)
            log("INFO", f"Python environment {key} ready in {time.monotonic() - started:.1f}s")
            return PythonEnv(final, is_new=True)

    async def _build(
        self,
        final: Path,
        spec: dict[str, object],
        requirements: Sequence[str],
        executable: str,
        manager: PackageManager,
        log: LogLine,
    ) -> None:
        building = self.root / f".{final.name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            listed = await asyncio.to_thread(self._start_build, building, requirements)
            python = building / "bin" / "python"
            if manager == "UV":
                uv = shutil.which("uv") or "uv"
                steps = [
                    [uv, "venv", "--quiet", "--allow-existing", "--python", executable,
                     str(building)],
                    [uv, "pip", "install", "--python", str(python), "-r", str(listed)],
                ]  # fmt: skip
            else:
                steps = [
                    [executable, "-m", "venv", str(building)],
                    [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                     "-r", str(listed)],
                ]  # fmt: skip
            for argv in steps:
                await _run_step(argv, building, self.host_env, log)
            await asyncio.to_thread(_finish_build, building, final, spec)
        except OSError as exc:
            raise TaskFailed(f"cannot create the Python environment: {exc}") from None
        finally:
            await asyncio.to_thread(shutil.rmtree, building, True)

    def _start_build(self, building: Path, requirements: Sequence[str]) -> Path:
        """Clear builds a crash left behind, then write the requirements to install."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale_builds()
        return write_requirements(building / "requirements.txt", requirements)

    def _remove_stale_builds(self) -> None:
        cutoff = time.time() - STALE_BUILD_SECONDS
        for path in self.root.glob(".*.tmp"):
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                continue


def _lock_for(key: str) -> asyncio.Lock:
    table = _locks.setdefault(asyncio.get_running_loop(), {})
    return table.setdefault(key, asyncio.Lock())


async def _run_step(argv: list[str], cwd: Path, env: Mapping[str, str], log: LogLine) -> None:
    tail: list[str] = []

    def on_line(stream: Stream, line: str) -> None:
        tail.append(line)
        del tail[:-20]
        log("DEBUG", line)

    await asyncio.to_thread(cwd.mkdir, parents=True, exist_ok=True)
    try:
        async with asyncio.timeout(INSTALL_SECONDS):
            code = await run_process(argv, env=env, cwd=cwd, on_line=on_line)
    except TimeoutError:
        raise TaskFailed(
            f"installing Python dependencies took more than {INSTALL_SECONDS:g}s"
        ) from None
    if code != 0:
        shown = "\n".join(tail[-10:])
        raise TaskFailed(f"installing Python dependencies failed (exit code {code}):\n{shown}")


def _finish_build(building: Path, final: Path, spec: Mapping[str, object]) -> None:
    """Mark the build complete and move it into place in one atomic rename."""
    _relocate(building, final)
    (building / MARKER).write_text(json.dumps(spec, indent=2))
    try:
        os.rename(building, final)
    except OSError:
        if not (final / MARKER).exists():  # not another process's finished build
            raise


def _relocate(building: Path, final: Path) -> None:
    """Point the scripts in `bin/` (shebangs, activate) at the environment's final place."""
    old, new = str(building).encode(), str(final).encode()
    for path in (building / "bin").iterdir():
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data[:4096] or (path.name.startswith("activate") and old in data):
            path.write_bytes(data.replace(old, new))


async def _base_interpreter() -> tuple[str, str]:
    """The real executable and version of the `python3` on PATH (Podium's own if none)."""
    found = shutil.which("python3") or shutil.which("python") or sys.executable
    cached = _interpreters.get(found)
    if cached is not None:
        return cached
    try:
        probe = await asyncio.create_subprocess_exec(
            found,
            "-c",
            _PROBE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        raise TaskFailed(f"cannot run {found!r} to create a Python environment: {exc}") from None
    try:
        out, _ = await asyncio.wait_for(probe.communicate(), PROBE_SECONDS)
    except TimeoutError:
        probe.kill()
        await probe.wait()
        raise TaskFailed(f"{found!r} did not answer within {PROBE_SECONDS:g}s") from None
    lines = out.decode(errors="replace").split()
    if probe.returncode != 0 or len(lines) < 2:
        raise TaskFailed(f"{found!r} is not a working Python interpreter")
    real = await asyncio.to_thread(os.path.realpath, lines[0])
    _interpreters[found] = (real, lines[1])
    return _interpreters[found]
