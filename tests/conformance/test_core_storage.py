"""Kestra conformance of the core storage tasks (io.kestra.plugin.core.storage): Write,
Size, Delete, Concat, Reverse, Split, DeduplicateItems, FilterItems.

Each flow runs through the HTTP API (a file given as a FILE input, results downloaded
from the execution's files) and is checked against what Kestra's own test asserts
(core/src/test/java/io/kestra/plugin/core/storage/*Test.java, named in each docstring).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conformance.walk_support import TERMINAL, Api, module_api, run, runs_of, wait_state

pytestmark = pytest.mark.asyncio(loop_scope="module")
api = module_api  # the module's one Podium

NS = "conformance.storage"


def content(count: int) -> list[str]:
    """SplitTest's file: each number right-aligned on 20 characters, one per line."""
    return [str(n).rjust(20) for n in range(count)]


async def run_with_file(api: Api, source: str, data: bytes, name: str = "get.yml") -> Any:
    flow = await api.deploy(source)
    form = aiohttp.FormData()
    form.add_field("data", data, filename=name)
    started = await api.json(
        "POST", f"/api/v1/executions/{flow['namespace']}/{flow['id']}", data=form
    )
    return await wait_state(api, started["id"], *TERMINAL)


async def download(api: Api, execution: dict[str, Any], uri: str) -> bytes:
    path = f"/api/v1/executions/{execution['id']}/file"
    async with api.http.get(api.url(path), params={"path": uri}) as got:
        assert got.status == 200, await got.text()
        return await got.read()


def outputs(execution: dict[str, Any], task_id: str) -> dict[str, Any]:
    (found,) = runs_of(execution, task_id)
    assert found["state"]["current"] in ("SUCCESS", "WARNING"), found
    return found["outputs"]  # type: ignore[no-any-return]


SPLIT = f"""
id: split
namespace: {NS}
inputs:
  - {{id: data, type: FILE}}
tasks:
  - {{id: by_rows, type: io.kestra.plugin.core.storage.Split, from: "{{{{ inputs.data }}}}", rows: 1000}}
  - {{id: by_bytes, type: io.kestra.plugin.core.storage.Split, from: "{{{{ inputs.data }}}}", bytes: 1KB}}
  - {{id: by_partitions, type: io.kestra.plugin.core.storage.Split, from: "{{{{ inputs.data }}}}", partitions: 8}}
  - id: crlf
    type: io.kestra.plugin.core.storage.Write
    content: "[a] 1\\r\\n[b] 2\\rnone\\n[a] 3"
    extension: .log
  - id: by_pattern
    type: io.kestra.plugin.core.storage.Split
    from: "{{{{ outputs.crlf.uri }}}}"
    regexPattern: "\\\\[(\\\\w+)\\\\]"
    separator: ";"
  - id: joined
    type: io.kestra.plugin.core.storage.Concat
    files: "{{{{ outputs.by_bytes.uris }}}}"
    extension: .yml
  - {{id: size, type: io.kestra.plugin.core.storage.Size, uri: "{{{{ outputs.joined.uri }}}}"}}
"""


async def test_split_by_rows_bytes_partitions_and_pattern(api: Api) -> None:
    """SplitTest: 12288 lines of 21 bytes in parts of 1KB are 251 files; the parts
    concatenated are the file again; 8 partitions hold every line, dealt round robin;
    the parts keep the source's extension (.yml). regexPattern (StorageService
    .splitByRegex): a file per first-group value, unmatched lines dropped; `\\r\\n` and
    `\\r` end lines as Java's readLine; each line is written with `separator`.
    ConcatTest (JSON form) and SizeTest on the way."""
    data = ("\n".join(content(12288)) + "\n").encode()
    execution = await run_with_file(api, SPLIT, data)
    assert execution["state"]["current"] == "SUCCESS", execution

    by_bytes = outputs(execution, "by_bytes")["uris"]
    assert len(by_bytes) == 251 and all(u.endswith(".yml") for u in by_bytes)
    first = await download(api, execution, by_bytes[0])
    assert first.count(b"\n") == 49  # 49 lines of 21 bytes reach 1024
    assert outputs(execution, "size") == {"size": len(data)}
    assert await download(api, execution, outputs(execution, "joined")["uri"]) == data

    by_rows = outputs(execution, "by_rows")["uris"]
    assert len(by_rows) == 13
    parts = [await download(api, execution, uri) for uri in by_rows]
    assert [p.count(b"\n") for p in parts] == [1000] * 12 + [288]
    assert b"".join(parts) == data

    by_partitions = outputs(execution, "by_partitions")["uris"]
    assert len(by_partitions) == 8
    dealt = [await download(api, execution, uri) for uri in by_partitions]
    assert sum(p.count(b"\n") for p in dealt) == 12288
    assert dealt[1].split(b"\n")[:2] == [content(9)[1].encode(), content(10)[9].encode()]

    by_pattern = outputs(execution, "by_pattern")["uris"]
    assert [await download(api, execution, uri) for uri in by_pattern] == [
        b"[a] 1;[a] 3;",
        b"[b] 2;",
    ]
    assert all(uri.endswith(".log") for uri in by_pattern)


