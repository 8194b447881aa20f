"""Bulk actions on the executions list (select, confirm, the server's all-or-nothing
refusal shown), an execution's Metrics tab, and the debug expression box of its Outputs
tab."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from tests.e2e.browser.conftest import UI

HELLO = """\
id: hello
namespace: company.admin
tasks:
  - {id: answer, type: io.kestra.plugin.core.debug.Return, format: hi}
"""

FAILING = """\
id: failing
namespace: company.admin
tasks:
  - {id: boom, type: io.kestra.plugin.core.execution.Fail, errorMessage: no luck}
"""

MEASURED = """\
id: measured
namespace: company.admin
tasks:
  - id: measure
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    commands:
      - |
        echo '::{"outputs": {"count": 7}, "metrics": [{"name": "rows", "type": "counter", "value": 42, "tags": {"table": "t"}}]}::'
"""


async def ended(ui: UI, *execution_ids: str) -> None:
    store = ui.podium.store
    deadline = asyncio.get_running_loop().time() + 30
    for execution_id in execution_ids:
        while (found := await store.get_execution(execution_id)) is None or not (
            found.state.is_terminal
        ):
            assert asyncio.get_running_loop().time() < deadline, execution_id
            await asyncio.sleep(0.05)


async def test_bulk_actions_metrics_and_debug_expression(ui: UI) -> None:
    for source in (HELLO, FAILING, MEASURED):
        await ui.deploy(source)
    hellos = [await ui.start("company.admin", "hello") for _ in range(2)]
    failed = await ui.start("company.admin", "failing")
    measured = await ui.start("company.admin", "measured")
    await ended(ui, *hellos, failed, measured)
    page = ui.page

    await ui.goto("/ui/executions?namespace=company.admin")
    rows = page.get_by_test_id("executions-table").locator("tbody tr")
    await expect(rows).to_have_count(4)
    bar = page.get_by_test_id("bulk-bar")
    await expect(bar).to_be_hidden()

    # all or nothing: a succeeded execution cannot be restarted, so neither is restarted
    await page.locator(f'input[data-select="{failed}"]').check()
    await page.locator(f'input[data-select="{hellos[0]}"]').check()
    await expect(page.get_by_test_id("bulk-count")).to_have_text("2 selected")
    await bar.get_by_role("button", name="Restart").click()
    await page.get_by_test_id("confirm").click()
    await expect(page.locator(".toast.error")).to_contain_text("invalid bulk restart")
    await expect(page.locator(".toast.error")).to_contain_text("not in state FAILED")
    await bar.get_by_role("button", name="Clear selection").click()
    await expect(bar).to_be_hidden()

    # the header box selects the page; labels are set on every selected execution
    await page.get_by_test_id("select-all").check()
    await expect(page.get_by_test_id("bulk-count")).to_have_text("4 selected")
    await page.get_by_test_id("select-all").uncheck()
    for execution_id in hellos:
        await page.locator(f'input[data-select="{execution_id}"]').check()
    await bar.get_by_role("button", name="Set label").click()
    await page.locator("#bulk-label-key").fill("team")
    await page.locator("#bulk-label-value").fill("web")
    await page.get_by_test_id("confirm").click()
    await expect(page.locator(".toast").last).to_contain_text("Set label: 2 executions")
    for execution_id in hellos:
        row = page.locator(f'tr[data-execution="{execution_id}"]')
        await expect(row.locator(".label-tag")).to_have_text("team:web", timeout=15_000)
    await ui.screenshot("executions-bulk")

    # deleting asks first, then the row goes
    await page.locator(f'input[data-select="{hellos[1]}"]').check()
    await bar.get_by_role("button", name="Delete").click()
    await expect(page.locator("dialog")).to_contain_text("cannot be undone")
    await page.get_by_test_id("confirm").click()
    await expect(page.locator(".toast").last).to_contain_text("Delete: 1 execution")
    await expect(page.locator(f'tr[data-execution="{hellos[1]}"]')).to_have_count(0)
    await expect(rows).to_have_count(3)

    # the Metrics tab lists what the script emitted
    await ui.goto(f"/ui/executions/{measured}/metrics")
    metric = page.get_by_test_id("metrics-table").locator('tr[data-metric="rows"]')
    await expect(metric.get_by_test_id("metric-value")).to_have_text("42")
    await expect(metric).to_contain_text("table: t")

    # the debug expression box renders in the ended task run's context, without secrets
    await page.get_by_role("tab", name="Outputs").click()
    await expect(page.get_by_test_id("debug-task-run")).to_contain_text("measure")
    await page.get_by_test_id("debug-input").fill("{{ outputs.measure.vars.count * 6 }}")
    await page.get_by_test_id("debug-run").click()
    result = page.get_by_test_id("debug-result")
    await expect(result).to_have_text("42")
    await page.get_by_test_id("debug-input").fill("{{ secret('ANYTHING') }}")
    await page.get_by_test_id("debug-input").press("Control+Enter")
    await expect(result).to_contain_text("secrets are not available")
    await expect(result).to_have_class("result error")
    await ui.screenshot("execution-debug-expression")
