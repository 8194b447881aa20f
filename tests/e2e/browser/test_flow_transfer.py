"""The flows list's Import and Export buttons in Chromium: a zip with one invalid flow
imports nothing and shows where the problem is; a good one imports; Export downloads the
zip of the flows the filters show."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from playwright.async_api import expect

from tests.e2e.browser.conftest import UI


def flow(flow_id: str, task_type: str = "io.kestra.plugin.core.log.Log") -> str:
    return (
        f"id: {flow_id}\nnamespace: company.team\ntasks:\n"
        f"  - id: say\n    type: {task_type}\n    message: hello\n"
    )


def write_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


async def test_import_and_export_from_the_flows_list(ui: UI, tmp_path: Path) -> None:
    page = ui.page
    await ui.goto("/ui/flows")
    await expect(page.get_by_text("No flows yet.")).to_be_visible()

    files = {f"team/f{i}.yaml": flow(f"f{i}") for i in range(5)}
    files["team/f2.yaml"] = flow("f2", "io.kestra.plugin.core.log.Lgo")
    bad = write_zip(tmp_path / "bad.zip", files)
    async with page.expect_file_chooser() as chooser:
        await page.get_by_test_id("flow-import").click()
    await (await chooser.value).set_files(str(bad))
    errors = page.get_by_test_id("import-errors")
    await expect(errors).to_contain_text("Nothing was imported from bad.zip")
    await expect(errors).to_contain_text("team/f2.yaml:5:5 tasks[0].type")
    await expect(page.get_by_text("No flows yet.")).to_be_visible()
    await ui.screenshot("flows-import-refused")

    files["team/f2.yaml"] = flow("f2")
    good = write_zip(tmp_path / "good.zip", files)
    async with page.expect_file_chooser() as chooser:
        await page.get_by_test_id("flow-import").click()
    await (await chooser.value).set_files(str(good))
    await expect(page.get_by_text("Imported the flows of good.zip")).to_be_visible()
    await expect(errors).to_have_count(0)
    for i in range(5):
        await expect(page.locator(f'[data-flow="company.team/f{i}"]')).to_be_visible()
    await ui.screenshot("flows-imported")

    await page.fill("#flow-search", "f3")
    await expect(page.locator('[data-flow="company.team/f1"]')).to_have_count(0)
    async with page.expect_download() as download_info:
        await page.get_by_test_id("flow-export").click()
    download = await download_info.value
    assert download.suggested_filename == "flows.zip"
    saved = tmp_path / "export.zip"
    await download.save_as(saved)
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
        assert archive.namelist() == ["company.team-f3.yml"]
        assert archive.read("company.team-f3.yml").decode() == flow("f3")