FILES = f"""
id: files
namespace: {NS}
tasks:
  - {{id: numbers, type: io.kestra.plugin.core.storage.Write, content: "1\\n2\\n3\\n", extension: .txt}}
  - {{id: reversed, type: io.kestra.plugin.core.storage.Reverse, from: "{{{{ outputs.numbers.uri }}}}"}}
  - id: concat
    type: io.kestra.plugin.core.storage.Concat
    files:
      - "{{{{ outputs.numbers.uri }}}}"
      - "{{{{ outputs.reversed.uri }}}}"
    separator: "--\\n"
  - {{id: delete, type: io.kestra.plugin.core.storage.Delete, uri: "{{{{ outputs.numbers.uri }}}}"}}
  - {{id: again, type: io.kestra.plugin.core.storage.Delete, uri: "{{{{ outputs.numbers.uri }}}}"}}
  - id: strict
    type: io.kestra.plugin.core.storage.Delete
    uri: "{{{{ outputs.numbers.uri }}}}"
    errorOnMissing: true
    allowFailure: true
  - id: gone
    type: io.kestra.plugin.core.storage.Size
    uri: "{{{{ outputs.numbers.uri }}}}"
    allowFailure: true
"""


async def test_write_reverse_concat_delete_and_size(api: Api) -> None:
    """WriteTest (content to a file with its extension), ReverseTest ("1\\n2\\n3\\n" gives
    "3\\n2\\n1\\n", same extension), ConcatTest (list form: the separator after each file,
    the last too; `.tmp` by default), DeleteTest (deleted, then not; errorOnMissing fails
    with "Unable to find file"), SizeTest of a missing file fails."""
    execution = await run(api, FILES)
    assert execution["state"]["current"] == "WARNING", [
        (r["taskId"], r["state"]["current"], r.get("error")) for r in execution["taskRunList"]
    ]
    numbers = outputs(execution, "numbers")["uri"]
    assert numbers.endswith(".txt")
    reversed_uri = outputs(execution, "reversed")["uri"]
    assert reversed_uri.endswith(".txt")
    assert await download(api, execution, reversed_uri) == b"3\n2\n1\n"
    concat = outputs(execution, "concat")["uri"]
    assert concat.endswith(".tmp")
    assert await download(api, execution, concat) == b"1\n2\n3\n--\n3\n2\n1\n--\n"
    assert outputs(execution, "delete") == {"uri": numbers, "deleted": True}
    assert outputs(execution, "again") == {"uri": numbers, "deleted": False}
    (strict,) = runs_of(execution, "strict")
    assert strict["error"] == f"Unable to find file '{numbers}'"
    (gone,) = runs_of(execution, "gone")
    assert "no file in internal storage" in gone["error"]


ITEMS = f"""
id: items
namespace: {NS}
inputs:
  - {{id: data, type: FILE}}
tasks:
  - id: dedup
    type: io.kestra.plugin.core.storage.DeduplicateItems
    from: "{{{{ inputs.data }}}}"
    expr: " {{{{ key }}}} "
  - id: even
    type: io.kestra.plugin.core.storage.FilterItems
    from: "{{{{ inputs.data }}}}"
    filterCondition: " {{{{ value % 2 == 0 }}}} "
    errorOrNullBehavior: EXCLUDE
  - id: odd
    type: io.kestra.plugin.core.storage.FilterItems
    from: "{{{{ inputs.data }}}}"
    filterCondition: " {{{{ value % 2 == 0 }}}} "
    filterType: EXCLUDE
    errorOrNullBehavior: INCLUDE
  - id: strict
    type: io.kestra.plugin.core.storage.FilterItems
    from: "{{{{ inputs.data }}}}"
    filterCondition: "{{{{ value % 2 == 0 }}}}"
    allowFailure: true
"""


