"""What a file preview shows, by kind of file, and where it stops."""

from __future__ import annotations

from pathlib import Path

from engine.web.api.files import PREVIEW_BYTES, PREVIEW_ROWS, preview_of


def test_csv_tsv_json_lines_json_and_text(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('id,name\n1,"a, b"\n')
    assert preview_of(tmp_path / "a.csv") == {
        "type": "csv", "rows": [["id", "name"], ["1", "a, b"]], "truncated": False,
    }  # fmt: skip
    (tmp_path / "a.tsv").write_text("x\ty\n")
    assert preview_of(tmp_path / "a.tsv")["rows"] == [["x", "y"]]
    (tmp_path / "a.jsonl").write_text('{"a": 1}\n\nnot json\n')
    assert preview_of(tmp_path / "a.jsonl") == {
        "type": "json", "rows": [{"a": 1}, "not json"], "truncated": False,
    }  # fmt: skip
    (tmp_path / "rows.ion").write_text(
        '{id:1,price:2.50,at:LocalDateTime::"2019-01-01T10:00:00",raw:{{AAE=}}}\n{oops\n'
    )
    assert preview_of(tmp_path / "rows.ion")["rows"] == [
        {"id": 1, "price": 2.5, "at": "2019-01-01T10:00:00", "raw": "AAE="},
        "{oops",
    ]
    (tmp_path / "a.json").write_text('{"k": [1, 2]}')
    assert preview_of(tmp_path / "a.json") == {
        "type": "json",
        "content": {"k": [1, 2]},
        "truncated": False,
    }
    (tmp_path / "bad.json").write_text("{oops")
    assert preview_of(tmp_path / "bad.json") == {
        "type": "text",
        "content": "{oops",
        "truncated": False,
    }
    (tmp_path / "b.bin").write_bytes(b"\xff\xfeok")
    assert preview_of(tmp_path / "b.bin")["type"] == "text"


def test_large_files_are_cut_and_say_so(tmp_path: Path) -> None:
    rows = tmp_path / "many.csv"
    rows.write_text("".join(f"{i},x\n" for i in range(PREVIEW_ROWS * 2)))
    shown = preview_of(rows)
    assert len(shown["rows"]) == PREVIEW_ROWS and shown["truncated"] is True
    huge = tmp_path / "huge.csv"
    huge.write_text("a,b\n" + "1,2\n" * (PREVIEW_BYTES // 4 + 10))
    shown = preview_of(huge)
    assert shown["truncated"] is True and shown["rows"][0] == ["a", "b"]
    text = tmp_path / "huge.txt"
    text.write_text("x" * (PREVIEW_BYTES + 5))
    shown = preview_of(text)
    assert shown["truncated"] is True and len(shown["content"]) == 64 << 10
