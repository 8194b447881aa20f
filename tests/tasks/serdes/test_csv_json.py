"""The serdes tasks through the whole embedded pipeline: CSV and JSON to Ion and back,
with every edge a real file has, and the Ion Kestra writes read as Kestra means it."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from engine import ion
from tests.conftest import Harness

HEADER = "id: f\nnamespace: tests.serdes\n"

EDGES = (
    "id,name,note,empty,missing\n"
    '1,"Smith, John","said ""hi""\nthen left",,\\N\n'
    "2,Zoë 東京 😀,plain,,x\n"
    '3,"","a,b;c",,\n'
)


def put(harness: Harness, name: str, data: bytes) -> str:
    return harness.podium.storage.write(f"inputs/{name}", data)


def read(harness: Harness, uri: str) -> bytes:
    return harness.podium.storage.read(uri)


async def test_csv_round_trip_keeps_quoted_separators_newlines_unicode_and_nulls(
    harness: Harness,
) -> None:
    edges = put(harness, "edges.csv", EDGES.encode())
    header_only = put(harness, "header.csv", b"a,b,c\n")
    empty = put(harness, "empty.csv", b"")
    bom = put(harness, "bom.csv", "\ufeffa;b\r\n1;'x;y'\r\n".encode())
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - {{id: to_ion, type: io.kestra.plugin.serdes.csv.CsvToIon, from: "{edges}"}}
  - {{id: back, type: io.kestra.plugin.serdes.csv.IonToCsv, from: "{{{{ outputs.to_ion.uri }}}}"}}
  - {{id: header_only, type: io.kestra.plugin.serdes.csv.CsvToIon, from: "{header_only}"}}
  - {{id: header_back, type: io.kestra.plugin.serdes.csv.IonToCsv, from: "{{{{ outputs.header_only.uri }}}}"}}
  - {{id: empty, type: io.kestra.plugin.serdes.csv.CsvToIon, from: "{empty}"}}
  - id: lists
    type: io.kestra.plugin.serdes.csv.CsvToIon
    from: "{bom}"
    header: false
    fieldSeparator: ";"
    textDelimiter: "'"
  - id: lists_back
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{{{ outputs.lists.uri }}}}"
    header: false
    fieldSeparator: "|"
    quoteMode: ALWAYS
    lineDelimiter: "\\r\\n"
"""
    )
    assert outcome.state == "SUCCESS", outcome.task_runs
    stored = outcome.run("to_ion").outputs
    assert stored["size"] == 3 and stored["uri"].endswith(".ion")
    rows = list(ion.loads(read(harness, stored["uri"]).decode()))
    assert rows == [
        {"id": "1", "name": "Smith, John", "note": 'said "hi"\nthen left', "empty": "",
         "missing": None},
        {"id": "2", "name": "Zoë 東京 😀", "note": "plain", "empty": "", "missing": "x"},
        {"id": "3", "name": "", "note": "a,b;c", "empty": "", "missing": ""},
    ]  # fmt: skip
    back = outcome.run("back").outputs
    assert back["size"] == 3
    text = read(harness, back["uri"]).decode()
    assert list(csv.reader(io.StringIO(text))) == list(
        csv.reader(io.StringIO(EDGES.replace("\\N", "")))
    )
    assert outcome.run("header_only").outputs["size"] == 0
    assert read(harness, outcome.run("header_back").outputs["uri"]) == b""
    assert outcome.run("empty").outputs["size"] == 0
    lists = outcome.run("lists").outputs
    assert ion.loads(read(harness, lists["uri"]).decode()) == [["a", "b"], ["1", "x;y"]]
    assert read(harness, outcome.run("lists_back").outputs["uri"]) == b'"a"|"b"\r\n"1"|"x;y"\r\n'


KESTRA_ION = (
    "{id:1,price:2147483645.1234,ratio:1.5e0,ok:true,day:2030-12-25,"
    'at:LocalDateTime::"2004-10-19T10:23:54.999999",'
    'zoned:ZonedDateTime::"2004-10-19T08:23:54.250+02:00[Europe/Paris]",'
    'instant:2019-10-06T18:27:49.000Z,t:LocalTime::"04:05:30",blob:{{3q2+7w==}},'
    'nothing:null,\'odd name\':"x",tags:["a","b"]}\n'
    "{id:2,price:-0.5,ratio:+inf,ok:false,day:null,at:null,zoned:null,instant:null,t:null,"
    "blob:null,nothing:null,'odd name':null,tags:[]}\n"
)


async def test_ion_as_kestra_writes_it_becomes_csv_and_json(harness: Harness) -> None:
    source = put(harness, "kestra.ion", KESTRA_ION.encode())
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - id: csv
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{source}"
    quoteMode: NON_NUMERIC
  - id: formatted
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{source}"
    dateFormat: dd/MM/yyyy
    dateTimeFormat: "yyyy-MM-dd HH:mm"
    timeZoneId: Europe/Paris
  - {{id: lines, type: io.kestra.plugin.serdes.json.IonToJson, from: "{source}"}}
  - {{id: array, type: io.kestra.plugin.serdes.json.IonToJson, from: "{source}", newLine: false}}
  - {{id: again, type: io.kestra.plugin.serdes.json.JsonToIon, from: "{{{{ outputs.array.uri }}}}", newLine: false}}
