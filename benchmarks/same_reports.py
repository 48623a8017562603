"""Compare two folders of reports written from the same target by two versions of the code: every file, a
workbook part by part, leaving out what carries the time of writing (``docProps/core.xml``, the ``.sha256``
sidecars of the files, the HTML report's ``YYYY-MM-DD HH:MM:SS UTC`` stamps). Exit status 1 on a difference.

    PYTHONPATH=<old tree> python -c "from handover.reports import write_reports_from_url as w; \\
        w('sqlite:///target.db', BATCH, 'old')"   # and the same with the new tree into 'new'
    python benchmarks/same_reports.py old new
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

_STAMP = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


def differences(a: Path, b: Path) -> tuple[list[str], int]:
    """The differences between folders ``a`` and ``b``, and the number of workbook parts compared."""
    found: list[str] = []
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    if files_a != files_b:
        found.append(f"files only on one side: {sorted(map(str, set(files_a) ^ set(files_b)))}")
    parts = 0
    for rel in files_a:
        pa, pb = a / rel, b / rel
        if not pb.exists() or rel.name.endswith(".sha256"):
            continue
        if zipfile.is_zipfile(pa):
            with zipfile.ZipFile(pa) as za, zipfile.ZipFile(pb) as zb:
                if za.namelist() != zb.namelist():
                    found.append(f"{rel}: other parts")
                    continue
                for name in za.namelist():
                    if name != "docProps/core.xml":
                        parts += 1
                        if za.read(name) != zb.read(name):
                            found.append(f"{rel}: {name}")
        elif _STAMP.sub(b"", pa.read_bytes()) != _STAMP.sub(b"", pb.read_bytes()):
            found.append(str(rel))
    return found, parts


def main(argv: list[str]) -> int:
    found, parts = differences(Path(argv[0]), Path(argv[1]))
    for line in found:
        print("differs:", line)
    print(f"{parts} workbook parts compared, {len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
