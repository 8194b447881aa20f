"""The Topology in Chromium: it fits its card by default without shrinking text past
reading, zooms (buttons, wheel, a touchpad's and a touch screen's pinch, keys) and pans
(drag, keys), switches between horizontal and vertical (remembered), draws flowable
tasks as clusters, and opens a side panel on a click: the task's type and plugin page,
and in an execution its attempts, outputs and logs. A 100-task flow renders in the
browser in a time this test prints (never asserts).

One Podium and one Chromium serve the whole module (see session.py)."""

from __future__ import annotations

import re
import statistics
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from engine.server import Podium
from engine.states import State
from tests.conftest import running_podium
from tests.e2e.browser.conftest import ARTIFACTS
from tests.e2e.browser.flows import SHOWCASE
from tests.e2e.browser.session import Watched, chromium, watched_page

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


def hundred_tasks() -> str:
    """A flow of exactly 100 tasks: a long sequence, a Parallel, a ForEach, a
    WorkingDirectory, an If and a Subflow."""
    log = "      - {{id: {id}, type: io.kestra.plugin.core.log.Log, message: {id}}}"
    lines = ["id: hundred", "namespace: company.big", "tasks:"]
    lines += [
        f"  - {{id: step_{i:02d}, type: io.kestra.plugin.core.log.Log, message: s}}"
        for i in range(63)
    ]
    lines += ["  - id: fan", "    type: io.kestra.plugin.core.flow.Parallel", "    tasks:"]
    lines += [log.format(id=f"branch_{i:02d}") for i in range(12)]
    lines += [
        "  - id: each",
        "    type: io.kestra.plugin.core.flow.ForEach",
        "    values: [1, 2]",
        "    tasks:",
    ]
    lines += [log.format(id=f"item_{i:02d}") for i in range(10)]
    lines += [
        "  - id: workdir",
        "    type: io.kestra.plugin.core.flow.WorkingDirectory",
        "    tasks:",
    ]
    lines += [log.format(id=f"in_dir_{i}") for i in range(6)]
    lines += [
        "  - id: maybe",
        "    type: io.kestra.plugin.core.flow.If",
        '    condition: "true"',
        "    then:",
    ]
    lines += [log.format(id=f"yes_{i}") for i in range(4)]
    lines += [
        "  - {id: call, type: io.kestra.plugin.core.flow.Subflow, namespace: company.analytics, flowId: showcase}"
    ]
    return "\n".join(lines) + "\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Podium, str]]:
    data = tmp_path_factory.mktemp("topology") / "data"
    async with running_podium(data, serve_http=True) as podium:
        await podium.flows.save(SHOWCASE)
        await podium.flows.save(hundred_tasks())
        execution_id = (await podium.intake.execute("company.analytics", "showcase")).execution_id
        ended = await podium.watcher.wait(execution_id, 60)
        assert ended is not None and ended.state is State.SUCCESS
        yield podium, execution_id


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def ui(site: tuple[Podium, str], browser: Browser) -> AsyncIterator[Watched]:
    async with watched_page(site[0], browser, has_touch=True) as watched:
        yield watched


async def zoom(page: Page) -> int:
    text = await page.get_by_test_id("zoom-level").inner_text()
    return int(text.rstrip("%"))


async def offset(page: Page) -> tuple[float, float]:
    transform = await page.locator(".graph-root").get_attribute("transform") or ""
    found = re.match(r"translate\(([-\d.]+),([-\d.]+)\)", transform)
    assert found, transform
    return float(found.group(1)), float(found.group(2))


# the render alone, in the page: renderGraph + graphBox + layout, five times
_MEASURE = """async (path) => {
  const app = document.querySelector('script[type=module]').src;
  const { renderGraph, graphBox } = await import(app.replace(/app\\.js$/, 'graph.js'));
  const graph = await (await fetch(path)).json();
  const times = [];
  for (let i = 0; i < 5; i += 1) {
    const t0 = performance.now();
    const box = graphBox(renderGraph(graph));
    document.getElementById('main').append(box);
    box.getBoundingClientRect();
    await new Promise((resolve) => requestAnimationFrame(resolve));
    times.push(performance.now() - t0);
    box.remove();
  }
  return times;
}"""


