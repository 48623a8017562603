"""Hash every part of the reports of the test target, to check a change to ``handover/reports`` leaves them as
they were.

Builds the target of ``tests/reports/factory.py`` (plus 50 bulk dossiers, and a later round ``round-2``) in
``OUT/target.db``, writes the reports of both batches, and writes ``OUT/hashes.json``: the SHA-256 of each zip
member of each ``.xlsx`` (``docProps/core.xml`` without its times) and of each other file (the HTML's
timestamp blanked; the ``.sha256`` sidecars, which hash the whole files with their times, left out). Run it on
two trees and compare::

    PYTHONPATH=$PWD python benchmarks/report_parts.py /tmp/before && ... /tmp/after
    diff /tmp/before/hashes.json /tmp/after/hashes.json
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine

from handover.reports import write_reports
from tests.reports.factory import BATCH, C1, C2, add_bulk_dossiers, add_round, build_target


def part_hashes(folders: list[Path], root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in sorted(p for folder in folders for p in folder.rglob("*")):
        if not f.is_file() or f.name.endswith(".sha256"):
            continue
        if f.suffix == ".xlsx":
            with zipfile.ZipFile(f) as z:
                for name in sorted(z.namelist()):
                    data = z.read(name)
                    if name == "docProps/core.xml":
                        data = re.sub(rb"<dcterms:(created|modified)[^<]*</dcterms:\w+>", b"", data)
                    out[f"{f.relative_to(root)}::{name}"] = hashlib.sha256(data).hexdigest()
        else:
            data = re.sub(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", b"T", f.read_bytes())
            out[str(f.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{out / 'target.db'}")
    build_target(engine)
    add_bulk_dossiers(engine, BATCH, 50)
    write_reports(engine, BATCH, out / "rep")
    add_round(engine, "round-2", datetime(2025, 7, 8, 8, 0), [("NEW-1", C1), ("NEW-2", C2)], updated=1)
    write_reports(engine, "round-2", out / "rep2")
    hashes = part_hashes([out / "rep", out / "rep2"], out)
    (out / "hashes.json").write_text(json.dumps(hashes, indent=1, sort_keys=True))
    print(f"{len(hashes)} parts hashed: {out / 'hashes.json'}")


if __name__ == "__main__":
    main()
