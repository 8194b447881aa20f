"""The flow editor (CodeMirror, driven by the flow schema) and the plugin documentation:
completion of types and properties, hover docs, the live topology, the guard on unsaved
changes, a taken id, the editor's size, and the plugin pages. No console errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import ConsoleMessage, expect

from tests.e2e.browser.conftest import UI
from tests.e2e.browser.flows import SLOW

SLEEPER = """\
id: sleeper
namespace: company.team
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT1S
"""


@pytest.fixture
async def editor_ui(ui: UI) -> AsyncIterator[UI]:
    """The signed-in page, failing the test on any error in the browser's console."""
    console: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.append(message.text)

    ui.page.on("console", keep)
    yield ui
    assert not console, f"console errors: {console}"


async def _set(ui: UI, text: str) -> None:
    """Replace the editor's text, then put the cursor at its end (as after typing it)."""
    await ui.page.evaluate(
        """t => { const e = document.querySelector('.editor').podiumEditor;
                  e.value = t; e.view.dispatch({selection: {anchor: t.length}}); e.focus(); }""",
        text,
    )


async def test_completion_of_types_properties_and_values(editor_ui: UI) -> None:
    ui = editor_ui
    page = ui.page
    await ui.goto("/ui/flows/new")
    await ui.wait_editor("^id: hello_world")
    await _set(
        ui,
        "id: naps\nnamespace: company.team\ntasks:\n  - id: nap\n    type: io.kestra.plugin.core.flow.S",
    )
    await page.keyboard.type("l")
    options = page.locator(".cm-tooltip-autocomplete li")
    # the first use builds the schema on the server: allow it time on a busy machine
    await expect(options.first).to_contain_text("io.kestra.plugin.core.flow.Sleep", timeout=30_000)
    # (a click: Enter right after the list opens is ignored, against accidental picks)
    await options.first.click()
    await ui.wait_editor(r"type: io\.kestra\.plugin\.core\.flow\.Sleep$")
    # the properties of the type under it: `dur` offers duration (and not Log's message)
    await page.keyboard.press("End")
    await page.keyboard.press("Enter")
    await page.keyboard.type("dur")
    await expect(options.first).to_contain_text("duration")
    await ui.screenshot("editor-completion")
    labels = await options.all_text_contents()
    assert not any(label.startswith("message") for label in labels)
    await options.first.click()
    await ui.wait_editor(r"\n    duration: $")
    await page.keyboard.type("PT1S")
    # an enum's values: Log's level
    await _set(
        ui,
        "id: logs\nnamespace: company.team\ntasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n    level: W",
    )
    await page.keyboard.type("A")
    await expect(options.first).to_have_text(re.compile("^WARN"))
    await options.first.click()
    await ui.wait_editor(r"level: WARN$")
    await expect(page.get_by_test_id("validation")).to_have_text("✓ Valid flow")


