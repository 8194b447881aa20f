"""Keyboard use: shortcuts, tab order through real links and buttons, visible focus."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.e2e.browser.conftest import UI
from tests.e2e.browser.flows import SLOW


async def test_keyboard_shortcuts_and_focus(ui: UI) -> None:
    await ui.deploy(SLOW)
    page = ui.page
    await ui.goto("/ui/flows")
    await expect(page.locator('[data-flow="company.team/slow"]')).to_be_visible()
    # "/" focuses the search box; "g e" goes to executions; "?" lists the shortcuts
    await page.keyboard.press("/")
    await expect(page.locator("#flow-search")).to_be_focused()
    await page.keyboard.press("Escape")
    await page.locator("#flow-search").blur()
    await page.keyboard.press("g")
    await page.keyboard.press("e")
    await page.wait_for_url(re.compile(r"/ui/executions$"))
    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog")).to_contain_text("Keyboard shortcuts")
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_have_count(0)

    # Tab goes through the skip link, then the navigation, with a visible focus ring
    await ui.goto("/ui/flows")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    dashboard = page.get_by_role("link", name="Dashboard")
    await expect(dashboard).to_be_focused()
    outline = await dashboard.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/ui/dashboard$"))

    # In the editor Tab indents; Escape then Tab leaves it
    await ui.goto("/ui/flows/company.team/slow/editor")
    editor = page.get_by_test_id("yaml-editor")
    await editor.focus()
    await page.keyboard.press("Control+Home")
    await page.keyboard.press("Tab")
    await ui.wait_editor(r"^  id: slow")
    await expect(editor).to_be_focused()
    await page.keyboard.press("Escape")
    await page.keyboard.press("Tab")
    await expect(editor).not_to_be_focused()
    await expect(page.get_by_test_id("save")).to_be_focused()
