"""Running Debian's git for a task, with a remote URL and credentials a flow gave.

A flow's URL and credentials are attacker-controlled input, so every git call here:
- takes only `https://`, `http://`, `ssh://`, `git://` and scp-like `user@host:path`
  remotes; `ext::` and other transports are refused, `file://` and local paths only when
  `PODIUM_GIT_ALLOW_FILE` is `true` (a flow must not read the server's own repositories);
  `protocol.allow=never` plus the one allowed scheme makes git itself enforce it, for
  redirects and submodules too;
- refuses URLs and branches that begin with `-` (option injection), and puts `--`
  before positional arguments;
- resolves the remote host and checks every address against the HTTP tasks' network
  policy (tasks/http/network.py; `PODIUM_HTTP_ALLOWED_NETWORKS`); HTTP redirects are off,
  so the checked host is the one git talks to;
- runs with an empty private HOME and no system config (the server's ~/.gitconfig and
  credential helpers are never used), hooks pointed at an empty folder and
  `core.fsmonitor` off, so a cloned repository's config cannot make git run a program;
  `GIT_SSH_COMMAND` wins over any `core.sshCommand`;
- passes HTTP credentials as an Authorization header through `GIT_CONFIG_*` variables
  (never in argv, never in the URL), and masks the password, the header and any
  `user:pass@` in URLs out of every line it logs or raises;
- has a timeout on every call.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from engine.errors import TaskFailed
from engine.plugin import RunContext
from tasks.http.network import ALLOWED_NETWORKS_ENV, NetworkPolicy

__all__ = [
    "ALLOW_FILE_ENV",
    "GitRemote",
    "GitSession",
    "check_ref",
    "inside",
    "redact_url",
    "relative_files",
]

ALLOW_FILE_ENV = "PODIUM_GIT_ALLOW_FILE"
GIT_SECONDS = 600.0  # one git command (clone, push); the task's timeout applies too
RESOLVE_SECONDS = 30.0
MAX_OUTPUT_CHARS = 64 << 10  # what is kept of a failing command's output for its error
# What git prints when the server answered 401/403 or an SSH key was refused.
_AUTH_REFUSED = (
    "could not read Username",
    "could not read Password",
    "Authentication failed",
    "Permission denied (publickey",
    "The requested URL returned error: 403",
)
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^/:]+):(?!//)(?P<path>.+)$")
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
_REF = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+-]{1,250}$")


def check_ref(name: str, what: str = "branch") -> str:
    """A branch name git will read as a name, never as an option or a range."""
    if not _REF.match(name) or name.endswith((".lock", "/", ".")):
        raise TaskFailed(f"{what} {name!r} is not a valid git branch name")
    return name


@dataclass(frozen=True)
class GitRemote:
    url: str
    scheme: str  # https, http, ssh, git, file
    host: str | None

    def __repr__(self) -> str:
        return f"<GitRemote {redact_url(self.url)}>"

    @classmethod
    def parse(cls, url: str, environ: Mapping[str, str] | None = None) -> GitRemote:
        environ = os.environ if environ is None else environ
        url = url.strip()
        if not url or url.startswith("-"):
            raise TaskFailed(f"'url' {redact_url(url)!r} is not a git URL")
        if "::" in url.split("/", 1)[0]:
            raise TaskFailed("git remote helpers (`transport::address`, `ext::`) are refused")
        is_file_allowed = environ.get(ALLOW_FILE_ENV, "").lower() in ("1", "true", "yes")
        if "://" in url:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme == "file":
                if not is_file_allowed:
                    raise TaskFailed(f"file:// git URLs are refused unless {ALLOW_FILE_ENV}=true")
                return cls(url, "file", None)
            if scheme not in ("https", "http", "ssh", "git"):
                raise TaskFailed(f"git URL scheme {scheme!r} is refused (https, ssh, git only)")
            if not parts.hostname:
                raise TaskFailed(f"git URL {redact_url(url)!r} has no host")
            return cls(url, scheme, parts.hostname)
        match = _SCP_LIKE.match(url)
        if match and not url.startswith(("/", ".")):
            return cls(url, "ssh", match.group("host"))
        if not is_file_allowed:
            raise TaskFailed(f"local git repositories are refused unless {ALLOW_FILE_ENV}=true")
        return cls(url, "file", None)

    @property
    def display(self) -> str:
        return redact_url(self.url)

    async def check_network(self, environ: Mapping[str, str] | None = None) -> None:
        """Refuse a host that resolves to an address the network policy does not allow."""
        if self.host is None:
            return
        policy = NetworkPolicy.from_environ(environ)
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(self.host, None, type=socket.SOCK_STREAM), RESOLVE_SECONDS
            )
        except (OSError, TimeoutError) as exc:
            raise TaskFailed(f"cannot resolve git host {self.host!r}: {exc}") from None
        for info in infos:
            why = policy.refusal(str(info[4][0]))
            if why is not None:
                raise TaskFailed(
                    f"refused to connect to git host {self.host}: {why}; private, loopback "
                    f"and link-local hosts must be allowed with {ALLOWED_NETWORKS_ENV}"
                )


def redact_url(text: str) -> str:
    """`https://user:secret@host/x` → `https://***@host/x`."""
    return _USERINFO.sub("***@", text)


@dataclass
class GitSession:
    """git commands for one task attempt: a private HOME, the credentials, the masking."""

    ctx: RunContext
    remote: GitRemote
    username: str | None = None
    password: str | None = None
    private_key: str | None = None
    config: dict[str, str] = field(default_factory=dict)  # checked by the caller
    connect_seconds: int = 10
    _home: Path | None = field(default=None, repr=False)
    _secrets: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.private_key and self.remote.scheme != "ssh":
            raise TaskFailed("'privateKey' is for ssh URLs (git@host:repo or ssh://…)")
        if (self.username or self.password) and self.remote.scheme not in ("https", "http"):
            raise TaskFailed("'username' and 'password' are for https URLs")
        for secret in (self.password, self.private_key):
            if secret:
                self._secrets.append(secret)

    def __enter__(self) -> GitSession:
        self._home = Path(tempfile.mkdtemp(prefix="podium-git-"))
        (self._home / "hooks").mkdir()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)

    def mask(self, text: str) -> str:
        text = redact_url(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return self.ctx.mask(text)

    def _environment(self) -> dict[str, str]:
        assert self._home is not None, "use the session as a context manager"
        config: list[tuple[str, str]] = [
            ("protocol.allow", "never"),
            (f"protocol.{self.remote.scheme}.allow", "always"),
            ("core.hooksPath", str(self._home / "hooks")),
            ("core.fsmonitor", "false"),
            ("http.followRedirects", "false"),
            ("credential.helper", ""),
            ("submodule.recurse", "false"),
            ("init.defaultBranch", "main"),
            *self.config.items(),
        ]
        if self.username or self.password:
            token = base64.b64encode(
                f"{self.username or ''}:{self.password or ''}".encode()
            ).decode()
            self._secrets.append(token)
            config.append(("http.extraHeader", f"Authorization: Basic {token}"))
        env = {
            "HOME": str(self._home),
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
            "GIT_CONFIG_COUNT": str(len(config)),
        }
        for index, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new"]
        ssh += ["-o", f"ConnectTimeout={self.connect_seconds}"]
        ssh += ["-o", f"UserKnownHostsFile={self._home / 'known_hosts'}"]
        if self.private_key:
            key_file = self._home / "id_key"
            key_file.write_text(self.private_key.strip() + "\n", encoding="utf-8")
            key_file.chmod(0o600)
            ssh += ["-i", str(key_file), "-o", "IdentitiesOnly=yes"]
        env["GIT_SSH_COMMAND"] = " ".join(ssh)
        return env

    async def run(self, *args: str, cwd: Path | None = None, check: bool = True) -> str:
        """Run `git args…`; its output (masked), or TaskFailed with it when it fails."""
        if shutil.which("git") is None:
            raise TaskFailed("the git program is not installed: apt-get install git")
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=self._environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), GIT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise TaskFailed(f"git {args[0]} took more than {GIT_SECONDS:.0f} s") from None
        text = self.mask(output.decode("utf-8", "replace"))[-MAX_OUTPUT_CHARS:]
        if check and process.returncode != 0:
            if any(sign in text for sign in _AUTH_REFUSED):
                raise TaskFailed(
                    f"git {args[0]} of {self.remote.display}: the server refused the "
                    "credentials (check 'username' and 'password', or 'privateKey')"
                )
            raise TaskFailed(f"git {args[0]} of {self.remote.display} failed: {text.strip()}")
        return text

    async def clone(self, into: Path, *, branch: str | None, depth: int | None = 1) -> Path:
        """Clone the remote into `into` (which must not exist or be empty)."""
        await self.remote.check_network()
        args = ["clone", "--no-recurse-submodules", "--quiet"]
        if depth:
            args += ["--depth", str(depth)]
        if branch:
            args += ["--branch", check_ref(branch)]
        await self.run(*args, "--", self.remote.url, str(into))
        return into

    async def has_branch(self, branch: str) -> bool:
        await self.remote.check_network()
        out = await self.run(
            "ls-remote", "--heads", "--", self.remote.url, f"refs/heads/{check_ref(branch)}"
        )
        return bool(out.strip())


def relative_files(root: Path, *, recursive: bool = True) -> dict[str, Path]:
    """Regular files under `root` as `/a/b` → path. A cloned repository is hostile: a
    symbolic link (to /etc, say) is never followed, neither as a file nor as a folder."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    real_root = root.resolve()
    for path in sorted(root.rglob("*") if recursive else root.iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        relative = path.relative_to(root)
        if ".git" in relative.parts or not path.resolve().is_relative_to(real_root):
            continue  # below a linked folder
        found["/" + relative.as_posix()] = path
    return found


def inside(root: Path, relative: str) -> Path:
    """`relative` under `root`, refusing `..`, `.git` and symbolic links that lead out
    (a repository may hold `_files -> /etc`: reading or writing there must fail)."""
    parts: Sequence[str] = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or ".git" in parts:
        raise TaskFailed(f"{relative!r} is not a path inside the repository")
    path = root.joinpath(*parts) if parts else root
    if not path.resolve().is_relative_to(root.resolve()):
        raise TaskFailed(f"{relative!r} leads outside the repository (a symbolic link)")
    return path
