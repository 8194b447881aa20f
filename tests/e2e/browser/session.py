"""What a browser test module shares: one Podium and one Chromium for the whole module
(started once; each test gets a fresh signed-in context, which costs milliseconds), and a
watch on the page that fails the test on a console error, an uncaught exception, a failed
request or an unexpected 4xx/5xx answer.

A module uses them with `pytestmark = pytest.mark.asyncio(loop_scope="module")` and
fixtures declared with `scope="module", loop_scope="module"` (see test_pages.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    async_playwright,
)

from engine.server import Podium
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.e2e.browser.conftest import ARGS, ARTIFACTS, CHROMIUM

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"

# axe's serious and critical findings, each with a few of the elements it blames
_AXE_RUN = """async (rules) => {
  const options = { resultTypes: ["violations"] };
  if (rules) options.runOnly = { type: "rule", values: rules };
  const result = await axe.run(document, options);
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} -> ${v.nodes.slice(0, 4).map((n) => n.target.join(" ")).join(" | ")}`);
}"""


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        raise RuntimeError("no Chromium at /usr/bin/chromium: run scripts/install-browser")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Watched:
    """A signed-in (or anonymous) page and what went wrong in it."""

    podium: Podium
    context: BrowserContext
    page: Page
    problems: list[str] = field(default_factory=list)
    allowed: list[tuple[int, re.Pattern[str]]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.podium.port}"

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base + path)

    def allow(self, status: int, url: str) -> None:
        """An answer this test provokes on purpose (a regex on the URL)."""
        self.allowed.append((status, re.compile(url)))

    def _is_allowed(self, status: int, url: str) -> bool:
        return any(status == s and pattern.search(url) for s, pattern in self.allowed)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if message.text.startswith("Failed to load resource") and any(
            pattern.search(url) for _, pattern in self.allowed
        ):
            return
        self.problems.append(f"console error: {message.text} ({url})")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400 and not self._is_allowed(response.status, response.url):
            self.problems.append(f"{response.status} from {response.request.method} {response.url}")

    def _on_failed(self, request: Request) -> None:
        failure = request.failure or ""
        # a navigation or an AbortController ends fetches and streams on purpose
        if "ERR_ABORTED" not in failure:
            self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    async def axe(self, rules: list[str] | None = None) -> list[str]:
        """axe-core's serious and critical violations on the page as it is now (of
        `rules` only, when given)."""
        if not await self.page.evaluate("() => typeof axe !== 'undefined'"):
            await self.page.evaluate(AXE.read_text())
        found: list[str] = await self.page.evaluate(_AXE_RUN, rules)
        return found


@asynccontextmanager
async def watched_page(
    podium: Podium,
    browser: Browser,
    *,
    signed_in: bool = True,
    with_axe: bool = False,
    **options: Any,
) -> AsyncIterator[Watched]:
    """A new context; `with_axe` loads axe-core into every page it opens (cheaper than
    sending it again after each navigation)."""
    options.setdefault("viewport", {"width": 1280, "height": 800})
    context = await browser.new_context(locale="en-GB", **options)
    if with_axe:
        await context.add_init_script(path=str(AXE))
    context.set_default_timeout(15_000)
    page = await context.new_page()
    watched = Watched(podium, context, page)
    page.on("console", watched._on_console)
    page.on("pageerror", lambda exc: watched.problems.append(f"page error: {exc}"))
    page.on("response", watched._on_response)
    page.on("requestfailed", watched._on_failed)
    if signed_in:
        response = await context.request.post(
            f"{watched.base}/api/v1/auth/login",
            data={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        )
        assert response.ok, await response.text()
    try:
        yield watched
    finally:
        await context.close()
    assert not watched.problems, "\n".join(watched.problems)