async def test_deduplicate_and_filter_items(api: Api) -> None:
    """DeduplicateItemsTest.shouldDeduplicateFileGivenKeyExpression: 8 items, 3 keys, 5
    dropped, the last item of each key kept in file order. FilterItemsTest: INCLUDE keeps
    the even values, EXCLUDE drops them; an item the condition fails on ("dummy" % 2) is
    dropped with errorOrNullBehavior EXCLUDE, kept with INCLUDE, and fails the task with
    FAIL (the default)."""
    lines = [
        '{key:"k1",value:2}',
        '{key:"k2",value:1}',
        '{key:"k3",value:4}',
        '{"key":"k1","value":3}',  # JSON is Ion too
        '{key:"k2",value:"dummy"}',
        '{key:"k2",value:6}',
        '{key:"k3",value:8}',
        '{key:"k1",value:10}',
    ]
    data = ("\n".join(lines) + "\n").encode()
    execution = await run_with_file(api, ITEMS, data, name="items.ion")
    assert execution["state"]["current"] == "WARNING", [
        (r["taskId"], r["state"]["current"], r.get("error")) for r in execution["taskRunList"]
    ]

    dedup = outputs(execution, "dedup")
    assert {k: v for k, v in dedup.items() if k != "uri"} == {
        "numKeys": 3,
        "processedItemsTotal": 8,
        "droppedItemsTotal": 5,
    }
    kept = (await download(api, execution, dedup["uri"])).decode().splitlines()
    assert kept == [lines[5], lines[6], lines[7]] and dedup["uri"].endswith(".ion")

    even = outputs(execution, "even")
    assert even["processedItemsTotal"] == 8 and even["droppedItemsTotal"] == 3
    even_lines = (await download(api, execution, even["uri"])).decode().splitlines()
    assert even_lines == [lines[0], lines[2], lines[5], lines[6], lines[7]]

    odd = outputs(execution, "odd")
    odd_lines = (await download(api, execution, odd["uri"])).decode().splitlines()
    assert odd_lines == [lines[1], lines[3], lines[4]]

    (strict,) = runs_of(execution, "strict")
    assert strict["state"]["current"] == "WARNING"
    assert "filterCondition on item 5" in strict["error"]


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            "{type: io.kestra.plugin.core.storage.Split, from: x, rows: 1, bytes: 1KB}",
            "exactly one of",
        ),
        ("{type: io.kestra.plugin.core.storage.Split, from: x}", "exactly one of"),
        (
            "{type: io.kestra.plugin.core.storage.Split, from: x, regexPattern: 'a+'}",
            "capture group",
        ),
        ("{type: io.kestra.plugin.core.storage.Split, from: x, rows: 1, row: 2}", "did you mean"),
        ("{type: io.kestra.plugin.core.storage.Concat, file: [x]}", "did you mean 'files'"),
        (
            "{type: io.kestra.plugin.core.storage.FilterItems, from: x, filterCondition: y, filterType: KEEP}",
            "filterType must be one of INCLUDE, EXCLUDE",
        ),
        ("{type: io.kestra.plugin.core.execution.Exit, state: LATER}", "state must be one of"),
    ],
)
async def test_bad_properties_are_refused_at_load(api: Api, task: str, message: str) -> None:
    source = f"id: bad\nnamespace: {NS}\ntasks:\n  - {{id: t, {task[1:]}\n"
    async with api.http.post(
        api.url("/api/v1/flows"), data=source, headers={"Content-Type": "application/x-yaml"}
    ) as got:
        text = await got.text()
        assert got.status == 422, text
    assert message in text


ESCAPES = f"""
id: escapes
namespace: {NS}
inputs:
  - {{id: uri, type: STRING}}
tasks:
  - {{id: other, type: io.kestra.plugin.core.debug.Return, format: x}}
  - id: split
    type: io.kestra.plugin.core.storage.Split
    from: "{{{{ inputs.uri }}}}"
    rows: 1
    allowFailure: true
  - id: delete
    type: io.kestra.plugin.core.storage.Delete
    uri: "{{{{ inputs.uri }}}}"
    allowFailure: true
"""


@pytest.mark.parametrize(
    ("uri", "split_error", "delete_error"),
    [
        ("kestra:///../../etc/passwd", "escapes the storage root", "escapes the storage root"),
        ("/etc/passwd", "not an internal storage URI", "not an internal storage URI"),
        ("kestra:///%2e%2e%2fsecret", "invalid storage URI", "invalid storage URI"),
    ],
)
async def test_uris_outside_the_storage_are_refused(
    api: Api, uri: str, split_error: str, delete_error: str
) -> None:
    flow = await api.deploy(ESCAPES)
    started = await api.run(flow["namespace"], flow["id"], uri=uri)
    execution = await wait_state(api, started["id"], *TERMINAL)
    assert execution["state"]["current"] == "WARNING"
    assert split_error in runs_of(execution, "split")[0]["error"]
    assert delete_error in runs_of(execution, "delete")[0]["error"]


async def test_delete_refuses_another_executions_file(api: Api) -> None:
    """Unlike Kestra, Delete removes only its own execution's files: a URI another
    execution wrote is refused and the file stays."""
    writer = await run(api, FILES)
    theirs = outputs(writer, "reversed")["uri"]
    flow = await api.deploy(ESCAPES)
    started = await api.run(flow["namespace"], flow["id"], uri=theirs)
    execution = await wait_state(api, started["id"], *TERMINAL)
    assert "not a file of this execution" in runs_of(execution, "delete")[0]["error"]
    assert await download(api, writer, theirs) == b"3\n2\n1\n"
