"""Kestra's deprecated storage.LocalFiles, through the real API: it loads with a
deprecation warning and runs (kestra-io/kestra core/src/test/java/io/kestra/plugin/core/
storage/LocalFilesTest.java; flows/valids/working-directory-local-files.yaml)."""

from __future__ import annotations

import pytest

from tests.conformance.walk_support import module_api as module_api
from tests.conformance.walk_support import run
from tests.web.conftest import YAML, Api

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

LOCAL_FILES = """
id: local_files
namespace: conformance
tasks:
  - id: dir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: write
        type: io.kestra.plugin.core.storage.LocalFiles
        inputs:
          hello.txt: "hi {{ flow.id }}"
          sub/data.csv: "a,b"
      - id: collect
        type: io.kestra.core.tasks.storages.LocalFiles
        outputs: ["*.txt", "sub/*.csv"]
  - id: check
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(outputs.collect.uris['hello.txt']) }}|{{ outputs.collect.uris | keys }}"
"""

ESCAPING = """
id: local_files_escape
namespace: conformance
tasks:
  - id: write
    type: io.kestra.plugin.core.storage.LocalFiles
    inputs:
      ../outside.txt: nope
"""


async def test_local_files_loads_with_a_warning_and_shares_the_working_directory(
    module_api: Api,
) -> None:
    """LocalFilesTest.run: `inputs` are written, `outputs` globs become `uris`; a later
    LocalFiles of the same WorkingDirectory sees the files."""
    checked = await module_api.json(
        "POST", "/api/v1/flows/validate", data=LOCAL_FILES, headers=YAML
    )
    assert checked[0]["constraints"] == ""
    assert checked[0]["deprecationPaths"] == ["tasks[0].tasks[0].type", "tasks[0].tasks[1].type"]
    execution = await run(module_api, LOCAL_FILES)
    assert execution["state"]["current"] == "SUCCESS"
    by_id = {r["taskId"]: r.get("outputs") or {} for r in execution["taskRunList"]}
    assert set(by_id["collect"]["uris"]) == {"hello.txt", "sub/data.csv"}
    assert all(u.startswith("kestra:///") for u in by_id["collect"]["uris"].values())
    assert by_id["check"]["value"] == 'hi local_files|["hello.txt","sub/data.csv"]'


async def test_local_files_never_writes_outside_its_folder(module_api: Api) -> None:
    execution = await run(module_api, ESCAPING)
    assert execution["state"]["current"] == "FAILED"
    assert "leave the working directory" in str(
        await module_api.json("GET", f"/api/v1/logs/{execution['id']}")
    )
