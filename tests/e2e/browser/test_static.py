"""How /ui/ is served: index.html for client routes, assets with their types and
long-lived caching under a versioned path, nothing outside the static folder."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.web.ui import STATIC_ROOT, ui_routes


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app.add_routes(ui_routes())
    async with TestClient(TestServer(app)) as client:
        yield client


async def _asset_prefix(client: TestClient[web.Request, web.Application]) -> str:
    html = await (await client.get("/ui/")).text()
    found = re.search(r'src="(/ui/assets/[0-9a-f]+)/js/app\.js"', html)
    assert found, html
    return found.group(1)


async def test_client_routes_answer_the_index(
    client: TestClient[web.Request, web.Application],
) -> None:
    for path in ("/ui/", "/ui/flows", "/ui/flows/company.team/hello/editor", "/ui/executions/x"):
        response = await client.get(path)
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        assert "<title>Podium</title>" in await response.text()
    for path in ("/", "/ui"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"] == "/ui/"


async def test_assets_have_types_and_are_cached(
    client: TestClient[web.Request, web.Application],
) -> None:
    prefix = await _asset_prefix(client)
    expected = {
        "js/app.js": "text/javascript; charset=utf-8",
        "css/app.css": "text/css; charset=utf-8",
        "img/logo.svg": "image/svg+xml; charset=utf-8",
    }
    for name, kind in expected.items():
        response = await client.get(f"{prefix}/{name}")
        assert response.status == 200, name
        assert response.headers["Content-Type"] == kind
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert (await response.read()) == (STATIC_ROOT / name).read_bytes()
        again = await client.get(
            f"{prefix}/{name}", headers={"If-None-Match": response.headers["ETag"]}
        )
        assert again.status == 304
    # an outdated version still gets the file, but must revalidate it
    stale = await client.get("/ui/assets/000000000000/js/app.js")
    assert stale.status == 200
    assert stale.headers["Cache-Control"] == "no-cache"


async def test_nothing_outside_the_static_folder(
    client: TestClient[web.Request, web.Application],
) -> None:
    prefix = await _asset_prefix(client)
    secret = Path(__file__).name
    for path in (
        f"{prefix}/../__init__.py",
        f"{prefix}/%2e%2e/__init__.py",
        f"{prefix}/..%2f__init__.py",
        f"{prefix}/js/..%2f..%2f__init__.py",
        f"{prefix}/%2e%2e%2f%2e%2e%2f%2e%2e%2ftests/e2e/browser/{secret}",
        f"{prefix}/.hidden",
        f"{prefix}/js/nope.js",
        f"{prefix}/index.html",
    ):
        response = await client.get(path)
        body = await response.text()
        assert "ui_routes" not in body and "import pytest" not in body, path
        assert response.status == 404 or "<title>Podium</title>" in body, path


def test_static_files_are_package_data() -> None:
    """pyproject.toml ships every file under engine/web/ui/static."""
    text = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    assert '"web/ui/static/**/*"' in text
    assert (STATIC_ROOT / "index.html").is_file()
