"""Every page of the UI in Chromium: no serious or critical axe-core violation, no console
error or failed request, in light and in dark, with screenshots at 1280x800 and
1920x1080 in test-artifacts/. Then the pages and fixes of issue 21: Namespaces, the
global Logs page, a schedule's cron and next run, the theme toggle, and the defects
(dashboard at 1280 px, filtered log download, why a concurrency-failed execution did
nothing, Restart's confirmation, clipped descriptions, the Gantt legend, the login 401).

One Podium and one Chromium serve the whole module (see session.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from engine.server import Podium
from engine.states import State
from tests.conftest import running_podium
from tests.e2e.browser.flows import SHOWCASE, SLOW
from tests.e2e.browser.session import Watched, chromium, watched_page

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ONE_AT_A_TIME = """\
id: one_at_a_time
namespace: company.team
description: Fails a second execution while the first one runs
concurrency:
  limit: 1
  behavior: FAIL
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT30S
"""

BROKEN = """\
id: broken
namespace: company.team
description: >-
  Fails on purpose so that it can be restarted; its description is long enough that the
  flows list has to clip it, which it does at a word with an ellipsis and keeps it whole
  in the tooltip
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: about to fail
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: boom on purpose
"""

LONG_NAMES = """\
id: a_flow_with_a_rather_long_identifier_to_fill_the_dashboard_card
namespace: company.analytics.reporting.quarterly_and_yearly
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT60S
"""


@dataclass
class Site:
    podium: Podium
    showcase: str  # a SUCCESS execution of SHOWCASE
    refused: str  # failed by its flow's concurrency limit before any task ran
    failed: str  # BROKEN, FAILED
    killed: str  # SLOW, killed while it slept

    async def running(self, execution_id: str) -> None:
        """Until the store says RUNNING (there is no event to await for that here)."""
        while True:
            found = await self.podium.store.get_execution(execution_id)
            if found is not None and found.state is State.RUNNING:
                return
            await self.podium.watcher.wait(execution_id, 0.1)

    async def wait(self, execution_id: str) -> State:
        ended = await self.podium.watcher.wait(execution_id, 60)
        assert ended is not None, f"{execution_id} did not end"
        return ended.state


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    data = tmp_path_factory.mktemp("pages") / "data"
    async with running_podium(data, serve_http=True) as podium:
        for source in (SHOWCASE, SLOW, ONE_AT_A_TIME, BROKEN, LONG_NAMES):
            await podium.flows.save(source)
        intake = podium.intake
        showcase = (await intake.execute("company.analytics", "showcase")).execution_id
        first = (await intake.execute("company.team", "one_at_a_time")).execution_id
        failed = (await intake.execute("company.team", "broken")).execution_id
        killed = (await intake.execute("company.team", "slow", inputs={"seconds": 60})).execution_id
        site = Site(podium, showcase, "", failed, killed)
        await site.running(first)  # then a second one is refused
        site.refused = (await intake.execute("company.team", "one_at_a_time")).execution_id
        assert await site.wait(site.refused) is State.FAILED
        await intake.kill(first, "company.team", "one_at_a_time")
        while not [r for r in await podium.store.task_runs(killed) if r.task_id == "nap"]:
            await podium.watcher.wait(killed, 0.2)
        await intake.kill(killed, "company.team", "slow")
        assert await site.wait(killed) is State.KILLED
        assert await site.wait(showcase) is State.SUCCESS
        assert await site.wait(failed) is State.FAILED
        await site.wait(first)
        yield site


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def ui(site: Site, browser: Browser) -> AsyncIterator[Watched]:
    async with watched_page(site.podium, browser) as watched:
        yield watched


# ---------- every page, light and dark ----------


def pages(site: Site) -> list[tuple[str, str, str]]:
    """(name, address, a selector that is there once the page has drawn)."""
    flow = "/ui/flows/company.analytics/showcase"
    return [
        ("dashboard", "/ui/dashboard", "[data-testid=state-chart]"),
        ("flows", "/ui/flows", "[data-flow]"),
        ("flow-topology", f"{flow}/topology", "[data-testid=topology] .node"),
        ("flow-editor", f"{flow}/editor", "[data-testid=validation] .valid"),
        ("flow-revisions", f"{flow}/revisions", ".diff"),
        ("flow-executions", f"{flow}/executions", "[data-execution]"),
        ("flow-triggers", f"{flow}/triggers", "[data-testid=triggers-table]"),
        ("execute", f"{flow}/execute", "[data-testid=execute-form]"),
        ("new-flow", "/ui/flows/new", "[data-testid=validation] .valid"),
        ("executions", "/ui/executions", "[data-execution]"),
        ("execution-gantt", f"/ui/executions/{site.showcase}/gantt", ".gantt-row"),
        ("execution-logs", f"/ui/executions/{site.showcase}/logs", ".log-line"),
        (
            "execution-outputs",
            f"/ui/executions/{site.showcase}/outputs",
            "[data-testid=outputs-tree]",
        ),
        ("execution-topology", f"/ui/executions/{site.showcase}/topology", ".node.has-state"),
        ("execution-overview", f"/ui/executions/{site.showcase}/overview", ".kv"),
        ("execution-refused", f"/ui/executions/{site.refused}/gantt", ".gantt.empty"),
        ("namespaces", "/ui/namespaces", "[data-namespace]"),
        ("namespace", "/ui/namespaces/company.team", "[data-flow]"),
        ("logs", "/ui/logs", "[data-level]"),
        ("kv-index", "/ui/kv", "#kv-ns"),
        ("kv", "/ui/namespaces/company.team/kv", "[data-testid=kv-count]"),
        ("files-index", "/ui/files", "[data-testid=namespaces] a"),
        ("files", "/ui/files/company.team", "[data-testid=file-tree]"),
        ("not-found", "/ui/nowhere", "h1"),
    ]


# What changes between light and dark is colour: the dark pass checks only these.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
DARK_BG = "rgb(15, 18, 24)"


async def test_every_page_passes_axe_in_light_and_dark_with_screenshots(
    site: Site, browser: Browser
) -> None:
    async with watched_page(site.podium, browser, with_axe=True) as ui:
        await every_page(ui, site)


async def every_page(ui: Watched, site: Site) -> None:
    page = ui.page
    found: dict[str, list[str]] = {}
    body_bg = "getComputedStyle(document.body).backgroundColor"
    for name, address, ready in pages(site):
        # light: every rule; then the same page in dark (no reload: the CSS follows)
        await page.emulate_media(color_scheme="light")
        await page.set_viewport_size({"width": 1280, "height": 800})
        await ui.goto(address)
        await expect(page.locator(ready).first).to_be_attached()
        await expect(page.locator(".loading")).to_have_count(0)
        assert await page.evaluate(body_bg) != DARK_BG, name
        found[f"{name} (light)"] = await ui.axe()
        await ui.screenshot(f"page-{name}-1280x800-light")
        await page.set_viewport_size({"width": 1920, "height": 1080})
        await ui.screenshot(f"page-{name}-1920x1080-light")
        await page.emulate_media(color_scheme="dark")
        assert await page.evaluate(body_bg) == DARK_BG, name
        found[f"{name} (dark)"] = await ui.axe(COLOUR_RULES)
        await ui.screenshot(f"page-{name}-1920x1080-dark")
        await page.set_viewport_size({"width": 1280, "height": 800})
        await ui.screenshot(f"page-{name}-1280x800-dark")
    found = {k: v for k, v in found.items() if v}
    assert not found, "\n".join(f"{k}: {v}" for k, v in found.items())


async def test_the_login_page_passes_axe_and_logs_no_401(site: Site, browser: Browser) -> None:
    for scheme in ("light", "dark"):
        async with watched_page(
            site.podium, browser, signed_in=False, with_axe=True, color_scheme=scheme
        ) as anon:
            # a signed-out visit to any page lands on the sign-in page, with no 401 logged
            await anon.goto("/ui/flows")
            await anon.page.wait_for_url(re.compile(r"/ui/login\?next="))
            await expect(anon.page.locator("#login-user")).to_be_focused()
            assert await anon.axe() == []
            await anon.screenshot(f"page-login-1280x800-{scheme}")
            await anon.page.set_viewport_size({"width": 1920, "height": 1080})
            await anon.screenshot(f"page-login-1920x1080-{scheme}")
            # a wrong password is a 401 on purpose, said in the form
            anon.allow(401, r"/api/v1/auth/login$")
            await anon.page.fill("#login-user", "admin")
            await anon.page.fill("#login-pass", "wrong")
            await anon.page.get_by_role("button", name="Sign in").click()
            await expect(anon.page.get_by_role("alert")).to_have_text("Wrong username or password.")


# ---------- dark mode ----------


async def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(ui: Watched) -> None:
    page = ui.page
    body_bg = "getComputedStyle(document.body).backgroundColor"
    await page.emulate_media(color_scheme="light")
    await ui.goto("/ui/flows")
    toggle = page.get_by_test_id("theme-toggle")
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    assert await page.evaluate(body_bg) == "rgb(245, 246, 248)"
    # the system turns dark: so does the page, with no choice stored
    await page.emulate_media(color_scheme="dark")
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    assert await page.evaluate(body_bg) == "rgb(15, 18, 24)"
    assert await page.evaluate("localStorage.getItem('podium.theme')") is None
    # back to light by hand: remembered, and kept over a reload
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    assert await page.evaluate(body_bg) == "rgb(245, 246, 248)"
    assert await page.evaluate("localStorage.getItem('podium.theme')") == "light"
    await page.reload()
    await expect(page.get_by_test_id("theme-toggle")).to_have_attribute("aria-pressed", "false")
    assert await page.evaluate("document.documentElement.dataset.theme") == "light"
    # choosing what the system says forgets the choice: the system leads again
    await page.get_by_test_id("theme-toggle").click()
    assert await page.evaluate("localStorage.getItem('podium.theme')") is None
    assert await page.evaluate(body_bg) == "rgb(15, 18, 24)"


# ---------- new pages ----------


async def test_namespaces_list_their_flows_and_link_files_and_kv(ui: Watched) -> None:
    page = ui.page
    await ui.goto("/ui/namespaces")
    row = page.locator('[data-namespace="company.team"]')
    await expect(row.locator("td").nth(1)).to_have_text("3")  # slow, one_at_a_time, broken
    await expect(page.locator('[data-namespace="company.analytics"] td').nth(1)).to_have_text("1")
    await page.fill("#ns-filter", "analytics")
    await expect(page.locator("[data-namespace]")).to_have_count(2)
    await page.fill("#ns-filter", "")
    await (
        page.locator('[data-namespace="company.team"]')
        .get_by_role("link", name="Files of company.team")
        .click()
    )
    await page.wait_for_url(re.compile(r"/ui/files/company\.team$"))
    await expect(page.get_by_test_id("file-tree")).to_be_attached()
    await page.go_back()
    await page.get_by_role("link", name="KV store of company.team").click()
    await page.wait_for_url(re.compile(r"/ui/namespaces/company\.team/kv$"))
    await expect(page.get_by_test_id("kv-count")).to_be_attached()
    await ui.goto("/ui/namespaces")
    await page.get_by_role("link", name="company.analytics", exact=True).click()
    await page.wait_for_url(re.compile(r"/ui/namespaces/company\.analytics$"))
    await expect(page.locator("[data-flow]")).to_have_count(2)  # its flow and the one under it
    await expect(page.get_by_text("Namespaces under this one")).to_be_visible()


async def test_the_logs_page_searches_every_execution(ui: Watched, site: Site) -> None:
    page = ui.page
    await ui.goto("/ui/logs")
    table = page.get_by_test_id("logs-table")
    await expect(table).to_contain_text("starting in eu")
    await expect(table).to_contain_text("about to fail")
    # newest first
    times = await table.locator("td:first-child").evaluate_all("cells => cells.map(c => c.title)")
    assert times == sorted(times, reverse=True)
    await page.select_option("#logs-level", "ERROR")
    await expect(table.locator("[data-level]").first).to_have_attribute("data-level", "ERROR")
    levels = await table.locator("[data-level]").evaluate_all(
        "rows => rows.map(r => r.dataset.level)"
    )
    assert set(levels) == {"ERROR"}
    await page.select_option("#logs-level", "INFO")
    await page.fill("#logs-ns", "company.analytics")
    await page.fill("#logs-q", "ROUTED")
    await expect(table.locator("[data-level]")).to_have_count(1)
    await expect(table).to_contain_text("routed eu")
    assert re.search(r"namespace=company\.analytics.*q=ROUTED", page.url)
    # the filters are in the address: a reload shows the same search
    await page.reload()
    await expect(page.get_by_test_id("logs-table").locator("[data-level]")).to_have_count(1)
    await page.get_by_test_id("log-execution").click()
    await page.wait_for_url(re.compile(rf"/ui/executions/{site.showcase}/logs\?taskId=route_eu"))
    await expect(page.get_by_test_id("log-view")).to_contain_text("routed eu")


async def test_a_schedule_shows_its_cron_and_next_run(ui: Watched) -> None:
    page = ui.page
    await ui.goto("/ui/flows/company.analytics/showcase/triggers")
    row = page.locator('[data-trigger="nightly"]')
    await expect(row.get_by_test_id("cron")).to_have_text("0 2 * * *")
    await expect(row.get_by_test_id("next-run")).to_contain_text(re.compile(r"in \d+ (min|h)"))


# ---------- defects ----------


async def test_the_running_table_fits_its_card_at_1280(ui: Watched, site: Site) -> None:
    podium = site.podium
    flow_id = "a_flow_with_a_rather_long_identifier_to_fill_the_dashboard_card"
    namespace = "company.analytics.reporting.quarterly_and_yearly"
    running = (await podium.intake.execute(namespace, flow_id)).execution_id
    await site.running(running)
    try:
        page = ui.page
        await ui.goto("/ui/dashboard")
        card = page.get_by_test_id("running-now")
        row = card.locator(f'[data-execution="{running}"]')
        await expect(row.locator(".state")).to_have_text("RUNNING")
        box = await card.bounding_box()
        badge = await row.locator(".state").bounding_box()
        duration = await row.get_by_test_id("duration").bounding_box()
        assert box and badge and duration
        right = box["x"] + box["width"]
        assert badge["x"] + badge["width"] <= right and duration["x"] + duration["width"] <= right
        assert await row.get_by_test_id("duration").inner_text() not in ("", "—")
        await ui.screenshot("dashboard-running-1280")
    finally:
        await podium.intake.kill(running, namespace, flow_id)
        await site.wait(running)


async def test_the_log_download_keeps_the_text_filter(ui: Watched, site: Site) -> None:
    page = ui.page
    await ui.goto(f"/ui/executions/{site.showcase}/logs")
    await expect(page.get_by_test_id("log-count")).not_to_have_text("Loading…")
    await page.fill("#log-q", "routed")
    await expect(page.get_by_test_id("log-view").locator(".log-line")).to_have_count(1)
    href = await page.get_by_role("link", name="Download").get_attribute("href")
    assert href and "q=routed" in href
    text = await (await ui.context.request.get(ui.base + href)).text()
    assert text.splitlines() and all("routed" in line for line in text.splitlines())
    assert len(text.splitlines()) == 1


async def test_a_concurrency_failed_execution_says_why(ui: Watched, site: Site) -> None:
    page = ui.page
    await ui.goto(f"/ui/executions/{site.refused}/gantt")
    reason = re.compile(r"No task ran: the execution ended FAILED .*concurrency limit of 1 reached")
    await expect(page.get_by_test_id("gantt")).to_have_text(reason)
    await page.get_by_role("tab", name="Logs").click()
    await expect(page.get_by_test_id("log-view")).to_have_text(reason)


async def test_restart_asks_first(ui: Watched, site: Site) -> None:
    page = ui.page
    await ui.goto(f"/ui/executions/{site.failed}")
    await expect(page.get_by_test_id("execution-state")).to_have_text("FAILED")
    attempts = await page.locator('.gantt-row[data-task-id="boom"] .bar').count()
    await page.get_by_test_id("restart").click()
    dialog = page.get_by_role("dialog", name="Restart this execution?")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    await page.wait_for_timeout(300)  # nothing was sent: no new attempt shows up
    assert await page.locator('.gantt-row[data-task-id="boom"] .bar').count() == attempts
    await page.get_by_test_id("restart").click()
    await page.get_by_role("dialog").get_by_test_id("confirm").click()
    await expect(page.locator('.gantt-row[data-task-id="boom"] .bar')).to_have_count(
        attempts + 1, timeout=20_000
    )
    await expect(page.get_by_test_id("execution-state")).to_have_text("FAILED", timeout=20_000)


async def test_descriptions_are_clipped_with_an_ellipsis_and_the_list_fits_900(
    ui: Watched,
) -> None:
    page = ui.page
    await page.set_viewport_size({"width": 900, "height": 800})
    await ui.goto("/ui/flows")
    description = page.locator('[data-flow="company.team/broken"] .flow-desc')
    await expect(description).to_have_attribute(
        "title", re.compile(r"keeps it whole in the tooltip$")
    )
    clipped = await description.evaluate(
        "el => [getComputedStyle(el).textOverflow, el.scrollWidth > el.clientWidth, el.textContent]"
    )
    assert clipped[0] == "ellipsis" and clipped[1] is True
    assert clipped[2].endswith("in the tooltip")  # the text is whole; only the view clips it
    assert await page.evaluate("document.documentElement.scrollWidth") <= 900
    table = await page.get_by_test_id("flows-table").bounding_box()
    assert table and table["x"] + table["width"] <= 900
    await ui.screenshot("flows-900")


async def test_the_gantt_legend_names_every_state_drawn(ui: Watched, site: Site) -> None:
    page = ui.page
    await ui.goto(f"/ui/executions/{site.killed}/gantt")
    await expect(page.locator('.gantt-row[data-task-id="nap"] .bar.state-KILLED')).to_have_count(1)
    legend = page.locator(".legend").first
    drawn = await page.locator(".gantt .bar, .gantt .dot").evaluate_all(
        "els => [...new Set(els.map(e => [...e.classList].find(c => c.startsWith('state-')).slice(6).toLowerCase()))]"
    )
    for state in drawn:
        await expect(legend).to_contain_text(state)
    assert "killed" in drawn
