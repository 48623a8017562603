"""Small reference tables people edit (rule files, decisions, routing, value codes): one CSV reader for all.

Every problem is a :class:`handover.errors.MapError` naming the file, the line and the column, with what to do.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from handover.errors import MapError
from handover.text import clean


def read_csv_table(
    path: Path, required: tuple[str, ...], what: str, *, missing_hint: str = "Check the path given."
) -> list[tuple[int, dict[str, str]]]:
    """(line number, cells) of each non-blank line of a UTF-8 CSV (BOM allowed); cells cleaned to NFC.

    ``what`` names the table in messages ("rule", "routing table" ...).
    """
    if not path.is_file():
        raise MapError(f"The {what} file {path} does not exist.", file=str(path), hint=missing_hint)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MapError(
            f"The {what} file is not UTF-8 text.",
            file=str(path),
            hint="Save it as CSV UTF-8 (in Excel: Save As → CSV UTF-8).",
        ) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [clean(h) for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise MapError(
            f"The {what} file lacks the column(s) {', '.join(missing)}; found: {', '.join(header) or 'nothing'}.",
            file=str(path),
            row=1,
            column=missing[0],
            hint=f"The first line must name the columns {', '.join(required)}.",
        )
    reader.fieldnames = header
    rows = []
    for row in reader:
        if None in row:
            raise MapError(
                f"The {what} file's line {reader.line_num} has more cells than the header.",
                file=str(path),
                row=reader.line_num,
                hint="Quote cells that contain a comma.",
            )
        cells = {k: clean(v) for k, v in row.items()}
        if any(cells.values()):
            rows.append((reader.line_num, cells))
    return rows
