"""serdes benchmark: CsvToIon and IonToCsv beside Python's own `csv` module.

    python bench/serdes.py [--size 1GB] [--keep]

Generates a CSV of `--size` (taxi-like rows: ints, decimals, timestamps as text, quoted
text with commas), then runs each phase in its own process, one after the other, on the
same file:
  csv-read    Python's csv.reader over the file (every row parsed, nothing kept)
  csv-write   csv.reader → csv.writer: the file read and written again
  CsvToIon    what the CsvToIon task's worker runs: CSV rows → Ion lines
  IonToCsv    what the IonToCsv task's worker runs: Ion lines → CSV rows
Each phase prints MB/s (of the CSV file's size), rows/s and its process's peak RSS, and
the figures go to bench/results/serdes-<date>.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import filecmp
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("csv-read", "csv-write", "CsvToIon", "IonToCsv")


def parse_size(text: str) -> int:
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def generate(path: Path, size: int) -> int:
    rng = random.Random(7)
    start = dt.datetime(2024, 1, 1)
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "pickup", "passengers", "distance", "fare", "zone", "note"])
        written = 0
        while written < size:
            batch = []
            for _ in range(10_000):
                rows += 1
                batch.append(
                    [
                        rows,
                        (start + dt.timedelta(seconds=rows * 7)).isoformat(sep=" "),
                        rng.randint(1, 6),
                        f"{rng.uniform(0.1, 30):.2f}",
                        f"{rng.uniform(3, 120):.2f}",
                        rng.choice(["Midtown, East", "JFK Airport", "Harlem", 'The "Village"']),
                        "" if rows % 3 else "cash",
                    ]
                )
            writer.writerows(batch)
            written = out.tell()
    return rows


def run_phase(phase: str, folder: Path) -> dict[str, float]:
    source, ion_file, out_csv = folder / "in.csv", folder / "rows.ion", folder / "out.csv"
    started = time.perf_counter()
    rows = 0
    if phase == "csv-read":
        with source.open(newline="", encoding="utf-8") as handle:
            for _ in csv.reader(handle):
                rows += 1
        rows -= 1
    elif phase == "csv-write":
        with (
            source.open(newline="", encoding="utf-8") as handle,
            out_csv.open("w", newline="", encoding="utf-8") as out,
        ):
            writer = csv.writer(out, lineterminator="\n")
            for row in csv.reader(handle):
                writer.writerow(row)
                rows += 1
        rows -= 1
    elif phase == "CsvToIon":
        from engine.ion import IonWriter
        from tasks.serdes.csv_tasks import _csv_rows, _ReadOptions

        options = _ReadOptions(
            has_header=True,
            separator=",",
            quote='"',
            skip_empty=False,
            bad_lines="ERROR",
            empty_header="DROP",
            skip_rows=0,
            is_strict=True,
            max_field=1 << 24,
        )
        with source.open(newline="", encoding="utf-8") as handle, ion_file.open("wb") as out:
            writer = IonWriter(out)
            writer.write(_csv_rows(handle, options, []))
            writer.close()
            rows = writer.size
    else:
        from engine.ion import read_rows
        from tasks.serdes.conversion import DateFormats
        from tasks.serdes.csv_tasks import _row_writer, _write_csv

        with out_csv.open("w", newline="", encoding="utf-8") as out:
            rows = _write_csv(
                read_rows(ion_file),
                _row_writer(out, ",", '"', "\n", "REQUIRED"),
                True,
                DateFormats(),
                lambda: None,
            )
    seconds = time.perf_counter() - started
    megabytes = source.stat().st_size / 1e6
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "mb_per_s": round(megabytes / seconds, 1),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1GB", help="CSV size: 1GB, 200MB…")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args.phase, Path(args.folder))))
        return
    folder = Path(tempfile.mkdtemp(prefix="podium-serdes-"))
    size = parse_size(args.size)
    print(f"generating {size / 1e6:.0f} MB of CSV in {folder} …", flush=True)
    rows = generate(folder / "in.csv", size)
    results: dict[str, object] = {"csv_bytes": (folder / "in.csv").stat().st_size, "rows": rows}
    print(f"{'phase':<10} {'MB/s':>8} {'rows/s':>10} {'seconds':>8} {'peak RSS MB':>12}")
    for phase in PHASES:
        done = subprocess.run(
            [sys.executable, __file__, "--phase", phase, "--folder", str(folder)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(done.stdout)
        results[phase] = figures
        print(
            f"{phase:<10} {figures['mb_per_s']:>8} {figures['rows_per_s']:>10} "
            f"{figures['seconds']:>8} {figures['peak_rss_mb']:>12}",
            flush=True,
        )
    same = filecmp.cmp(folder / "in.csv", folder / "out.csv", shallow=False)
    results["round_trip_identical"] = same
    print(f"CSV → Ion → CSV gives the same bytes: {same}")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"serdes-{dt.date.today()}.json").write_text(json.dumps(results, indent=2))
    if not args.keep:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