async def test_a_hundred_tasks_stay_readable_and_render_quickly(ui: Watched) -> None:
    page = ui.page
    await ui.goto("/ui/flows/company.big/hundred/topology")
    graph = page.get_by_test_id("topology")
    await expect(graph.locator(".node:not(.trigger)")).to_have_count(100 - 4)  # 4 clusters
    await expect(graph.locator(".group")).to_have_count(4)  # fan, each, workdir, maybe
    # fitted, but never below 80 %: task names keep a readable size, the rest is panned to
    assert await zoom(page) >= 80
    height = await graph.locator('.node[data-task-id="step_00"] tspan').first.evaluate(
        "el => el.getBoundingClientRect().height"
    )
    assert height >= 10, height
    viewport = await page.get_by_test_id("graph-viewport").bounding_box()
    assert viewport and viewport["width"] <= 1280 and viewport["height"] <= 800
    await ui.screenshot("topology-hundred")
    times = await page.evaluate(_MEASURE, "/api/v1/flows/company.big/hundred/graph")
    figure = (
        f"topology of 100 tasks, render in the browser: median {statistics.median(times):.1f} ms,"
        f" runs {', '.join(f'{t:.1f}' for t in times)} ms"
    )
    print(f"\n{figure}")  # seen with -s; kept in test-artifacts/ too
    (ARTIFACTS / "topology-render.txt").write_text(figure + "\n")
    # a Subflow is a task with a link to the flow it starts
    await graph.locator('.node[data-task-id="call"]').focus()  # far right: Tab pans to it
    await page.keyboard.press("Enter")
    panel = page.get_by_test_id("graph-panel")
    await expect(panel.get_by_role("link", name="company.analytics.showcase")).to_have_attribute(
        "href", "/ui/flows/company.analytics/showcase"
    )
    # a cluster opens its panel from its title band
    await graph.locator('.group-head[data-task-id="workdir"]').focus()
    await page.keyboard.press("Enter")
    await expect(panel.get_by_test_id("panel-type")).to_have_text(
        "io.kestra.plugin.core.flow.WorkingDirectory"
    )


async def test_zoom_pan_and_layouts(ui: Watched) -> None:
    page = ui.page
    await ui.goto("/ui/flows/company.analytics/showcase/topology")
    graph = page.get_by_test_id("topology")
    viewport = page.get_by_test_id("graph-viewport")
    await expect(graph.locator(".node").first).to_be_visible()
    for group in ("check", "fan_out", "each", "route"):  # If, Parallel, ForEach, Switch
        await expect(graph.locator(f'.group[data-task-id="{group}"]')).to_have_count(1)
    fitted = await zoom(page)
    assert 80 <= fitted <= 100
    # buttons
    await page.get_by_test_id("zoom-in").click()
    assert await zoom(page) > fitted
    await page.get_by_test_id("zoom-out").click()
    await page.get_by_test_id("zoom-out").click()
    assert await zoom(page) < fitted
    await page.get_by_test_id("zoom-reset").click()
    assert await zoom(page) == 100
    # the wheel zooms around the pointer; a touchpad's pinch is a wheel with Ctrl
    box = await viewport.bounding_box()
    assert box
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.wheel(0, -300)
    after_wheel = await zoom(page)
    assert after_wheel > 100
    await page.keyboard.down("Control")
    await page.mouse.wheel(0, 40)
    await page.keyboard.up("Control")
    assert await zoom(page) < after_wheel
    # a touch screen's pinch: two fingers moving apart
    before_pinch = await zoom(page)
    cdp = await ui.context.new_cdp_session(page)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] - 12
    await cdp.send(
        "Input.dispatchTouchEvent",
        {
            "type": "touchStart",
            "touchPoints": [{"x": cx - 20, "y": cy, "id": 1}, {"x": cx + 20, "y": cy, "id": 2}],
        },
    )
    for spread in (40, 60, 80):
        await cdp.send(
            "Input.dispatchTouchEvent",
            {
                "type": "touchMove",
                "touchPoints": [
                    {"x": cx - spread, "y": cy, "id": 1},
                    {"x": cx + spread, "y": cy, "id": 2},
                ],
            },
        )
    await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert await zoom(page) > before_pinch
    # drag the background to pan
    await page.get_by_test_id("zoom-fit").click()
    start = await offset(page)
    await page.mouse.move(box["x"] + 8, box["y"] + box["height"] - 8)
    await page.mouse.down()
    await page.mouse.move(box["x"] + 108, box["y"] + box["height"] - 48, steps=4)
    await page.mouse.up()
    moved = await offset(page)
    assert (round(moved[0] - start[0]), round(moved[1] - start[1])) == (100, -40)
    # keys, on the focused viewport
    await page.get_by_test_id("zoom-fit").click()
    await viewport.focus()
    await page.keyboard.press("+")
    assert await zoom(page) > fitted
    before = await offset(page)
    await page.keyboard.press("ArrowLeft")
    assert (await offset(page))[0] == before[0] + 40
    await page.keyboard.press("0")
    assert await zoom(page) == fitted
    # vertical, remembered over a reload, and back
    assert await graph.get_attribute("data-direction") == "LR"
    await page.get_by_test_id("graph-direction").click()
    await expect(page.get_by_test_id("topology")).to_have_attribute("data-direction", "TB")
    await ui.screenshot("topology-vertical")
    await page.reload()
    await expect(page.get_by_test_id("topology")).to_have_attribute("data-direction", "TB")
    await page.get_by_test_id("graph-direction").click()
    await expect(page.get_by_test_id("topology")).to_have_attribute("data-direction", "LR")


