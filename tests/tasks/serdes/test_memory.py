"""A million rows go CSV → Ion → CSV in a worker process whose peak memory stays far
below the size of the file: the conversions stream row by row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROWS = 1_000_000
DRIVER = r"""
import json, resource, sys
from pathlib import Path
from engine.ion import IonWriter, read_rows
from tasks.serdes.conversion import DateFormats
from tasks.serdes.csv_tasks import _ReadOptions, _csv_rows, _row_writer, _write_csv

folder, rows = Path(sys.argv[1]), int(sys.argv[2])
source, ion_file, back = folder / "in.csv", folder / "rows.ion", folder / "out.csv"
with source.open("w", newline="") as out:
    out.write("id,name,note,amount\n")
    for i in range(rows):
        out.write(f'{i},name {i} é,"quoted, with a comma and a ""quote"" {i:08d}",{i * 7 % 1000}.25\n')
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
options = _ReadOptions(has_header=True, separator=",", quote='"', skip_empty=False,
    bad_lines="ERROR", empty_header="DROP", skip_rows=0, is_strict=True, max_field=1 << 24)
tick = lambda: None
with source.open(newline="", encoding="utf-8") as handle, ion_file.open("wb") as out:
    writer = IonWriter(out)
    writer.write(_csv_rows(handle, options, []))
    writer.close()
with back.open("w", newline="", encoding="utf-8") as out:
    size = _write_csv(read_rows(ion_file), _row_writer(out, ",", '"', "\n", "REQUIRED"), True,
        DateFormats(), tick)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"written": writer.size, "read": size, "before_kib": before,
    "peak_kib": after, "csv_bytes": source.stat().st_size, "same": source.read_bytes() == back.read_bytes()}))
"""


@pytest.mark.e2e
def test_a_million_rows_convert_in_bounded_memory(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path), str(ROWS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["written"] == report["read"] == ROWS
    assert report["same"], "CSV → Ion → CSV changed the file"
    assert report["csv_bytes"] > 70 * 1024 * 1024
    grown_kib = report["peak_kib"] - report["before_kib"]
    assert grown_kib < 20 * 1024, report  # under 20 MiB for a 70+ MiB file
