"""The namespace files page: the tree, opening a text file in the editor, saving a new
revision, uploading, creating and deleting; a binary file is offered for download."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.e2e.browser.conftest import UI


async def test_browse_edit_upload_delete(ui: UI, tmp_path: Path) -> None:
    files = ui.podium.namespace_files
    await files.write(
        "company.team",
        {
            "scripts/main.py": b"print('hello')\n",
            "queries/q.sql": b"select 1\n",
            "logo.bin": b"\x00\x01",
        },
    )
    await ui.deploy(
        "id: f\nnamespace: company.team\ntasks:\n  - {id: t, type: io.kestra.plugin.core.log.Log, message: x}\n"
    )
    page = ui.page
    await ui.goto("/ui/files")
    await page.get_by_role("link", name="company.team").click()
    tree = page.get_by_test_id("file-tree")
    await expect(tree.get_by_role("treeitem", name="scripts")).to_be_visible()
    await tree.get_by_role("treeitem", name="scripts").click()
    await tree.get_by_role("treeitem", name="main.py").click()
    editor = page.get_by_test_id("yaml-editor")
    await ui.wait_editor(r"^print\('hello'\)\n$")
    await editor.fill("print('hello, world')\n")
    await expect(page.get_by_test_id("file-state")).to_have_text("unsaved changes")
    await page.keyboard.press("Control+s")
    await expect(page.get_by_test_id("file-state")).to_have_text("saved")
    record, data = await files.get("company.team", "/scripts/main.py")
    assert (record.revision, data) == (2, b"print('hello, world')\n")
    await ui.screenshot("namespace-files")

    # a binary file is not put in the editor
    await tree.get_by_role("treeitem", name="logo.bin").click()
    await expect(page.get_by_text("A binary or large file")).to_be_visible()

    # upload into the root, then delete it
    upload = tmp_path / "notes.txt"
    upload.write_text("uploaded from the browser")
    await page.set_input_files("#file-upload", str(upload))
    await expect(tree.get_by_role("treeitem", name="notes.txt")).to_be_visible()
    assert (await files.get("company.team", "/notes.txt"))[1] == b"uploaded from the browser"
    await tree.get_by_role("treeitem", name="notes.txt").click()
    await expect(page.get_by_role("heading", name="/notes.txt")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete").click()
    await expect(tree.get_by_role("treeitem", name="notes.txt")).to_have_count(0)
    assert [r.path for r in await files.files("company.team")] == [
        "/logo.bin",
        "/queries/q.sql",
        "/scripts/main.py",
    ]

    # a new file opens in the editor
    page.once("dialog", lambda dialog: dialog.accept("config/app.yml"))
    await page.get_by_role("button", name="+ New file").click()
    await expect(page.get_by_role("heading", name="/config/app.yml")).to_be_visible()
    await editor.fill("debug: true\n")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_test_id("file-state")).to_have_text("saved")
    assert (await files.get("company.team", "config/app.yml"))[1] == b"debug: true\n"