async def test_a_click_opens_the_task_panel(ui: Watched, site: tuple[Podium, str]) -> None:
    page = ui.page
    await ui.goto("/ui/flows/company.analytics/showcase/topology")
    graph = page.get_by_test_id("topology")
    panel = page.get_by_test_id("graph-panel")
    await expect(panel).to_be_hidden()
    await graph.locator('.node[data-task-id="start"]').click()
    await expect(panel.get_by_test_id("panel-title")).to_have_text("start")
    await expect(panel.get_by_test_id("panel-type")).to_have_text("io.kestra.plugin.core.log.Log")
    await expect(panel.get_by_test_id("plugin-doc")).to_have_attribute(
        "href", "/ui/plugins/io.kestra.plugin.core.log.Log"
    )
    await expect(graph.locator('.node.selected[data-task-id="start"]')).to_have_count(1)
    await panel.get_by_test_id("panel-close").click()
    await expect(panel).to_be_hidden()
    # from the keyboard: a task is a button
    await graph.locator('.node[data-task-id="left"]').focus()
    await page.keyboard.press("Enter")
    await expect(panel.get_by_test_id("panel-type")).to_have_text(
        "io.kestra.plugin.core.debug.Return"
    )

    # in an execution: its attempts, outputs and logs
    _, execution_id = site
    await ui.goto(f"/ui/executions/{execution_id}/topology")
    graph = page.get_by_test_id("topology")
    await graph.locator('.node[data-task-id="left"]').click()
    await expect(panel.get_by_test_id("panel-attempt")).to_have_count(1)
    await expect(panel.get_by_test_id("panel-attempt").locator(".state")).to_have_text("SUCCESS")
    await expect(panel.get_by_test_id("panel-outputs")).to_contain_text("left")
    await graph.locator('.node[data-task-id="item"]').focus()  # from the keyboard: in view
    await page.keyboard.press("Enter")  # one run per value
    await expect(panel.get_by_test_id("panel-attempt")).to_have_count(3)
    await expect(panel.get_by_test_id("panel-logs")).to_contain_text("item b")
    await graph.locator('.node[data-task-id="start"]').focus()
    await page.keyboard.press("Enter")
    await expect(panel.get_by_test_id("panel-logs")).to_contain_text("starting in eu")
    await expect(panel.get_by_role("link", name="All logs of this task")).to_have_attribute(
        "href", f"/ui/executions/{execution_id}/logs?taskId=start"
    )
    await graph.locator('.node[data-task-id="elsewhere"]').focus()  # the branch not taken
    await page.keyboard.press("Enter")
    await expect(panel.get_by_test_id("panel-no-run")).to_be_visible()
    await ui.screenshot("execution-topology-panel")
