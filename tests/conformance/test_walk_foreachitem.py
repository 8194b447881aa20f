"""Kestra conformance of flow.ForEachItem: its four task runs, batches by rows, bytes or
partitions (templated), the subflow executions and their merged outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.errors import TaskFailed
from tasks.core import for_each_item
from tests.conformance.walk_support import (
    Api,
    labels,
    module_api,
    runs_of,
    wait_state,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
api = module_api

NS = "conformance.walk.items"
ROWS = b"".join(f"row-{i}\n".encode() for i in range(10))  # 10 rows of 6 bytes

SUBFLOW = f"""
id: for-each-item-outputs-subflow
namespace: {NS}
inputs:
  - {{id: items, type: STRING}}
tasks:
  - {{id: return, type: io.kestra.plugin.core.debug.Return, format: "{{{{ read(inputs.items) }}}}"}}
outputs:
  - {{id: value, type: STRING, value: "{{{{ outputs.return.value }}}}"}}
"""


def parent(flow_id: str, batch: str, *, with_return: bool = True) -> str:
    flow = f"""
id: {flow_id}
namespace: {NS}
inputs:
  - {{id: file, type: FILE}}
  - {{id: batch, type: INT, defaults: 4}}
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{{{ inputs.file }}}}"
    batch: {batch}
    namespace: {NS}
    flowId: for-each-item-outputs-subflow
    wait: true
    transmitFailed: true
    inputs:
      items: "{{{{ taskrun.items }}}}"