async def test_hover_shows_a_property_doc_linked_to_its_page(editor_ui: UI) -> None:
    ui = editor_ui
    page = ui.page
    await ui.deploy(SLEEPER)
    await ui.goto("/ui/flows/company.team/sleeper/editor")
    await ui.wait_editor("duration: PT1S")
    # the editor's own tools: search, folding, several cursors
    await page.get_by_test_id("yaml-editor").click()
    await page.keyboard.press("Control+f")
    await expect(page.locator(".cm-search input[name=search]")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(page.locator(".cm-search")).to_have_count(0)
    fold = page.locator(".cm-foldGutter").get_by_title("Fold line", exact=True)
    await fold.first.click()  # tasks:
    await expect(page.locator(".cm-foldPlaceholder")).to_have_count(1)
    await expect(page.locator(".cm-line", has_text="duration")).to_have_count(0)
    await page.locator(".cm-foldPlaceholder").click()
    await page.locator(".cm-line", has_text="id: sleeper").click()
    await page.locator(".cm-line", has_text="namespace:").click(modifiers=["Control"])
    assert (
        await page.evaluate(
            "() => document.querySelector('.editor').podiumEditor.view.state.selection.ranges.length"
        )
        == 2
    )
    # hover works once the schema is there (its first build may take a while)
    await page.wait_for_function(
        "() => document.querySelector('.editor').podiumEditor.schema !== null", timeout=30_000
    )
    await page.locator(".cm-line", has_text="duration: PT1S").get_by_text("duration").hover()
    tip = page.get_by_test_id("hover-doc")
    await expect(tip).to_contain_text("duration")
    await expect(tip).to_contain_text("How long to wait")
    await expect(tip).to_contain_text("required")
    await ui.screenshot("editor-hover")
    await tip.get_by_role("link").click()
    await page.wait_for_url(
        re.compile(r"/ui/plugins/io\.kestra\.plugin\.core\.flow\.Sleep#property-duration$")
    )
    row = page.locator('[data-property="duration"]')
    await expect(row).to_contain_text("How long to wait")
    await expect(row).to_have_class(re.compile("highlight"))


async def test_live_topology_beside_the_editor(editor_ui: UI) -> None:
    ui = editor_ui
    page = ui.page
    await ui.goto("/ui/flows/new")
    graph = page.get_by_test_id("live-topology")
    await expect(graph.locator('.node[data-task-id="hello"]')).to_have_count(1)
    await _set(
        ui,
        SLEEPER
        + "  - id: after_nap\n    type: io.kestra.plugin.core.log.Log\n    message: awake\n",
    )
    await expect(graph.locator('.node[data-task-id="after_nap"]')).to_have_count(1)
    await expect(graph.locator('.node[data-task-id="nap"]')).to_have_count(1)
    # an invalid version keeps the last valid drawing
    await _set(ui, SLEEPER.replace("Sleep", "Slep"))
    await expect(page.locator(".problem").first).to_contain_text("unknown task type")
    await expect(graph.locator('.node[data-task-id="nap"]')).to_have_count(1)
    await expect(page.get_by_text("the last valid version")).to_be_visible()


async def test_unsaved_changes_ask_before_leaving(editor_ui: UI) -> None:
    ui = editor_ui
    page = ui.page
    await ui.deploy(SLOW)
    await ui.goto("/ui/flows/company.team/slow/topology")
    await page.get_by_role("tab", name="Editor").click()  # in-app: "back" stays in the app
    await ui.wait_editor("id: slow")
    unload_blocked = """() => { const e = new Event('beforeunload', {cancelable: true});
                                 window.dispatchEvent(e); return e.defaultPrevented; }"""
    assert not await page.evaluate(unload_blocked)
    await page.get_by_test_id("yaml-editor").click()
    await page.keyboard.press("Control+End")
    await page.keyboard.type("\n# a change\n")
    await expect(page.get_by_test_id("dirty")).to_have_text("● unsaved changes")
    assert await page.evaluate(unload_blocked)
    # a sidebar link asks; Cancel stays with the changes
    await page.get_by_role("link", name="Executions").click()
    dialog = page.get_by_role("dialog", name="Leave without saving?")
    await expect(dialog).to_be_visible()
    await ui.screenshot("editor-leave-guard")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(page).to_have_url(re.compile(r"/slow/editor$"))
    await ui.wait_editor("# a change")
    # the back button asks too
    await page.go_back()
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(page).to_have_url(re.compile(r"/slow/editor$"))
    # saved: leaving asks nothing
    await page.get_by_test_id("save").click()
    await expect(page.locator(".page-head .label-tag")).to_have_text("rev 2")
    assert not await page.evaluate(unload_blocked)
    await page.get_by_role("link", name="Executions").click()
    await page.wait_for_url(re.compile(r"/ui/executions$"))
    # and confirming leaves without saving
    await ui.goto("/ui/flows/company.team/slow/editor")
    await ui.wait_editor("id: slow")
    await page.get_by_test_id("yaml-editor").click()
    await page.keyboard.type("x")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Flows").click()
    await dialog.get_by_role("button", name="Leave without saving").click()
    await page.wait_for_url(re.compile(r"/ui/flows$"))


async def test_refusals_say_what_to_do(ui: UI) -> None:
    # not editor_ui: the browser logs the 409 and 404 answers as console errors
    page = ui.page
    await ui.goto("/ui/plugins/io.kestra.plugin.core.flow.Nope")
    await expect(page.get_by_role("heading", name="Unknown type")).to_be_visible()
    await expect(page.get_by_role("link", name="See every type")).to_be_visible()
    await ui.deploy(SLEEPER)
    await ui.goto("/ui/flows/new")
    await ui.wait_editor("^id: hello_world")
    await _set(ui, SLEEPER)
    await expect(page.get_by_test_id("validation")).to_have_text("✓ Valid flow")
    await page.get_by_test_id("save").click()
    message = page.get_by_test_id("exists")
    await expect(message).to_contain_text("A flow company.team.sleeper exists already")
    await expect(message).not_to_contain_text("PUT")
    await message.get_by_role("link", name="Open it").click()
    # the new flow's text is unsaved: leaving asks
    await page.get_by_role("button", name="Leave without saving").click()
    await page.wait_for_url(re.compile(r"/ui/flows/company\.team/sleeper/editor$"))


async def test_editor_fills_a_large_window_and_problems_wrap_between_words(editor_ui: UI) -> None:
    ui = editor_ui
    page = ui.page
    await page.set_viewport_size({"width": 1920, "height": 1080})
    await ui.goto("/ui/flows/new")
    await ui.wait_editor("^id: hello_world")
    box = await page.locator(".editor").bounding_box()
    assert box is not None
    assert box["y"] + box["height"] > 1080 - 60, box  # reaches the bottom of the window
    await page.set_viewport_size({"width": 1920, "height": 1400})
    await page.wait_for_function(
        "() => { const r = document.querySelector('.editor').getBoundingClientRect();"
        " return r.bottom > 1400 - 60; }"
    )
    await _set(ui, SLEEPER.replace("flow.Sleep", "flow.Sleeep"))
    text = page.locator(".problem span").nth(1)
    await expect(text).to_contain_text("unknown task type")
    # breaks only after a dot or a slash: never inside a class name's word
    assert await text.evaluate("el => getComputedStyle(el).overflowWrap") == "break-word"
    assert await text.evaluate("el => getComputedStyle(el).wordBreak") == "normal"
    assert await text.locator("wbr").count() > 3
    await ui.screenshot("editor-1920")


async def test_plugin_pages_search_and_document_each_type(editor_ui: UI) -> None:
    ui = editor_ui
    page = ui.page
    await ui.goto("/ui/plugins")
    count = page.get_by_test_id("plugin-count")
    await expect(count).to_contain_text("types")
    total = int((await count.text_content() or "0").split(" of ")[1].split()[0])
    assert total > 50
    await page.locator("#plugin-search").fill("sleep")
    await expect(page.locator('[data-plugin="io.kestra.plugin.core.flow.Sleep"]')).to_be_visible()
    await expect(page.locator('[data-plugin="io.kestra.plugin.core.log.Log"]')).to_have_count(0)
    await expect(page).to_have_url(re.compile(r"/ui/plugins\?q=sleep$"))
    await page.locator("#plugin-search").fill("no such plugin anywhere")
    await expect(page.get_by_text("No plugin type matches.")).to_be_visible()
    await page.locator("#plugin-search").fill("schedule trigger")
    await expect(
        page.locator('[data-plugin="io.kestra.plugin.core.trigger.Schedule"]')
    ).to_be_visible()
    await page.locator("#plugin-search").fill("Sleep")
    await page.get_by_role("link", name=re.compile("^Sleep")).click()
    await page.wait_for_url(re.compile(r"/ui/plugins/io\.kestra\.plugin\.core\.flow\.Sleep$"))
    await expect(page.get_by_test_id("plugin-description")).to_contain_text("Wait for a while")
    duration = page.locator('[data-property="duration"]')
    await expect(duration).to_contain_text("required")
    await expect(duration).to_contain_text("duration")
    await expect(duration.locator("td").nth(4)).to_have_text("yes")  # dynamic
    await expect(page.locator('[data-property="disabled"] td').nth(3)).to_have_text("false")
    await expect(page.get_by_test_id("plugin-example")).to_contain_text(
        "type: io.kestra.plugin.core.flow.Sleep"
    )
    await ui.screenshot("plugin-sleep")
    # a task's outputs
    await ui.goto("/ui/plugins/io.kestra.plugin.core.http.Request")
    await expect(page.get_by_test_id("plugin-outputs")).to_contain_text("outputs.<task id>.code")
    # the schema they come from, as the browser reads it (revalidated by its ETag)
    response = await ui.context.request.get(f"{ui.base}/api/v1/plugins/schemas/flow")
    assert response.ok
    schema = await response.json()
    assert schema["definitions"]["io.kestra.plugin.core.flow.Sleep"]["properties"]["type"] == {
        "const": "io.kestra.plugin.core.flow.Sleep",
        "description": "The task type.",
    }
    again = await ui.context.request.get(
        f"{ui.base}/api/v1/plugins/schemas/flow",
        headers={"If-None-Match": response.headers["etag"]},
    )
    assert again.status == 304
