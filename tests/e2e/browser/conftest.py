"""Browser tests: a real Podium serving HTTP, driven by Debian's Chromium via playwright.

Never `playwright install`: scripts/install-browser puts Chromium at /usr/bin/chromium.
Each test gets its own Podium (temporary data folder) and browser; `ui` is a page
already signed in through the API's login endpoint. Screenshots go to test-artifacts/.
A page error (an uncaught exception in the UI's scripts) fails the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from engine.server import Podium
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, running_podium

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"

pytestmark = pytest.mark.e2e


@dataclass
class UI:
    podium: Podium
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.podium.port}"

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    async def editor_value(self) -> str:
        """The text in the page's editor (CodeMirror: not a form field)."""
        return str(
            await self.page.evaluate("() => document.querySelector('.editor').podiumEditor.value")
        )

    async def wait_editor(self, pattern: str) -> None:
        """Until the editor's text matches the regular expression `pattern`."""
        await self.page.wait_for_function(
            "p => { const e = document.querySelector('.editor');"
            " return Boolean(e && e.podiumEditor && new RegExp(p).test(e.podiumEditor.value)); }",
            arg=pattern,
        )

    async def deploy(self, source: str) -> Any:
        return await self.podium.flows.save(source)

    async def start(self, namespace: str, flow_id: str, **inputs: Any) -> str:
        request = await self.podium.intake.execute(namespace, flow_id, inputs=inputs)
        return request.execution_id


@pytest.fixture
async def podium(tmp_path: Path) -> AsyncIterator[Podium]:
    async with running_podium(tmp_path / "data", serve_http=True) as podium:
        yield podium


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("no Chromium at /usr/bin/chromium: run scripts/install-browser")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def _open(podium: Podium, browser: Browser) -> UI:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = await context.new_page()
    ui = UI(podium, context, page)
    page.on("pageerror", lambda exc: ui.errors.append(str(exc)))
    return ui


@pytest.fixture
async def anonymous(podium: Podium, browser: Browser) -> AsyncIterator[UI]:
    """A browser that has not signed in."""
    ui = await _open(podium, browser)
    yield ui
    await ui.context.close()
    assert not ui.errors, f"errors in the page: {ui.errors}"


@pytest.fixture
async def ui(podium: Podium, browser: Browser) -> AsyncIterator[UI]:
    """A browser signed in as the admin (session cookie set by POST /api/v1/auth/login)."""
    ui = await _open(podium, browser)
    response = await ui.context.request.post(
        f"{ui.base}/api/v1/auth/login",
        data={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
    )
    assert response.ok, await response.text()
    yield ui
    await ui.context.close()
    assert not ui.errors, f"errors in the page: {ui.errors}"
