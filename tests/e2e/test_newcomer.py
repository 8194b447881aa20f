"""A newcomer's first minutes: clone the repository into an empty folder (no course
`../shared` beside it) and run the two commands at the top of the README, exactly as
written — the test command with `--smoke`, its quick subset.

It clones the committed HEAD, not the working tree. It stays affordable by reusing what
the machine has: the newcomer's virtualenv and scripts/test's `.venv` both see the
interpreter's installed packages, so pip installs only the project itself.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# Variables of this run that would point the clone's commands back at this checkout.
FOREIGN = ("PYTHONPATH", "PODIUM_COURSE_FLOWS", "VIRTUAL_ENV", "PODIUM_VENV")


def readme_commands() -> list[str]:
    """The commands of the README's first code block, without their comments."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block is not None
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
    # A PATH without this run's own virtualenv: the clone makes its own.
    own = str(Path(sys.prefix) / "bin")
    env["PATH"] = ":".join(
        p for p in env["PATH"].split(":") if p != own or sys.prefix == sys.base_prefix
    )
    return env


def _wait_for_password(process: subprocess.Popen[str], lines: list[str], seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in list(lines):
            found = re.search(r"created the user 'admin' with the password (\S+)", line)
            if found:
                return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError("no admin password printed:\n" + "".join(lines[-40:]))


def _flows(port: int, password: str, seconds: float) -> object:
    token = b64encode(f"admin:{password}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/flows", headers={"Authorization": f"Basic {token}"}
    )
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.read().decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_fresh_clone_runs_the_readme_commands(tmp_path: Path) -> None:
    start, test = readme_commands()[:2]
    assert start == "pip install . && podium server local"
    assert test == "scripts/test"
    clone = tmp_path / "podium"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    assert not (tmp_path / "shared").exists()
    env = _environment(tmp_path)

    # 1. Install and start, in a virtualenv of the newcomer's, on a free port
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120
    )
    port = _free_port()
    server_env = {**env, "PATH": f"{venv}/bin:{env['PATH']}", "PODIUM_PORT": str(port)}
    lines: list[str] = []
    with subprocess.Popen(
        ["bash", "-c", start], cwd=clone, env=server_env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    ) as server:  # fmt: skip
        assert server.stdout is not None
        reader = threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()
        try:
            password = _wait_for_password(server, lines, 600)
            assert _flows(port, password, 60) == "[]"
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        reader.join(timeout=10)
    assert (clone / "podium-data" / "admin-user.json").is_file()

    # 2. The test command, limited to its smoke subset
    done = subprocess.run(
        ["bash", "-c", f"{test} --smoke"], cwd=clone, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    summary = re.search(r"^(\d+) passed.*$", output, re.M)
    assert summary is not None and "failed" not in summary.group(0), output[-3000:]
    assert (clone / ".venv" / "bin" / "python").exists()
    for step in ("packages", "PostgreSQL", "Kafka broker", "ruff", "pytest"):
        assert f"== {step}" in output, output[-3000:]
