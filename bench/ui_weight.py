"""The web UI's page weight: bytes sent for its assets, raw and gzipped (level 6, as the
server compresses them), for every page and for the editor's CodeMirror bundle.

    python bench/ui_weight.py            # this checkout
    python bench/ui_weight.py ../other   # another checkout, to compare

Prints a table and writes bench/results/ui_weight.json."""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

VENDOR = "vendor/"
KINDS = (".js", ".css", ".html", ".svg")


def _gzip(data: bytes) -> int:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip stream
    return len(packer.compress(data) + packer.flush())


def weigh(repo: Path) -> dict[str, dict[str, int]]:
    root = repo / "engine/web/ui/static"
    totals = {"every page": {"raw": 0, "gzip": 0}, "editor bundle": {"raw": 0, "gzip": 0}}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in KINDS:
            continue
        data = path.read_bytes()
        part = (
            "editor bundle"
            if path.relative_to(root).as_posix().startswith(VENDOR)
            else "every page"
        )
        totals[part]["raw"] += len(data)
        totals[part]["gzip"] += _gzip(data)
    return totals


def main() -> None:
    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    totals = weigh(repo)
    for name, sizes in totals.items():
        print(f"{name:14} {sizes['raw'] / 1024:8.1f} kB raw {sizes['gzip'] / 1024:8.1f} kB gzip")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ui_weight.json").write_text(json.dumps({"repo": str(repo), **totals}, indent=2))


if __name__ == "__main__":
    main()
