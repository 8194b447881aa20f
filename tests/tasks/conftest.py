"""The task tests serve their HTTP peers on 127.0.0.1: allow loopback targets for the
HTTP tasks (refused by default, tasks/http/network.py)."""

from __future__ import annotations

import pytest

from tasks.http.network import ALLOWED_NETWORKS_ENV


@pytest.fixture(autouse=True)
def allow_loopback_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, "127.0.0.0/8,::1")
