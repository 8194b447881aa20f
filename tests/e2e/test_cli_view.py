"""`podium flow run`'s live view, read off a real terminal: tmux runs the command in a
pane and `capture-pane` shows what a user sees."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

FLOW = """\
id: sleepy
namespace: tests.view
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    level: ERROR
    message: an error-level line
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT60S
"""
_NAP = re.compile(r"nap\s+│\s+RUNNING\s+│\s+([\d.]+) (ms|s)\s+│\s+1\s+│")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[str]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed (scripts/test installs it)")
        pytest.skip("tmux is not installed (apt-get install tmux)")
    session = f"podium-view-{os.getpid()}"
    socket = str(tmp_path / "tmux.sock")  # a server of its own, stopped at the end
    yield f"{socket}:{session}"
    subprocess.run(["tmux", "-S", socket, "kill-server"], check=False, capture_output=True)


def _capture(target: str) -> str:
    socket, session = target.rsplit(":", 1)
    return subprocess.run(
        ["tmux", "-S", socket, "capture-pane", "-p", "-t", session],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout


def _elapsed(screen: str) -> float | None:
    found = _NAP.search(screen)
    if found is None:
        return None
    value = float(found.group(1))
    return value / 1000 if found.group(2) == "ms" else value


def _wait_for(target: str, accept: Callable[[str], bool], *, polls: int = 600) -> str:
    """The pane, once `accept(screen)` holds (polled; no assertion on time)."""
    screen = ""
    for _ in range(polls):
        screen = _capture(target)
        if accept(screen):
            return screen
        time.sleep(0.1)
    raise AssertionError(f"the pane never showed it; last screen:\n{screen}")


def test_a_running_task_shows_its_elapsed_time_ticking(tmux: str, tmp_path: Path) -> None:
    flow = tmp_path / "sleepy.yaml"
    flow.write_text(FLOW)
    socket, session = tmux.rsplit(":", 1)
    command = f"{sys.executable} -m engine.cli flow run {flow}; sleep 600"
    subprocess.run(
        ["tmux", "-S", socket, "new-session", "-d", "-s", session, "-x", "120", "-y", "40"]
        + ["-e", f"PYTHONPATH={os.environ.get('PYTHONPATH', ROOT)}", "-c", str(ROOT), command],
        check=True,
        timeout=30,
    )
    first = _wait_for(tmux, lambda s: _elapsed(s) is not None)
    earlier = _elapsed(first)
    assert earlier is not None
    later_screen = _wait_for(tmux, lambda s: (_elapsed(s) or 0) > earlier)
    # one table redrawn in place, not a line per redraw
    assert later_screen.count("nap ") == 1, later_screen
    # the log line's level has a column of its own; the task that wrote it succeeded
    assert re.search(r"greet\s+│\s+ERROR\s+│\s+an error-level line", later_screen), later_screen
    assert re.search(r"greet\s+│\s+SUCCESS\s+│", later_screen), later_screen
