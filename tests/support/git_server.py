"""A real git server on loopback for the git task tests: Debian's `git http-backend` (the
smart HTTP protocol, fetch and push) behind a small aiohttp server that asks for Basic
auth, with bare repositories the tests fill through a working clone."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

__all__ = ["GitServer", "git", "running_git_server"]

BACKEND = "/usr/lib/git-core/git-http-backend"
ROOT = web.AppKey("root", Path)
USER, PASSWORD = "podium", "s3cr3t-git-pw"


def git(*args: str, cwd: Path | None = None) -> str:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(cwd or Path("/tmp")),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class GitServer:
    root: Path
    port: int

    def url(self, name: str, *, userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self.port}/{name}.git"

    def create(self, name: str, files: Mapping[str, str], *, branch: str = "main") -> Path:
        """A bare repository `name` whose `branch` holds `files`."""
        bare = self.root / f"{name}.git"
        git("init", "--quiet", "--bare", "--initial-branch", branch, str(bare))
        self.commit(name, files, branch=branch, replace=True)
        return bare

    def commit(
        self, name: str, files: Mapping[str, str | None], *, branch: str = "main",
        replace: bool = False, links: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        """Write (or, for None, delete) files on `branch` and push them to the bare repo;
        `links` are symbolic links (path → target), as a hostile repository has them."""
        work = self.root / f"work-{name}"
        if not work.exists():
            git("init", "--quiet", "--initial-branch", branch, str(work))
            git("remote", "add", "origin", str(self.root / f"{name}.git"), cwd=work)
        elif not replace:
            git("pull", "--quiet", "origin", branch, cwd=work)
        for path, text in files.items():
            target = work / path
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for path, pointed in (links or {}).items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).symlink_to(pointed)
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "--allow-empty", "-m", "test change", cwd=work)
        git("push", "--quiet", "origin", f"HEAD:{branch}", cwd=work)

    def read(self, name: str, path: str, *, branch: str = "main") -> str:
        return git("show", f"{branch}:{path}", cwd=self.root / f"{name}.git")

    def tree(self, name: str, *, branch: str = "main") -> list[str]:
        listed = git("ls-tree", "-r", "--name-only", branch, cwd=self.root / f"{name}.git")
        return listed.split()


async def _handle(request: web.Request) -> web.StreamResponse:
    root: Path = request.app[ROOT]
    expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    if request.headers.get("Authorization") != f"Basic {expected}":
        return web.Response(
            status=401, headers={"WWW-Authenticate": 'Basic realm="git"'}, text="no"
        )
    body = await request.read()
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REMOTE_USER": USER,
        "REQUEST_METHOD": request.method,
        "PATH_INFO": request.path,
        "QUERY_STRING": request.query_string,
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(root),
    }
    if "Git-Protocol" in request.headers:
        env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
    process = await asyncio.create_subprocess_exec(
        BACKEND, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(process.communicate(body), 60)
    head, _, payload = output.partition(b"\r\n\r\n")
    status = 200
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n"):
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        elif key:
            headers[key.strip()] = value.strip()
    return web.Response(status=status, headers=headers, body=payload)


@asynccontextmanager
async def running_git_server(root: Path) -> AsyncIterator[GitServer]:
    app = web.Application(client_max_size=64 << 20)
    app[ROOT] = root
    app.router.add_route("*", "/{tail:.*}", _handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield GitServer(root, port)
    finally:
        await runner.cleanup()
