"""The findings file of a run: every finding, row by row, as CSV, kept in the report folder."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

from handover.models import Finding


class FindingsCsv:
    """The run's findings (pass 1's, then the load's), row by row, as CSV: kept in the report folder after every
    run, a dry run and a gate stop included, so that the rows to fix can be found before anything is loaded.
    Every text cell goes through :func:`handover.safe.spreadsheet_safe`: a key such as ``=HYPERLINK(...)`` opens
    in Excel as text."""

    COLUMNS = ("source_id", "row", "key", "field", "check", "severity", "message_vi", "message_en")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("w", encoding="utf-8-sig", newline="")  # BOM: Excel opens it as UTF-8
        self._writer = csv.writer(self._fh)
        self._writer.writerow(self.COLUMNS)
        self.kept: str | None = None  # set by keep() when an edited findings file was kept

    def write(self, findings: list[Finding]) -> None:
        from handover.safe import spreadsheet_safe

        self._writer.writerows([spreadsheet_safe(getattr(f, c)) for c in self.COLUMNS] for f in findings)

    def add_stored(self, engine: Any, batch_id: str, upto: int) -> int:
        """Add the findings an earlier, killed run of the batch committed with the chunks this run skipped: the
        target's findings of the batch up to id ``upto``, the last one stored before this run began (a run adds
        findings only with the chunks it commits, so these are exactly the skipped chunks'). A resumed run's file
        then lists every finding of the batch, as an uninterrupted run's does. Returns how many were added."""
        from sqlalchemy import select

        from handover.safe import spreadsheet_safe
        from handover.target.schema import findings

        f = findings.c
        stmt = (
            select(f.source_id, f.source_row, f.natural_key, f.field, f.check_name, f.severity)
            .add_columns(f.message_vi, f.message_en)
            .where(f.batch_id == batch_id, f.id <= upto)
            .order_by(f.source_id, f.source_row, f.id)
        )
        added = 0
        with engine.connect() as conn:
            for row in conn.execute(stmt.execution_options(yield_per=5000)):
                self._writer.writerow([spreadsheet_safe(v) for v in row])
                added += 1
        return added

    def keep(self, target: Path) -> Path:
        """Copy the findings to ``target``, or to a versioned name when ``target`` was edited since the tool
        wrote it (:func:`handover.reports.keep.place`); ``kept`` then says so. Returns the file written."""
        from handover.reports.keep import edited_notice, place, record

        self._fh.flush()
        target.parent.mkdir(parents=True, exist_ok=True)
        placement = place(target)
        shutil.copyfile(self.path, placement.path)
        record(placement.path)
        self.kept = edited_notice(placement)
        return placement.path

    def __enter__(self) -> FindingsCsv:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()
