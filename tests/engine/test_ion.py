"""Ion as Kestra writes it: every type both ways, Kestra's own text read as Kestra means it,
any value Podium writes read back unchanged, and bad text refused with its line."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import ion

PARIS_SUMMER = timezone(timedelta(hours=2))


def test_every_type_has_kestras_text_and_reads_back() -> None:
    row = {
        "int": -5,
        "big": 2**70,
        "float": 1.5,
        "inf": float("-inf"),
        "dec": Decimal("12.50"),
        "whole": Decimal("7"),
        "exp": Decimal("1E+3"),
        "tiny": Decimal("0.001"),
        "text": 'a "q" \\ é 😀\n\t\x01',
        "none": None,
        "yes": True,
        "blob": b"\xde\xad\xbe\xef",
        "day": date(2030, 12, 25),
        "local": datetime(2004, 10, 19, 10, 23, 54, 999999),
        "zoned": datetime(2004, 10, 19, 8, 23, 54, 250000, tzinfo=PARIS_SUMMER),
        "utc": datetime(2024, 1, 1, tzinfo=UTC),
        "clock": time(4, 5, 30),
        "clock_tz": time(13, 5, 6, tzinfo=PARIS_SUMMER),
        "list": [1, [2, "x"], {}],
        "odd keys": {"a b": 1, "null": 2, "x'y": 3},
    }
    text = ion.dumps(row)
    assert text == (
        "{int:-5,big:1180591620717411303424,float:1.5e0,inf:-inf,dec:12.50,whole:7.,exp:1d3,"
        'tiny:0.001,text:"a \\"q\\" \\\\ é 😀\\n\\t\\u0001",none:null,yes:true,'
        "blob:{{3q2+7w==}},day:2030-12-25,"
        'local:LocalDateTime::"2004-10-19T10:23:54.999999",'
        'zoned:ZonedDateTime::"2004-10-19T08:23:54.250000+02:00",'
        'utc:ZonedDateTime::"2024-01-01T00:00:00Z",clock:LocalTime::"04:05:30",'
        'clock_tz:OffsetTime::"13:05:06+02:00",list:[1,[2,"x"],{}],'
        "'odd keys':{'a b':1,'null':2,'x\\'y':3}}"
    )
    assert ion.loads(text) == [row]


def test_what_kestra_writes_reads_as_kestra_means_it() -> None:
    text = (
        '$ion_1_0 {a:2019-10-06T18:27:49.000Z, b:2019-10-06, c:Instant::"2019-10-06T18:27:49Z",'
        ' d:ZonedDateTime::"2004-10-19T08:23:54.250+02:00[Europe/Paris]", e:1d-2, f:0x1F,'
        " g:null.string, h:sym, i:'quoted sym', j:2019-10-06T18:27:49.5-00:00, k:nan}\n"
        '{"json":1.5, "shape":[1e0, -0.0]}\n'
    )
    first, second = ion.loads(text)
    assert first["a"] == first["c"] == datetime(2019, 10, 6, 18, 27, 49, tzinfo=UTC)
    assert first["b"] == date(2019, 10, 6)
    assert first["d"] == datetime(2004, 10, 19, 6, 23, 54, 250000, tzinfo=UTC)
    assert first["e"] == Decimal("0.01") and first["f"] == 31
    assert first["g"] is None and first["h"] == "sym" and first["i"] == "quoted sym"
    assert first["j"] == datetime(2019, 10, 6, 18, 27, 49, 500000, tzinfo=UTC)
    assert math.isnan(first["k"])
    # JSON's 1.5 is an Ion decimal, 1e0 a float
    assert second == {"json": Decimal("1.5"), "shape": [1.0, Decimal("-0.0")]}


def test_ion_the_fast_reader_leaves_to_amazon_ion_still_reads() -> None:
    assert ion.loads("{a:(x y), b:'''long''' '''string'''}") == [
        {"a": ["x", "y"], "b": "longstring"}
    ]


def test_bad_text_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.ion"
    path.write_text('{a:1}\n\n{a:"unterminated}\n')
    rows = ion.read_rows(path)
    assert next(rows) == {"a": 1}
    with pytest.raises(ion.IonError, match=r"rows.ion, line 3: invalid Ion"):
        next(rows)


def test_a_stream_of_rows_is_written_a_slice_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "rows.ion"
    assert ion.write_rows(path, ({"i": i, "s": "x" * 100} for i in range(20_000))) == 20_000
    assert sum(1 for _ in ion.read_rows(path)) == 20_000
    writer = ion.IonWriter()
    assert writer.add([{"i": 1}]) is None  # under a slice: kept
    assert writer.take() == b'{"i":1}\n'


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.binary()
    | st.dates()
    | st.datetimes()
    | st.datetimes(timezones=st.just(UTC))
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(values)
def test_any_value_podium_writes_reads_back_unchanged(value: object) -> None:
    text = ion.dumps(value)
    assert "\n" not in text
    assert ion.loads(text) == [value] or _surrogates(value)


def _surrogates(value: object) -> bool:
    # a lone surrogate is not UTF-8: it is written as U+FFFD
    return "\\ud8" in repr(value) or "\\udc" in repr(value) or "\\ud" in repr(value)


def test_an_endless_line_is_refused_not_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ion, "MAX_ROW_CHARS", 1000)
    path = tmp_path / "rows.ion"
    path.write_text('{a:1}\n{a:"' + "x" * 5000 + '"}\n')
    rows = ion.read_rows(path)
    assert next(rows) == {"a": 1}
    with pytest.raises(ion.IonError, match="line 2: a row over 1000 characters"):
        next(rows)
