"""IonToExcel and ExcelToIon (the `serdes` extra) through the embedded pipeline: typed
cells both ways, one sheet per file, sheet selection, and what is refused."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl

from engine import ion
from tests.conftest import Harness

HEADER = "id: f\nnamespace: tests.serdes\n"
ROWS = (
    '{id:1,name:"Zoë, \\"q\\"",price:2.50,ok:true,day:2030-12-25,'
    'at:LocalDateTime::"2004-10-19T10:23:54",zoned:ZonedDateTime::"2004-10-19T08:23:54+02:00",'
    "none:null}\n"
    '{id:2,name:"b",price:-1.25,ok:false,day:null,at:null,zoned:null,none:null}\n'
)


async def test_ion_to_excel_and_back_keeps_cell_types(harness: Harness) -> None:
    rows = harness.podium.storage.write("inputs/rows.ion", ROWS.encode())
    other = harness.podium.storage.write("inputs/other.ion", b'["x",1]\n')
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - {{id: xlsx, type: io.kestra.plugin.serdes.excel.IonToExcel, from: "{rows}", sheetsTitle: Orders}}
  - id: two
    type: io.kestra.plugin.serdes.excel.IonToExcel
    header: false
    from:
      First: "{rows}"
      Second: "{other}"
  - {{id: back, type: io.kestra.plugin.serdes.excel.ExcelToIon, from: "{{{{ outputs.xlsx.uri }}}}"}}
  - id: second_only
    type: io.kestra.plugin.serdes.excel.ExcelToIon
    from: "{{{{ outputs.two.uri }}}}"
    sheetsTitle: [Second]
    header: false
"""
    )
    assert outcome.state == "SUCCESS", outcome.task_runs
    xlsx = outcome.run("xlsx").outputs
    assert xlsx["size"] == 2 and xlsx["uri"].endswith(".xlsx")
    sheet = openpyxl.load_workbook(harness.podium.storage.path_of(xlsx["uri"]))["Orders"]
    assert [c.value for c in sheet[2]][:5] == [1, 'Zoë, "q"', 2.5, True, datetime(2030, 12, 25)]
    assert sheet["E2"].number_format == "yyyy-mm-dd"
    back = outcome.run("back").outputs
    assert back["size"] == 2 and list(back["uris"]) == ["Orders"]
    first, second = ion.loads(harness.podium.storage.read(back["uris"]["Orders"]).decode())
    assert first == {
        "id": 1, "name": 'Zoë, "q"', "price": 2.5, "ok": True, "day": date(2030, 12, 25),
        "at": datetime(2004, 10, 19, 10, 23, 54), "zoned": datetime(2004, 10, 19, 6, 23, 54),
        "none": None,
    }  # fmt: skip
    assert second["price"] == Decimal("-1.25") and second["day"] is None
    assert outcome.run("two").outputs["size"] == 3
    only = outcome.run("second_only").outputs
    assert list(only["uris"]) == ["Second"]
    assert ion.loads(harness.podium.storage.read(only["uris"]["Second"]).decode()) == [["x", 1]]


async def test_what_excel_to_ion_cannot_do_is_refused(harness: Harness) -> None:
    not_xlsx = harness.podium.storage.write("inputs/not.xlsx", b"id,name\n1,a\n")
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - id: formatted
    type: io.kestra.plugin.serdes.excel.ExcelToIon
    from: "{not_xlsx}"
    valueRender: FORMATTED_VALUE
    allowFailure: true
  - {{id: broken, type: io.kestra.plugin.serdes.excel.ExcelToIon, from: "{not_xlsx}"}}
"""
    )
    assert outcome.state == "FAILED"
    assert any("number formatter" in m for m in outcome.messages("formatted"))
    assert any("not an Excel workbook" in m for m in outcome.messages("broken"))


async def test_a_zip_bomb_posing_as_a_workbook_is_refused(harness: Harness, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/sharedStrings.xml", "w") as part,
    ):
        for _ in range(120):
            part.write(b"\0" * (1 << 20))
    uri = harness.podium.storage.write("inputs/bomb.xlsx", bomb.read_bytes())
    outcome = await harness.run(
        HEADER
        + f'tasks:\n  - {{id: bomb, type: io.kestra.plugin.serdes.excel.ExcelToIon, from: "{uri}"}}\n'
    )
    assert outcome.state == "FAILED"
    assert any("zip bomb" in m for m in outcome.messages("bomb"))
