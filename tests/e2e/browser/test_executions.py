"""Execute form, the live execution page (Gantt, logs), outputs and file preview, kill,
the executions list and the dashboard."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.e2e.browser.conftest import UI
from tests.e2e.browser.flows import FILES, INPUTS, SLOW

MANY_LOGS = """\
id: chatty
namespace: company.team
tasks:
  - id: talk
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - seq 1 3000
"""


async def test_execute_form_validates_then_runs(ui: UI) -> None:
    await ui.deploy(
        INPUTS.replace("    defaults: World", '    defaults: World\n    validator: "[A-Z].*"')
    )
    page = ui.page
    await ui.goto("/ui/flows/company.team/every_input")
    await page.get_by_test_id("execute").click()
    await page.wait_for_url(re.compile(r"/execute$"))
    form = page.get_by_test_id("execute-form")
    # generated from the inputs: each type gets its control, with defaults filled in
    await expect(form.locator("#in-name")).to_have_value("World")
    await expect(form.locator("#in-count")).to_have_attribute("type", "number")
    await expect(form.locator("#in-verbose")).to_have_attribute("type", "checkbox")
    await expect(form.locator("#in-color option")).to_have_text(["Choose…", "red", "green", "blue"])
    await expect(form.locator("#in-tags input[type=checkbox]")).to_have_count(3)
    await expect(form.locator("#in-day")).to_have_attribute("type", "date")
    await expect(form.locator("#in-upload")).to_have_attribute("type", "file")
    await expect(form.locator("textarea#in-config")).to_be_visible()

    # checked here first: required fields and bounds
    await form.get_by_role("button", name="Execute").click()
    await expect(form.locator('[data-input="count"] .error')).to_have_text("Required")
    await expect(form.locator('[data-input="color"] .error')).to_have_text("Required")
    await expect(form.locator('[data-input="count"]')).to_have_class(re.compile("invalid"))
    await form.locator("#in-count").fill("11")
    await form.locator("#in-config").fill("{not json")
    await form.get_by_role("button", name="Execute").click()
    await expect(form.locator('[data-input="count"] .error')).to_have_text("At most 10")
    await expect(form.locator('[data-input="config"] .error')).to_contain_text("Not valid JSON")
    await ui.screenshot("execute-form-errors")

    # then by the server: its 422 names the input, and the message shows under it
    await form.locator("#in-count").fill("3")
    await form.locator("#in-config").fill('{"depth": 2}')
    await form.locator("#in-color").select_option("green")
    await form.locator("#in-name").fill("world")
    await form.get_by_role("button", name="Execute").click()
    await expect(form.locator('[data-input="name"] .error')).not_to_be_empty()
    await expect(page.get_by_test_id("form-error")).to_have_text("Some inputs are not valid.")

    await form.locator("#in-name").fill("World")
    await form.locator("#in-tags").get_by_text("beta").click()
    # a file makes the form go as multipart, the other inputs as text fields
    await form.locator("#in-upload").set_input_files(
        files=[{"name": "cities.csv", "mimeType": "text/csv", "buffer": b"city\nParis\n"}]
    )
    await form.get_by_role("button", name="Execute").click()
    await page.wait_for_url(re.compile(r"/ui/executions/[^/]+$"))
    await expect(page.get_by_test_id("execution-state").locator(".state")).to_have_text(
        "SUCCESS", timeout=20_000
    )
    await page.get_by_role("tab", name="Overview").click()
    await expect(page.get_by_text('["beta"]')).to_be_visible()
    await expect(page.get_by_text(re.compile(r"^kestra:///.*cities\.csv$"))).to_be_visible()
    await page.get_by_role("tab", name="Logs").click()
    await expect(page.get_by_test_id("log-view")).to_contain_text("Hello World x3 in green")


async def test_gantt_and_logs_follow_a_running_execution(ui: UI) -> None:
    await ui.deploy(SLOW)
    page = ui.page
    # long enough to see it running on a busy machine
    execution_id = await ui.start("company.team", "slow", seconds=5)
    await ui.goto(f"/ui/executions/{execution_id}")
    gantt = page.get_by_test_id("gantt")
    # while it runs: the sleeping task's bar is live, the header says RUNNING
    await expect(page.get_by_test_id("execution-state").locator(".state")).to_have_text("RUNNING")
    nap = gantt.locator('.gantt-row[data-task-id="nap"]')
    await expect(nap.locator(".bar")).to_have_class(re.compile(r"state-RUNNING.*live"))
    await expect(gantt.locator('.gantt-row[data-task-id="before"] .bar')).to_have_class(
        re.compile(r"\bstate-SUCCESS\b")
    )
    await ui.screenshot("gantt-running")
    # ...then, without reloading, the rest arrives
    await expect(gantt.locator('.gantt-row[data-task-id="after"] .bar')).to_have_class(
        re.compile(r"\bstate-SUCCESS\b"), timeout=20_000
    )
    await expect(nap.locator(".bar")).to_have_class(re.compile(r"\bstate-SUCCESS\b"))
    await expect(page.get_by_test_id("execution-state").locator(".state")).to_have_text("SUCCESS")
    await expect(gantt.locator(".gantt-row")).to_have_count(3)
    await ui.screenshot("gantt-done")

    # logs, live: open the Logs tab of a new run while it sleeps
    execution_id = await ui.start("company.team", "slow", seconds=4)
    await ui.goto(f"/ui/executions/{execution_id}/logs")
    view = page.get_by_test_id("log-view")
    await expect(view).to_contain_text("going to sleep for 4 seconds")
    await expect(view).not_to_contain_text("woke up")
    await expect(view).to_contain_text("woke up", timeout=20_000)
    await ui.screenshot("logs-live")
    # filter by task, and by text
    await page.select_option("#log-task", "after")
    await expect(view.locator(".log-line")).to_have_count(1)
    await expect(view.locator(".log-line .msg")).to_have_text("woke up")
    await page.select_option("#log-task", "")
    await page.fill("#log-q", "sleep")
    await expect(view.locator(".log-line .msg")).to_have_text(["going to sleep for 4 seconds"])


async def test_logs_are_paged_and_virtual(ui: UI) -> None:
    await ui.deploy(MANY_LOGS)
    page = ui.page
    execution_id = await ui.start("company.team", "chatty")
    await ui.goto(f"/ui/executions/{execution_id}")
    await expect(page.get_by_test_id("execution-state").locator(".state")).to_have_text(
        "SUCCESS", timeout=30_000
    )
    await page.get_by_role("tab", name="Logs").click()
    view = page.get_by_test_id("log-view")
    await expect(page.get_by_test_id("log-count")).to_have_text(re.compile(r"^3,0\d\d lines$"))
    # only what is on screen exists in the page
    assert await view.locator(".log-line").count() < 120
    await expect(view.locator(".log-line .msg").first).to_have_text(re.compile(r"^\S"))
    await view.focus()
    await page.keyboard.press("End")
    await expect(view.locator(".log-line .msg", has_text=re.compile(r"^3000$"))).to_have_count(1)
    assert await view.locator(".log-line").count() < 120
    await ui.screenshot("logs-paged")


async def test_outputs_tree_and_file_preview(ui: UI) -> None:
    await ui.deploy(FILES)
    page = ui.page
    execution_id = await ui.start("company.team", "make_csv")
    await ui.goto(f"/ui/executions/{execution_id}/outputs")
    await expect(page.get_by_test_id("execution-state").locator(".state")).to_have_text(
        "SUCCESS", timeout=20_000
    )
    tree = page.get_by_test_id("outputs-tree")
    write = tree.locator('[data-task-id="write"]')
    await expect(write.locator('[data-key="exitCode"]')).to_contain_text("0")
    file = write.locator('[data-key="trips.csv"]')
    await expect(file.get_by_role("link", name="Download")).to_have_attribute(
        "href", re.compile(r"/api/v1/executions/.+/file\?path=kestra")
    )
    await file.get_by_test_id("preview-button").click()
    preview = file.get_by_test_id("file-preview")
    await expect(preview.locator("th")).to_have_text(["city", "trips"])
    await expect(preview.locator("tbody tr").first.locator("td")).to_have_text(["Paris", "120"])
    await expect(preview.locator("tbody tr")).to_have_count(3)
    await ui.screenshot("outputs-preview")
    # the download answers the file itself
    href = await file.get_by_role("link", name="Download").get_attribute("href")
    assert href is not None
    response = await ui.context.request.get(ui.base + href)
    assert response.ok
    assert (await response.text()).startswith("city,trips\nParis,120")


async def test_kill_a_running_execution(ui: UI) -> None:
    await ui.deploy(SLOW)
    page = ui.page
    execution_id = await ui.start("company.team", "slow", seconds=120)
    await ui.goto(f"/ui/executions/{execution_id}")
    state = page.get_by_test_id("execution-state").locator(".state")
    await expect(state).to_have_text("RUNNING")
    await page.get_by_test_id("kill").click()
    await expect(page.get_by_role("dialog")).to_contain_text("Kill this execution?")
    await ui.screenshot("kill-confirm")
    await page.get_by_test_id("confirm").click()
    await expect(state).to_have_text("KILLED", timeout=20_000)
    await expect(state).to_have_class(re.compile(r"\bstate-KILLED\b"))
    await expect(page.get_by_test_id("kill")).to_have_count(0)
    await expect(page.get_by_test_id("replay")).to_be_visible()
    await expect(
        page.get_by_test_id("gantt").locator('.gantt-row[data-task-id="nap"] .bar')
    ).to_have_class(re.compile(r"\bstate-KILLED\b"))
    await ui.screenshot("killed")
    # the execution page's topology is coloured by state
    await page.get_by_role("tab", name="Topology").click()
    graph = page.get_by_test_id("topology")
    await expect(graph.locator('.node[data-task-id="before"]')).to_have_class(
        re.compile(r"\bstate-SUCCESS\b")
    )
    await expect(graph.locator('.node[data-task-id="nap"]')).to_have_class(
        re.compile(r"\bstate-KILLED\b")
    )
    await ui.screenshot("execution-topology")


async def test_executions_list_filters_and_dashboard(ui: UI) -> None:
    await ui.deploy(SLOW)
    await ui.deploy(FILES)
    page = ui.page
    done = await ui.start("company.team", "make_csv")
    running = await ui.start("company.team", "slow", seconds=120)
    await ui.goto("/ui/executions")
    table = page.get_by_test_id("executions-table")
    await expect(table.locator(f'[data-execution="{done}"] .state')).to_have_text(
        "SUCCESS", timeout=20_000
    )
    await expect(table.locator(f'[data-execution="{running}"] .state')).to_have_text("RUNNING")
    await page.locator('[data-state-filter="RUNNING"]').click()
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table.locator(f'[data-execution="{running}"]')).to_be_visible()
    assert "state=RUNNING" in page.url
    await ui.screenshot("executions")

    await ui.goto("/ui/dashboard")
    chart = page.get_by_test_id("state-chart")
    await expect(chart.locator('rect[data-state="SUCCESS"]')).to_have_count(1)
    await expect(page.locator(".card", has_text="Running now")).to_contain_text("slow")
    await ui.screenshot("dashboard")
    await ui.podium.intake.kill(running, "company.team", "slow")


PAUSE = """\
id: approval
namespace: company.team
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: go
    type: io.kestra.plugin.core.log.Log
    message: approved
