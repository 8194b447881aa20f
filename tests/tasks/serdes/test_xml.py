"""IonToXml and XmlToIon through the embedded pipeline: rows to an XML document and back,
elements streamed by `query`, org.json's typing, and what is refused."""

from __future__ import annotations

from decimal import Decimal

from engine import ion
from tests.conftest import Harness

HEADER = "id: f\nnamespace: tests.serdes\n"
CATALOG = """<?xml version="1.0"?>
<catalog>
  <book id="b1"><title>Zoë &amp; "friends"</title><price>12.50</price><tag>a</tag><tag>b</tag></book>
  <book id="b2"><title lang="fr">Deux</title><price>7</price><tag>c</tag><instock>true</instock></book>
</catalog>
"""


async def test_rows_to_xml_and_back(harness: Harness) -> None:
    rows = harness.podium.storage.write(
        "inputs/rows.ion",
        b'{id:1,name:"a <b> & c",price:2.50,none:null,tags:["x","y"]}\n{id:2}\n',
    )
    catalog = harness.podium.storage.write("inputs/catalog.xml", CATALOG.encode())
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - {{id: xml, type: io.kestra.plugin.serdes.xml.IonToXml, from: "{rows}"}}
  - {{id: back, type: io.kestra.plugin.serdes.xml.XmlToIon, from: "{{{{ outputs.xml.uri }}}}"}}
  - id: books
    type: io.kestra.plugin.serdes.xml.XmlToIon
    from: "{catalog}"
    query: /catalog/book
    parserConfiguration: {{forceList: [instock]}}
  - {{id: whole, type: io.kestra.plugin.serdes.xml.XmlToIon, from: "{catalog}"}}
"""
    )
    assert outcome.state == "SUCCESS", outcome.task_runs
    text = harness.podium.storage.read(outcome.run("xml").outputs["uri"]).decode()
    assert text == (
        "<?xml version='1.0' encoding='UTF-8'?>\n<items>\n  <item>\n    <id>1</id>\n"
        "    <name>a &lt;b&gt; &amp; c</name>\n    <price>2.50</price>\n    <none/>\n"
        "    <tags>x</tags>\n    <tags>y</tags>\n  </item>\n  <item>\n    <id>2</id>\n"
        "  </item>\n</items>\n"
    )

    def rows_of(task: str) -> list[object]:
        return ion.loads(harness.podium.storage.read(outcome.run(task).outputs["uri"]).decode())

    assert rows_of("back") == [
        {"id": 1, "name": "a <b> & c", "price": Decimal("2.50"), "none": "", "tags": ["x", "y"]},
        {"id": 2},
    ]
    assert outcome.run("books").outputs["size"] == 2
    assert rows_of("books") == [
        {"id": "b1", "title": 'Zoë & "friends"', "price": Decimal("12.50"), "tag": ["a", "b"]},
        {"id": "b2", "title": {"lang": "fr", "content": "Deux"}, "price": 7, "tag": "c",
         "instock": [True]},
    ]  # fmt: skip
    assert rows_of("whole") == rows_of("books")[:1] + [
        {"id": "b2", "title": {"lang": "fr", "content": "Deux"}, "price": 7, "tag": "c",
         "instock": True}
    ]  # fmt: skip


async def test_bad_xml_and_a_bad_query_are_refused(harness: Harness) -> None:
    broken = harness.podium.storage.write("inputs/broken.xml", b"<a><b></a>")
    outcome = await harness.run(
        HEADER
        + f"""
tasks:
  - {{id: broken, type: io.kestra.plugin.serdes.xml.XmlToIon, from: "{broken}", allowFailure: true}}
  - {{id: query, type: io.kestra.plugin.serdes.xml.XmlToIon, from: "{broken}", query: "/"}}
"""
    )
    assert outcome.state == "FAILED"
    assert any("not well-formed XML" in m for m in outcome.messages("broken"))
    assert any("names no element" in m for m in outcome.messages("query"))
