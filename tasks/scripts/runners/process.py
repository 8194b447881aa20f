"""The Process runner (`io.kestra.plugin.core.runner.Process`): a local subprocess.

The script runs in a new session (`start_new_session=True`), so it and everything it
spawns share one process group that Podium can end as a whole:

- cancelled (kill, timeout, shutdown): SIGTERM to the group, up to `TERM_GRACE_SECONDS`
  for the leader to exit, then SIGKILL to the group, then the leader is reaped;
- the leader exited on its own: SIGKILL to what is left of its group (a forgotten
  `sleep 1000 &` would otherwise hold the output pipes open and outlive the task), then
  the pipes are drained for at most `DRAIN_SECONDS`;
- Podium itself killed (kill -9, OOM): a guard process started beside the group (its own
  session, a pipe from Podium as its stdin) sees the pipe close without the word `done`
  and SIGKILLs the group, so no script outlives the executor that ran it unobserved
  (PR_SET_PDEATHSIG would reach only the group's leader, not what the script started).

The guard needs the group's id, so the group exists before it; but the script does not
run before it: the leader starts as a gate (`/bin/sh` reading one line from a pipe only
Podium can write to) and execs the script only on `go`, written once the guard is up. Podium
killed before that: the gate reads end-of-file and exits without running anything. So
there is no moment in which the script runs unguarded.

stdout and stderr are read as they arrive (a protocol, not stream readers: asyncio's
`Process.wait()` only returns once the pipes are closed, which a left-behind child can
delay forever) and split into bounded lines (`protocol.LineSplitter`), so a script that
never prints a newline cannot exhaust memory. How long a script may run is the task's
`timeout`, applied by the engine.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.errors import TaskFailed
from tasks.scripts.protocol import LineSplitter, OnLine, Stream
from tasks.scripts.runners.base import Launch

__all__ = ["ProcessRunner", "run_process"]

TERM_GRACE_SECONDS = 5.0
# Fault injection for tests/chaos only: seconds to wait between starting a script (at its
# gate) and starting its guard, so a chaos run can kill an executor in that moment.
GUARD_DELAY_SECONDS = float(os.environ.get("PODIUM_TEST_GUARD_DELAY_SECONDS") or 0)
DRAIN_SECONDS = 5.0
REAP_SECONDS = 10.0
_STREAMS: dict[int, Stream] = {1: "stdout", 2: "stderr"}


class ProcessRunner:
    """`host_env` is what the script sees of the server's environment
    (`RunContext.host_environment()`: PATH, HOME, LANG, TZ and what the settings allow),
    never the server's whole environment: that holds its credentials."""

    is_container = False

    def __init__(self, host_env: Mapping[str, str]) -> None:
        self.host_env = dict(host_env)

    def __repr__(self) -> str:
        return f"<ProcessRunner host variables={sorted(self.host_env)}>"

    async def run(self, launch: Launch, on_line: OnLine) -> int:
        env = {**self.host_env, **launch.env}
        if launch.path_prefix:
            env["PATH"] = os.pathsep.join([*launch.path_prefix, env.get("PATH", os.defpath)])
        return await run_process(launch.argv, env=env, cwd=launch.working_dir, on_line=on_line)


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    on_line: OnLine,
    term_grace: float = TERM_GRACE_SECONDS,
) -> int:
    """Run `argv` in its own process group, streaming its lines; returns the exit code."""
    loop = asyncio.get_running_loop()
    _check_executable(argv[0], env, cwd)
    gate, opener = os.pipe()  # `gate` is the leader's stdin; `opener` stays with us
    try:
        transport, protocol = await loop.subprocess_exec(
            lambda: _LineProtocol(on_line),
            "/bin/sh", "-c", _GATE, "podium-gate", *argv,
            stdin=gate,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        os.close(opener)
        raise TaskFailed(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None
    finally:
        os.close(gate)
    pid = transport.get_pid()
    guard = None
    try:
        try:
            if GUARD_DELAY_SECONDS:
                await asyncio.sleep(GUARD_DELAY_SECONDS)
            guard = await _guard(pid)
            os.write(opener, b"go\n")  # the guard is up (or could not start): run the script
        finally:
            os.close(opener)  # before `go`: the gate sees end-of-file, and nothing runs
        await protocol.exited.wait()
        _signal_group(pid, signal.SIGKILL)  # what the script left behind in its group
        # A process that left the group may still hold the pipes: stop reading then.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(protocol.closed.wait(), DRAIN_SECONDS)
        protocol.raise_failure()
        code = transport.get_returncode()
        assert code is not None
        return code
    except BaseException:
        await _stop(pid, protocol, term_grace)
        raise
    finally:
        transport.close()
        if guard is not None:
            await _release(guard)


# The script's leader until the guard is up: one line from its stdin (the gate pipe);
# `go` runs the script (exec: same process, same group) with stdin from /dev/null as
# before, anything else (end-of-file: Podium died) ends it.
_GATE = 'read -r word; exec </dev/null; [ "$word" = go ] || exit 125; exec "$@"'


def _check_executable(program: str, env: Mapping[str, str], cwd: Path) -> None:
    """The gate would only say `not found` on stderr: say it as a failure to start."""
    if "/" in program:
        found = (cwd / program).is_file() and os.access(cwd / program, os.X_OK)
    else:
        found = shutil.which(program, path=env.get("PATH", os.defpath)) is not None
    if not found:
        raise TaskFailed(f"cannot start {program!r}: no such executable file")


# A shell (cheap to start) reads its stdin to the end: `done` means Podium ended the group
# itself; anything else (EOF: the Podium process died) means the group must go now. Only
# then is Python started, for a killpg that dash's `kill` cannot spell.
_GUARD = (
    'read -r word; [ "$word" = done ] || exec "$2" -I -S -c '
    '"import os, sys; os.killpg(int(sys.argv[1]), 9)" "$1"'
)


async def _guard(pgid: int) -> asyncio.subprocess.Process | None:
    try:
        return await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", _GUARD, "podium-guard", str(pgid), sys.executable,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    except OSError:  # no guard is better than no script: the in-process cleanup still runs
        return None


async def _release(guard: asyncio.subprocess.Process) -> None:
    """Tell the guard the group is ended, and reap it (even when cancelled meanwhile)."""
    stdin = guard.stdin
    assert stdin is not None
    with contextlib.suppress(OSError):
        stdin.write(b"done\n")
        stdin.close()
    try:
        await asyncio.wait_for(guard.wait(), REAP_SECONDS)
    except BaseException as exc:  # timed out or cancelled: it knows `done`, it may go
        with contextlib.suppress(ProcessLookupError):
            guard.kill()
        if not isinstance(exc, TimeoutError):
            raise


class _LineProtocol(asyncio.SubprocessProtocol):
    """Decodes and splits both pipes into lines; tells when the process exited."""

    def __init__(self, on_line: OnLine) -> None:
        self._on_line = on_line
        self._decoders = {fd: codecs.getincrementaldecoder("utf-8")("replace") for fd in _STREAMS}
        self._splitters = {fd: LineSplitter() for fd in _STREAMS}
        self._open = set(_STREAMS)
        self._failure: BaseException | None = None
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<_LineProtocol open={sorted(self._open)} exited={self.exited.is_set()}>"

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._emit(fd, self._splitters[fd].feed(self._decoders[fd].decode(data)))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd not in self._open:
            return
        splitter = self._splitters[fd]
        self._emit(
            fd, [*splitter.feed(self._decoders[fd].decode(b"", final=True)), *splitter.close()]
        )
        self._open.discard(fd)
        if not self._open:
            self.closed.set()

    def process_exited(self) -> None:
        self.exited.set()

    def _emit(self, fd: int, lines: list[str]) -> None:
        stream = _STREAMS[fd]
        for line in lines:
            try:
                self._on_line(stream, line)
            except Exception as exc:  # raised again in the task, not lost in the loop
                self._failure = self._failure or exc

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _stop(pgid: int, protocol: Any, term_grace: float) -> None:
    """End the whole process group: SIGTERM, a grace period, SIGKILL; await the exit."""
    try:
        if not protocol.exited.is_set():
            _signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(protocol.exited.wait(), term_grace)
    finally:
        # Even when cancelled again while waiting: nothing of the group may outlive us.
        _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(protocol.exited.wait(), REAP_SECONDS)
