"""The officials' reconciliation workbook (Vietnamese), read back from the target database.

Sheets, in order:

* **Tổng hợp**: batch metadata; for a later round of its sources, every round with what it newly handed over to
  each unit and the record's number; per old district → old commune → new commune the counts per disposition;
  totals; the balance per source (ledger and chunks) and in total, stated in words; the receivers (each commune,
  each provincial department) with their counts, record number and record file.
* **one sheet per receiving new commune** (named from the commune name and code): the printable handover record
  "BIÊN BẢN BÀN GIAO HỒ SƠ ĐANG GIẢI QUYẾT" with the giving side (old districts) and the receiving side, a numbered
  list of the loaded dossiers (section I) and, on the same sheet, the loaded records (section II) under the same
  column header, so the header repeated on every printed page fits both; counts; signature blocks for both sides.
  ID numbers and phones are masked. A commune with more rows than a sheet holds (Excel: 1,048,576) goes on in
  continuation sheets ``<name> (2) <code>``, ... with the same header; totals and signatures end the last one.
  A later round of the same sources (:func:`~handover.reports.queries.rounds.handover_rounds`) lists only the rows it
  newly handed over (communes with none get no sheet); to a commune that received an earlier record it is the
  supplementary record "BIÊN BẢN BÀN GIAO BỔ SUNG ...", numbered after the first (:func:`~handover.reports.workbook.parties.round_record_number`).
  A dossier whose procedure the routing table sends to the province
  (:func:`handover.exports.portal.routed_to_province`) is not on its commune's record but on its department's:
* **one sheet per receiving provincial department** (named from its name and its new province's code), the
  same record. Each record is also copied out of the saved workbook into a file of its own
  (:mod:`handover.reports.records`).
* **Cần xem xét**: instructions, then the review rows with their reason and candidates, and a decision cell
  offering the communes allowed for the row as a drop-down (lists on the hidden sheet ``Danh sách chọn``).
* **Cách ly**: quarantined rows with every finding.
* **Xung đột**: ``content_conflict`` findings (only when there are some).
* **Kiểm tra dữ liệu**: findings per check, great-expectations results, split rules applied.
* **Dòng không phải dữ liệu**: every physical row of each source accounted for (rows read = data rows + non-data
  rows, data rows = extracted) and the non-data rows listed with their rule (title, header, blank, numbering,
  total, subtotal, signature; at most 50 a rule, every row counted).

The workbook is written through openpyxl's public write-only API from streamed queries: memory stays flat in
the number of rows. Data rows are rendered straight to SpreadsheetML by :mod:`handover.reports.rowxml` (what a
:func:`~handover.reports.cells.value_cell` cell holds, without a cell object per value) and
spliced into the saved workbook; the dossiers and records of all communes come from one ordered query each
(:class:`~handover.reports.queries.streams.CommuneRows`). Every text cell from data goes through
:func:`~handover.reports.cells.safe_text` and the formula guard (never a formula).

The workbook is written in one process. Every cell style is registered in a fixed order when a workbook is
made (:class:`~handover.reports.workbook.sheet.Styles`), so the style indexes the rows are rendered with are the ones openpyxl writes (the
saved workbook is checked for it: :class:`~handover.reports.rowxml.StyleMismatch`). The zip is deflated at
:data:`ZIP_LEVEL`.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from handover.errors import writing
from handover.reports.queries.batch import Shared, batch_info, guarded
from handover.reports.queries.loaded import receivers as read_receivers
from handover.reports.queries.rounds import later_rounds
from handover.reports.rowxml import discard, save_workbook
from handover.reports.workbook.audit import (
    CONFLICT_SHEET,
    FINDINGS_SHEET,
    GUIDE_SHEET,
    NON_DATA_SHEET,
    QUARANTINE_SHEET,
    conflict_sheet,
    findings_sheet,
    guide_sheet,
    non_data_sheet,
    quarantine_sheet,
)
from handover.reports.workbook.parties import record_parties, with_rounds
from handover.reports.workbook.record_sheets import ReceiverSheets, commune_sheets, department_sheets
from handover.reports.workbook.review import REVIEW_SHEET, review_sheet
from handover.reports.workbook.sheet import Styles
from handover.reports.workbook.summary import SUMMARY_SHEET, summary_sheet

UNWRITABLE_XLSX = "Choose a folder you can write to (--out), and close the file if it is open in Excel."

# the sheets beside the records, whose names a record sheet may not take
OTHER_SHEETS = (
    SUMMARY_SHEET,
    REVIEW_SHEET,
    QUARANTINE_SHEET,
    CONFLICT_SHEET,
    FINDINGS_SHEET,
    NON_DATA_SHEET,
    GUIDE_SHEET,
)

# deflate level of the workbook's parts: the fastest (its figures: benchmarks/RESULTS.md, "Report modules")
ZIP_LEVEL = 1


def write_workbook(
    engine: Engine, batch_id: str, path: Path, shared: Shared | None = None, parties: Any = None
) -> Path:
    """Write the reconciliation workbook of ``batch_id`` to ``path`` from the target database.

    ``shared``: the batch's aggregates, when the HTML report
    reads them too (:func:`handover.reports.write_reports`). ``parties``: the ``[report.parties]`` settings
    (:class:`handover.parties.PartiesConfig`) printed on the handover records; ``None``: blanks to fill by hand.
    """
    render_workbook(engine, batch_id, path, shared, parties)
    return Path(path)


def render_workbook(
    engine: Engine,
    batch_id: str,
    path: Path,
    shared: Shared | None = None,
    parties: Any = None,
    *,
    records_only: bool = False,
) -> list[ReceiverSheets]:
    """:func:`write_workbook`, returning each receiver's record sheets as named in the workbook (communes, then
    departments: :func:`handover.reports.records.record_files_from` copies them into the record files).
    ``records_only``: a workbook of the record sheets alone (no other sheet name taken), for the record files."""
    from openpyxl import Workbook

    shared = Shared() if shared is None else shared
    path = Path(path)
    wb = Workbook(write_only=True)
    st = Styles(wb)
    what = ("the handover records", "the handover record") if records_only else ("the batch", "the workbook")
    try:
        with guarded(what[0]), engine.connect() as conn:
            info = batch_info(conn, batch_id)
            rounds = shared.get(conn, later_rounds, batch_id)
            signers = with_rounds(record_parties(info, parties), rounds)
            used = set() if records_only else {s.casefold() for s in OTHER_SHEETS}
            communes, departments = read_receivers(conn, batch_id, new_only=signers.new_only)
            if not records_only:
                summary_sheet(wb, conn, info, st, shared, rounds, signers, receivers=(communes, departments))
            receivers = commune_sheets(wb, engine, conn, signers, st, used, communes)
            receivers += department_sheets(wb, conn, signers, st, used, departments)
            if not records_only:
                review_sheet(wb, conn, batch_id, st)
                quarantine_sheet(wb, conn, batch_id, st)
                conflict_sheet(wb, conn, batch_id, st)
                findings_sheet(wb, conn, info, st, shared)
                non_data_sheet(wb, conn, info, st, shared)
                guide_sheet(wb, st)
            for sheet in st.sheets:
                sheet.close()
        with writing(path, what[1], UNWRITABLE_XLSX):
            save_xlsx(wb, path)
    except BaseException:
        discard_xlsx(wb)
        raise
    return receivers


def discard_xlsx(wb: Any) -> None:
    """After an error: remove the rendered rows' files and openpyxl's temporary files of the sheets begun (it
    removes them when it saves: the workbook, a few rows a sheet without its data rows, is saved to a
    temporary file and removed); no workbook is written."""
    discard(wb)
    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        with suppress(Exception):
            wb.save(path)
    finally:
        with suppress(OSError):
            os.remove(path)


def save_xlsx(wb: Any, path: Path) -> None:
    """The workbook saved at ``path`` with its data rows (:func:`handover.reports.rowxml.save_workbook`),
    deflated at :data:`ZIP_LEVEL`."""
    if not wb.worksheets:  # pragma: no cover - as Workbook.save does
        wb.create_sheet()
    wb.properties.modified = datetime.now(tz=UTC).replace(tzinfo=None)
    save_workbook(wb, path, ZIP_LEVEL)
