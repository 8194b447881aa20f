"""The KV store page: pick a namespace, list with a filter, create and edit typed values,
expiry shown, delete; every change checked against the API."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.async_api import expect

from tests.e2e.browser.conftest import UI


async def test_kv_page_lists_filters_creates_edits_and_deletes(ui: UI) -> None:
    kv = ui.podium.kv
    hostile = 'the GCP project <img src=x onerror="window.pwned=1">'
    await kv.set("company.team", "project_id", "podium-demo", description=hostile)
    await kv.set("company.team", "retries", 3)
    await kv.set("company.team", "session", {"token": "abc"}, ttl=timedelta(hours=2))
    page = ui.page

    await ui.goto("/ui/kv")
    await expect(page.get_by_role("link", name="KV store")).to_have_attribute(
        "aria-current", "page"
    )
    await page.fill("#kv-ns", "company.team")
    await page.get_by_role("button", name="Open").click()
    await page.wait_for_url(re.compile(r"/ui/namespaces/company\.team/kv$"))
    table = page.get_by_test_id("kv-table")
    await expect(table.locator("tbody tr")).to_have_count(3)
    session = table.locator('tr[data-key="session"]')
    await expect(session.get_by_test_id("kv-expiry")).to_have_text("in 2 h")
    await expect(table.locator('tr[data-key="retries"]').get_by_test_id("kv-expiry")).to_have_text(
        "never"
    )
    await expect(table.locator('tr[data-key="project_id"]')).to_contain_text(hostile)  # as text
    assert await table.locator("img").count() == 0
    await ui.screenshot("kv-list")

    await page.fill("#kv-filter", "proj")
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(page.get_by_test_id("kv-count")).to_have_text("1 of 3 keys")
    await page.fill("#kv-filter", "")

    # create a typed value; a bad one is refused in the form, not sent
    await page.get_by_role("button", name="+ New key").click()
    dialog = page.get_by_role("dialog")
    await dialog.locator("#kv-key").fill("starts_on")
    await dialog.locator("#kv-type").select_option("DATE")
    await dialog.locator("#kv-value").fill("2026-03-01")
    await dialog.locator("#kv-description").fill("go-live")
    await dialog.locator("#kv-ttl").fill("one day")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("ISO-8601 duration")
    await dialog.locator("#kv-ttl").fill("P1D")
    await ui.screenshot("kv-new")
    await dialog.get_by_role("button", name="Save").click()
    await expect(table.locator('tr[data-key="starts_on"]')).to_contain_text("DATE")
    entry = await kv.entry("company.team", "starts_on")
    assert entry is not None and entry.type == "DATE" and entry.value == "2026-03-01"
    assert entry.description == "go-live" and entry.expires_at is not None

    # edit: the form opens with the stored type and value
    await table.locator('tr[data-key="session"]').get_by_role("button", name="Edit session").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.locator("#kv-type")).to_have_value("JSON")
    await expect(dialog.locator("#kv-value")).to_have_value(re.compile(r'"token": "abc"'))
    await expect(dialog).to_contain_text("saving without a TTL removes the expiry")
    await dialog.locator("#kv-value").fill('{"token": "xyz", "n": [1, 2]}')
    await ui.screenshot("kv-edit")
    await dialog.get_by_role("button", name="Save").click()
    await expect(session.get_by_test_id("kv-expiry")).to_have_text("never")
    entry = await kv.entry("company.team", "session")
    assert (
        entry is not None and entry.value == {"token": "xyz", "n": [1, 2]} and entry.revision == 2
    )

    await table.locator('tr[data-key="retries"]').get_by_role("button", name="Edit retries").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.locator("#kv-value")).to_have_value("3")
    await dialog.locator("#kv-value").fill("5")
    await dialog.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("dialog")).to_have_count(0)
    entry = await kv.entry("company.team", "retries")
    assert entry is not None and entry.value == 5 and entry.type == "NUMBER"

    # delete, after confirming
    await (
        table.locator('tr[data-key="project_id"]')
        .get_by_role("button", name="Delete project_id")
        .click()
    )
    await page.get_by_test_id("confirm").click()
    await expect(table.locator('tr[data-key="project_id"]')).to_have_count(0)
    assert await kv.entry("company.team", "project_id") is None
    await ui.screenshot("kv-after")