"""
    if not with_return:  # Kestra's flow for-each-item; for-each-item-outputs adds this
        return flow
    return (
        flow
        + """
  - id: return
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.each_merge.subflowOutputs }}"
"""
    )


async def _run_with_file(
    api: Api, flow_id: str, batch: str, content: bytes = ROWS
) -> dict[str, Any]:
    await api.deploy(SUBFLOW)
    await api.deploy(parent(flow_id, batch, with_return=bool(content)))
    form = aiohttp.FormData()
    form.add_field("file", content, filename="rows.txt", content_type="text/plain")
    started = await api.json("POST", f"/api/v1/executions/{NS}/{flow_id}", data=form)
    return await wait_state(api, started["id"], "SUCCESS", "WARNING", "FAILED")


async def _read(api: Api, execution_id: str, uri: str) -> str:
    async with api.http.get(
        api.url(f"/api/v1/executions/{execution_id}/file"), params={"path": uri}
    ) as got:
        assert got.status == 200, await got.text()
        return await got.text()


async def test_for_each_item_runs_and_merged_outputs(api: Api) -> None:
    """ForEachItemCaseTest.forEachItem and forEachItemWithSubflowOutputs (flows
    for-each-item, for-each-item-outputs): `rows: "{{ inputs.batch }}"` is rendered; the
    ForEachItem gives 4 task runs (itself, _split, _items, _merge); _items counts the
    batches and the subflow executions per state; each subflow execution gets its batch
    file and the parent's correlation id; _merge's subflowOutputs holds one line per
    subflow execution."""
    execution = await _run_with_file(api, "for-each-item-outputs", '{rows: "{{ inputs.batch }}"}')
    assert execution["state"]["current"] == "SUCCESS"
    assert len(execution["taskRunList"]) == 5
    each_runs = [r for r in execution["taskRunList"] if r["taskId"].startswith("each")]
    assert sorted(r["taskId"] for r in each_runs) == [
        "each",
        "each_items",
        "each_merge",
        "each_split",
    ]
    (parent_run,) = runs_of(execution, "each")
    assert {r["parentTaskRunId"] for r in each_runs if r["taskId"] != "each"} == {parent_run["id"]}
    (items,) = runs_of(execution, "each_items")
    assert len(items["attempts"]) == 1
    assert items["attempts"][0]["state"]["current"] == "SUCCESS"
    assert items["outputs"]["numberOfBatches"] == 3
    iterations = items["outputs"]["iterations"]
    assert (iterations["CREATED"], iterations["RUNNING"], iterations["SUCCESS"]) == (0, 0, 3)

    (merge,) = runs_of(execution, "each_merge")
    merged = await _read(api, execution["id"], merge["outputs"]["subflowOutputs"])
    lines = [json.loads(line) for line in merged.splitlines()]
    assert len(lines) == 3  # one line per subflow execution
    assert lines[0] == {"value": "row-0\nrow-1\nrow-2\nrow-3\n"}
    assert runs_of(execution, "return")[0]["outputs"]["value"].startswith("kestra:///")

    found = await api.json(
        "GET",
        f"/api/v1/executions/search?namespace={NS}&flowId=for-each-item-outputs-subflow&size=100",
    )
    children = [
        c for c in found["results"] if c["trigger"]["variables"]["executionId"] == execution["id"]
    ]
    assert len(children) == 3
    for child in children:
        assert labels(child)["system.correlationId"] == execution["id"]
        assert "/tasks/each_split/" in child["inputs"]["items"]


@pytest.mark.parametrize(
    ("batch", "expected"),
    [("{partitions: 3}", 3), ('{bytes: "13B"}', 5), ('{partitions: "{{ inputs.batch }}"}', 4)],
    ids=["partitions", "bytes", "templated-partitions"],
)
async def test_for_each_item_batches_by_partitions_or_bytes(
    api: Api, batch: str, expected: int
) -> None:
    """ForEachItem's Batch (Kestra's StorageSplitInterface): `partitions` cuts the file
    into that many batches, `bytes` into batches of at most that size (10 rows of 6
    bytes at 13B: 2 rows each), templates rendered."""
    flow_id = "items-" + batch.split(":")[0].strip("{")
    execution = await _run_with_file(api, flow_id, batch)
    assert execution["state"]["current"] == "SUCCESS"
    (items,) = runs_of(execution, "each_items")
    assert items["outputs"]["numberOfBatches"] == expected


async def test_for_each_item_refuses_a_bad_batch_size(api: Api) -> None:
    """A rendered `rows` that is not a positive whole number fails the split step with a
    clear error (Kestra fails the task run too)."""
    execution = await _run_with_file(api, "items-bad", '{rows: "{{ inputs.batch - 4 }}"}')
    assert execution["state"]["current"] == "FAILED"
    (split,) = runs_of(execution, "each_split")
    assert "batch.rows must be at least 1" in split["error"]


async def test_for_each_item_over_an_empty_file(api: Api) -> None:
    """ForEachItemCaseTest.forEachItemEmptyItems: an empty file still gives the 4 task
    runs and SUCCESS; the items step has no outputs and no subflow runs."""
    execution = await _run_with_file(api, "items-empty", "{rows: 4}", b"")
    assert execution["state"]["current"] == "SUCCESS"
    names = sorted(r["taskId"] for r in execution["taskRunList"])
    assert names == ["each", "each_items", "each_merge", "each_split"]
    (items,) = runs_of(execution, "each_items")
    assert items["outputs"] == {}


async def test_a_file_without_separators_is_refused_not_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file with no separator is one endless row: the split stops at a bound (made small
    here) instead of holding the file in memory."""
    monkeypatch.setattr(for_each_item, "MAX_ROW_BYTES", 1000)
    source = tmp_path / "one-row.bin"
    source.write_bytes(b"x" * 200_000)
    with pytest.raises(TaskFailed, match="longer than"):
        for_each_item._split_file(source, tmp_path, "\n", ("rows", 1))
    source.write_bytes(b"a\nbb\n\nccc")  # empty rows skipped, the last one kept
    paths = for_each_item._split_file(source, tmp_path, "\n", ("rows", 2))
    assert [p.read_bytes() for p in paths] == [b"a\nbb\n", b"ccc\n"]