"""

FAILING = """\
id: broken
namespace: company.team
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: nope
"""


async def test_resume_a_paused_execution(ui: UI) -> None:
    await ui.deploy(PAUSE)
    page = ui.page
    execution_id = await ui.start("company.team", "approval")
    await ui.goto(f"/ui/executions/{execution_id}")
    state = page.get_by_test_id("execution-state").locator(".state")
    await expect(state).to_have_text("PAUSED")
    await expect(state).to_have_class(re.compile(r"\bstate-PAUSED\b"))
    await ui.screenshot("paused")
    await page.get_by_test_id("resume").click()
    await expect(state).to_have_text("SUCCESS", timeout=20_000)
    await expect(
        page.get_by_test_id("gantt").locator('.gantt-row[data-task-id="go"] .bar')
    ).to_have_class(re.compile(r"\bstate-SUCCESS\b"))


async def test_failed_execution_replay(ui: UI) -> None:
    await ui.deploy(FAILING)
    page = ui.page
    execution_id = await ui.start("company.team", "broken")
    await ui.goto(f"/ui/executions/{execution_id}")
    state = page.get_by_test_id("execution-state").locator(".state")
    await expect(state).to_have_text("FAILED", timeout=20_000)
    await expect(state).to_have_class(re.compile(r"\bstate-FAILED\b"))
    bar = page.get_by_test_id("gantt").locator('.gantt-row[data-task-id="boom"] .bar')
    await expect(bar).to_have_class(re.compile(r"\bstate-FAILED\b"))
    await expect(page.locator('.gantt-row[data-task-id="boom"] .gantt-error')).to_contain_text(
        "nope"
    )
    # the same red everywhere: badge text on its tint, and the bar
    colours = await page.evaluate(
        """() => {
            const badge = document.querySelector('[data-testid=execution-state] .state');
            const bar = document.querySelector('.gantt-row[data-task-id=boom] .bar');
            return [getComputedStyle(badge).color, getComputedStyle(bar).backgroundColor];
        }"""
    )
    assert colours == ["rgb(153, 27, 27)", "rgb(220, 38, 38)"]
    await expect(page.get_by_test_id("restart")).to_be_visible()
    await ui.screenshot("failed")

    await page.get_by_test_id("restart").click()
    await page.get_by_test_id("confirm").click()  # Restart asks first, as Kill and Replay do
    if not hasattr(ui.podium.intake, "restart"):
        # not in this server yet: its 501 answer is shown, not swallowed
        await expect(page.locator(".toast.error")).to_contain_text("not available")
    else:
        await expect(page.locator(".toast").first).to_contain_text("Restarted")
        await expect(state).to_have_text("FAILED", timeout=20_000)

    await page.get_by_test_id("replay").click()
    await page.get_by_test_id("confirm").click()
    if not hasattr(ui.podium.intake, "replay"):
        await expect(page.locator(".toast.error").last).to_contain_text("not available")
        return
    await page.wait_for_url(re.compile(r"/ui/executions/(?!" + execution_id + r")[^/]+$"))
    await expect(page.get_by_test_id("execution-state").locator(".state")).to_have_text(
        "FAILED", timeout=20_000
    )