"""
    )
    assert outcome.state == "SUCCESS", outcome.task_runs
    lines = read(harness, outcome.run("csv").outputs["uri"]).decode().splitlines()
    assert lines[0] == (
        '"id","price","ratio","ok","day","at","zoned","instant","t","blob","nothing",'
        '"odd name","tags"'
    )
    assert lines[1] == (
        '1,2147483645.1234,1.5,"true","2030-12-25","2004-10-19T10:23:54.999Z",'
        '"2004-10-19T06:23:54.250Z","2019-10-06T18:27:49.000Z","04:05:30","3q2+7w==",,"x",'
        '"[""a"",""b""]"'
    )
    assert lines[2] == '2,-0.5,"Infinity","false",,,,,,,,,"[]"'
    formatted = read(harness, outcome.run("formatted").outputs["uri"]).decode().splitlines()
    assert formatted[1].split(",")[4:8] == [
        "25/12/2030", "2004-10-19 12:23", "2004-10-19 08:23", "2019-10-06 20:27",
    ]  # fmt: skip
    first = json.loads(read(harness, outcome.run("lines").outputs["uri"]).splitlines()[0])
    assert first == {
        "id": 1, "price": 2147483645.1234, "ratio": 1.5, "ok": True, "day": "2030-12-25",
        "at": "2004-10-19T10:23:54.999999", "zoned": "2004-10-19T06:23:54.250000Z",
        "instant": "2019-10-06T18:27:49Z", "t": "04:05:30", "blob": "3q2+7w==",
        "nothing": None, "odd name": "x", "tags": ["a", "b"],
    }  # fmt: skip
    array = json.loads(read(harness, outcome.run("array").outputs["uri"]))
    assert len(array) == 2 and array[0] == first
    again = outcome.run("again").outputs
    assert again["size"] == 2
    assert ion.loads(read(harness, again["uri"]).decode())[0]["ratio"] == 1.5


async def test_json_lines_and_arrays_become_ion_rows(harness: Harness) -> None:
    lines = put(harness, "rows.jsonl", b'{"a": 1, "b": [1.5, null]}\n\n{"a": "\\u00e9"}\n')
    array = put(harness, "rows.json", b' [ {"a": 1}, 2, "x" ] ')
    single = put(harness, "one.json", b'{"only": true}')
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - {{id: lines, type: io.kestra.plugin.serdes.json.JsonToIon, from: "{lines}"}}
  - {{id: array, type: io.kestra.plugin.serdes.json.JsonToIon, from: "{array}", newLine: false}}
  - {{id: single, type: io.kestra.plugin.serdes.json.JsonToIon, from: "{single}", newLine: false}}
"""
    )
    assert outcome.state == "SUCCESS", outcome.task_runs

    def rows(task: str) -> list[Any]:
        return ion.loads(read(harness, outcome.run(task).outputs["uri"]).decode())

    assert rows("lines") == [{"a": 1, "b": [1.5, None]}, {"a": "é"}]
    assert read(harness, outcome.run("lines").outputs["uri"]).startswith(b"{a:1,b:[1.5e0,null]}")
    assert rows("array") == [{"a": 1}, 2, "x"]
    assert rows("single") == [{"only": True}]


async def test_bad_files_fail_with_a_message_and_bad_lines_can_be_skipped(
    harness: Harness,
) -> None:
    ragged = put(harness, "ragged.csv", b"a,b\n1,2\n3\n4,5\n")
    latin = put(harness, "latin.csv", "a\ncafé\n".encode("latin-1"))
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - {{id: skip, type: io.kestra.plugin.serdes.csv.CsvToIon, from: "{ragged}", onBadLines: WARN}}
  - {{id: latin, type: io.kestra.plugin.serdes.csv.CsvToIon, from: "{latin}", charset: ISO-8859-1}}
  - {{id: ragged, type: io.kestra.plugin.serdes.csv.CsvToIon, from: "{ragged}"}}
"""
    )
    assert outcome.state == "FAILED"
    assert outcome.run("skip").outputs["size"] == 2
    assert any("field count mismatch" in m for m in outcome.messages("skip"))
    latin_rows = ion.loads(read(harness, outcome.run("latin").outputs["uri"]).decode())
    assert latin_rows == [{"a": "café"}]
    assert any("line 3: bad line (field count mismatch)" in m for m in outcome.messages("ragged"))
    not_utf8 = put(harness, "latin2.csv", "a\ncafé\n".encode("latin-1"))
    failed = await harness.run(
        HEADER
        + f"""
tasks:
  - {{id: wrong, type: io.kestra.plugin.serdes.csv.CsvToIon, from: "{not_utf8}"}}
"""
    )
    assert failed.state == "FAILED"
    assert any("not in the charset given" in m for m in failed.messages("wrong"))
    bad_ion = put(harness, "bad.ion", b"{a:1}\n{a:\n")
    failed = await harness.run(
        HEADER
        + f"""
tasks:
  - {{id: wrong, type: io.kestra.plugin.serdes.json.IonToJson, from: "{bad_ion}"}}
"""
    )
    assert failed.state == "FAILED"
    assert any("bad.ion, line 2" in m for m in failed.messages("wrong")), failed.logs


def test_json_lines_files_podium_wrote_before_are_still_read(tmp_path: Any) -> None:
    old = tmp_path / "rows_1.jsonl"
    old.write_bytes(b'{"id": 1, "price": 2.5, "at": "2019-01-01T10:00:00"}\n\n{"id": 2}\n')
    assert list(ion.read_rows(old)) == [
        {"id": 1, "price": 2.5, "at": "2019-01-01T10:00:00"},
        {"id": 2},
    ]
