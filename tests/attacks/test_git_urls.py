"""git URLs a flow may give: remote helpers, local repositories, option injection and
private addresses are refused before git runs; credentials in URLs are never shown."""

from __future__ import annotations

import pytest

from engine.errors import TaskFailed
from tasks.git.common import check_git_config
from tasks.git.repo import ALLOW_FILE_ENV, GitRemote, check_ref, redact_url
from tasks.http.network import ALLOWED_NETWORKS_ENV


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/pwned",
        "fd::17",
        "file:///etc",
        "/srv/git/private.git",
        "./relative",
        "--upload-pack=touch /tmp/pwned",
        "-u x",
        "ftp://example.com/r.git",
        "https:///no-host",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(TaskFailed):
        GitRemote.parse(url, environ={})


def test_local_repositories_only_when_allowed() -> None:
    assert GitRemote.parse("file:///srv/r.git", environ={ALLOW_FILE_ENV: "true"}).scheme == "file"
    assert GitRemote.parse("git@example.com:org/r.git", environ={}).scheme == "ssh"


@pytest.mark.parametrize("branch", ["-b", "--upload-pack=x", "a..b", "main.lock", "x y", ""])
def test_refused_branches(branch: str) -> None:
    with pytest.raises(TaskFailed):
        check_ref(branch)


async def test_private_hosts_follow_the_http_network_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remote = GitRemote.parse("http://127.0.0.1:1/r.git", environ={})
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, "")
    with pytest.raises(TaskFailed, match="loopback"):
        await remote.check_network()
    metadata = GitRemote.parse("http://169.254.169.254/r.git", environ={})
    with pytest.raises(TaskFailed, match="link-local"):
        await metadata.check_network()
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, "127.0.0.0/8")
    await remote.check_network()


def test_credentials_in_urls_are_redacted() -> None:
    assert redact_url("fatal: https://u:p4ss@h/r.git x") == "fatal: https://***@h/r.git x"
    assert "p4ss" not in repr(GitRemote.parse("https://u:p4ss@example.com/r.git", environ={}))


@pytest.mark.parametrize(
    "key",
    ["core.sshCommand", "core.fsmonitor", "core.hooksPath", "credential.helper",
     "filter.x.clean", "protocol.allow", "http.extraHeader", "core.pager"],
)  # fmt: skip
def test_git_config_that_could_run_a_program_is_refused(key: str) -> None:
    with pytest.raises(TaskFailed, match="is refused"):
        check_git_config({key: "touch /tmp/pwned"})


def test_harmless_git_config_is_passed_on() -> None:
    assert check_git_config({"core.autocrlf": False, "core.fileMode": "false"}) == {
        "core.autocrlf": "false",
        "core.fileMode": "false",
    }
