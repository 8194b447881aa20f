"""Signing in, the flows list, the editor (errors at their line, save, revisions), topology."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from playwright.async_api import expect

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.e2e.browser.conftest import UI
from tests.e2e.browser.flows import SHOWCASE, SLOW

BROKEN = """\
id: greeter
namespace: company.team
description: Says hello
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: Hello
  - id: bye
    type: io.kestra.plugin.core.log.Lgo
    message: Bye
"""


async def test_sign_in_then_flows_list(anonymous: UI) -> None:
    ui = anonymous
    await ui.deploy(SLOW)
    await ui.start("company.team", "slow", seconds=0)
    page = ui.page
    await ui.goto("/ui/flows")
    await page.wait_for_url(re.compile(r"/ui/login\?next="))
    await page.fill("#login-user", ADMIN_USER)
    await page.fill("#login-pass", "wrong password")
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    await ui.screenshot("login")
    await page.fill("#login-pass", ADMIN_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/flows$"))
    row = page.locator('[data-flow="company.team/slow"]')
    await expect(row.get_by_role("link", name="slow", exact=True)).to_be_visible()
    # the last execution's state, live (the list refreshes)
    await expect(row.locator(".state")).to_have_text("SUCCESS", timeout=20_000)
    await expect(row.locator(".state")).to_have_class(re.compile(r"\bstate-SUCCESS\b"))
    await expect(page.get_by_text("Signed in as")).to_contain_text(ADMIN_USER)
    await ui.screenshot("flows")
    # search narrows the list
    await page.fill("#flow-search", "nothing-like-this")
    await expect(page.get_by_text("No flow matches.")).to_be_visible()


async def test_editor_shows_errors_at_their_line_then_saves(ui: UI) -> None:
    page = ui.page
    await ui.goto("/ui/flows/new")
    editor = page.get_by_test_id("yaml-editor")
    await ui.wait_editor(r"^id: hello_world")
    await editor.fill(BROKEN)
    # validated as one types: the unknown type is on line 9
    problem = page.locator(".problem").first
    await expect(problem.locator(".where")).to_have_text("Line 9:5")
    await expect(problem).to_contain_text("unknown task type")
    await expect(page.locator(".cm-lint-marker-error")).to_have_count(1)
    line9 = page.locator(".cm-line").nth(8)
    await expect(line9.locator(".cm-lintRange-error")).to_contain_text("Lgo")
    await ui.screenshot("editor-error")
    # saving anyway is refused, and the error stays at its line
    await page.get_by_test_id("save").click()
    await expect(page.get_by_role("alert").first).to_contain_text("Not saved")
    await expect(line9.locator(".cm-lintRange-error")).to_contain_text("Lgo")

    await editor.fill(BROKEN.replace("log.Lgo", "log.Log"))
    await expect(page.get_by_test_id("validation")).to_have_text("✓ Valid flow")
    await expect(page.locator(".cm-lint-marker-error")).to_have_count(0)
    await page.get_by_test_id("save").click()
    await page.wait_for_url(re.compile(r"/ui/flows/company\.team/greeter/editor$"))
    await expect(page.locator(".page-head .label-tag")).to_have_text("rev 1")

    # a second save is a new revision, and the history shows what changed
    editor = page.get_by_test_id("yaml-editor")
    await ui.wait_editor("message: Bye")
    await editor.fill(BROKEN.replace("log.Lgo", "log.Log").replace("Bye", "Goodbye"))
    await page.keyboard.press("Control+s")
    await expect(page.locator(".page-head .label-tag")).to_have_text("rev 2")
    await ui.screenshot("editor-saved")
    await page.get_by_role("tab", name="Revisions").click()
    diff = page.get_by_test_id("diff")
    await expect(diff.locator(".del .code")).to_have_text(["message: Bye"])
    await expect(diff.locator(".add .code")).to_have_text(["message: Goodbye"])
    await expect(diff.locator(".del .ln").first).to_have_text("10")
    await ui.screenshot("revisions")


async def test_topology_draws_groups_and_branches(ui: UI) -> None:
    await ui.deploy(SHOWCASE)
    page = ui.page
    await ui.goto("/ui/flows/company.analytics/showcase/topology")
    graph = page.get_by_test_id("topology")
    for task in (
        "start",
        "eu_only",
        "elsewhere",
        "left",
        "right",
        "item",
        "route_eu",
        "route_other",
    ):
        await expect(graph.locator(f'.node[data-task-id="{task}"]')).to_have_count(1)
    for group in ("check", "fan_out", "each", "route"):
        await expect(graph.locator(f'.group[data-task-id="{group}"]')).to_have_count(1)
    # branches are labelled, and the errors / finally sections hold their tasks
    labels = await graph.locator(".branch-label").all_text_contents()
    assert {"then", "else", "eu", "defaults"} <= {label.split(" ")[0] for label in labels}
    assert any("parallel" in label for label in labels)
    await expect(
        graph.locator('[data-section="errors"] .node[data-task-id="alert"]')
    ).to_have_count(1)
    await expect(
        graph.locator('[data-section="finally"] .node[data-task-id="cleanup"]')
    ).to_have_count(1)
    await expect(graph.locator('.node.trigger[data-task-id="nightly"]')).to_have_count(1)
    # nested: eu_only is drawn inside the If group
    await expect(
        graph.locator('.group[data-task-id="check"] .node[data-task-id="eu_only"]')
    ).to_have_count(1)
    await ui.screenshot("topology")
    # tabs: arrow keys move between them
    await page.get_by_role("tab", name="Topology").focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("tab", name="Editor")).to_be_focused()
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/showcase/editor$"))


async def test_delete_a_flow(ui: UI) -> None:
    await ui.deploy(SLOW)
    page = ui.page
    await ui.goto("/ui/flows/company.team/slow")
    await page.get_by_test_id("delete").click()
    await page.get_by_test_id("confirm").click()
    await page.wait_for_url(re.compile(r"/ui/flows\?namespace=company\.team$"))
    await expect(page.get_by_text("No flow matches.")).to_be_visible()


async def test_triggers_tab_enables_and_disables(ui: UI) -> None:
    await ui.deploy(SHOWCASE)
    page = ui.page
    await ui.goto("/ui/flows/company.analytics/showcase/triggers")
    row = page.locator('[data-trigger="nightly"]')
    await expect(row.locator(".state")).to_have_text("ENABLED")
    await row.get_by_role("button", name="Disable").click()
    await expect(row.locator(".state")).to_have_text("DISABLED")
    await ui.page.reload()
    row = page.locator('[data-trigger="nightly"]')
    await expect(row.locator(".state")).to_have_text("DISABLED")
    await row.get_by_role("button", name="Enable").click()
    await expect(row.locator(".state")).to_have_text("ENABLED")

    # backfill the nightly schedule over the last three days
    start = (datetime.now() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S")
    await row.get_by_role("button", name="Backfill…").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Start backfill").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Choose a start date.")
    await dialog.get_by_label("Start").fill(start)
    await ui.screenshot("backfill")
    await dialog.get_by_role("button", name="Start backfill").click()
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await expect(row.get_by_test_id("backfill")).to_have_text(
        re.compile(r"^Done · 3 / 3 slots · "), timeout=20_000
    )
    await ui.screenshot("triggers")
