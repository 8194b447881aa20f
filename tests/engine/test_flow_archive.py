"""engine/flow_archive.py alone: how an upload splits into flows and where each starts."""

from __future__ import annotations

import io
import zipfile

import pytest

from engine.flow_archive import ArchiveError, FlowText, read_upload, split_documents, write_zip


def test_documents_and_the_lines_before_them() -> None:
    assert split_documents("a: 1\n") == [(0, "a: 1\n")]
    assert split_documents("---\na: 1\n") == [(1, "a: 1\n")]
    text = "a: 1\n---   \n\nb: 2\n---\n---\nc: 3\n---\n"
    assert split_documents(text) == [(0, "a: 1\n"), (2, "\nb: 2\n"), (6, "c: 3\n")]
    # `---` inside a line or indented is content, not a separator (as Kestra splits)
    assert split_documents("a: |\n  ---\nb: x---\n") == [(0, "a: |\n  ---\nb: x---\n")]


def test_one_document_has_no_index_and_several_do() -> None:
    [only] = read_upload("one.yml", b"---\nid: a\n")
    assert only == FlowText("one.yml", "id: a\n", None, 1)
    several = read_upload("many.YAML", b"id: a\n---\nid: b\n")
    assert [(f.document, f.first_line, f.label) for f in several] == [
        (0, 0, "many.YAML (document 0)"),
        (1, 2, "many.YAML (document 1)"),
    ]


def test_a_zip_is_known_by_its_content_too_and_exports_read_back() -> None:
    data = write_zip([("b.yml", "id: b\n"), ("a.yaml", "id: a\n")])
    assert data == write_zip([("b.yml", "id: b\n"), ("a.yaml", "id: a\n")])  # same bytes
    flows = read_upload("download", data)
    assert [(f.file, f.source) for f in flows] == [("a.yaml", "id: a\n"), ("b.yml", "id: b\n")]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["b.yml", "a.yaml"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("flows.json", b"{}", "cannot import a file of type '.json'"),
        ("empty.zip", write_zip([]), "holds no flow"),
        ("blank.yaml", b"   \n", None),
    ],
)
def test_what_cannot_be_read(name: str, data: bytes, message: str | None) -> None:
    if message is None:  # a blank file is one empty document: the flow loader says why
        [blank] = read_upload(name, data)
        assert blank.source.strip() == ""
        return
    with pytest.raises(ArchiveError, match=message):
        read_upload(name, data)
