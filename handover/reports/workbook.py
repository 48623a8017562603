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
  A later round of the same sources (:func:`~handover.reports.queries.handover_rounds`) lists only the rows it
  newly handed over (communes with none get no sheet); to a commune that received an earlier record it is the
  supplementary record "BIÊN BẢN BÀN GIAO BỔ SUNG ...", numbered after the first (:func:`round_record_number`).
  A dossier whose procedure the routing table sends to the province
  (:func:`handover.exports.portal.routed_to_province`) is not on its commune's record but on its department's:
* **one sheet per receiving provincial department** (named from its name and its new province's code), the
  same record. Each record is also written as a file of its own by :mod:`handover.reports.records`.
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
:func:`~handover.reports.cells.value_cell` cell holds, several times faster than a cell object each) and
spliced into the saved workbook; the dossiers and records of all communes come from one ordered query each
(:class:`~handover.reports.queries.CommuneRows`). Every text cell from data goes through
:func:`~handover.reports.cells.safe_text` and the formula guard (never a formula).

The workbook is written in one process. Every cell style is registered in a fixed order when a workbook is
made (:class:`_Styles`), so the style indexes the rows are rendered with are the ones openpyxl writes (the
saved workbook is checked for it: :class:`~handover.reports.rowxml.StyleMismatch`). The zip is deflated at
:data:`ZIP_LEVEL`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import cached_property
from itertools import chain, groupby
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Engine

from handover.errors import ReportError
from handover.models import DISPOSITIONS, Counts
from handover.reports import queries as q
from handover.reports.cells import safe_text, text_cell, value_cell
from handover.reports.rowxml import (
    KINDS,
    RowSink,
    discard,
    row_height,
    save_workbook,
    style_attr,
    text_lines,
)
from handover.text import ascii_slug, mask_id

DISPOSITION_VI = {
    "extracted": "Tổng số trích xuất",
    "loaded": "Đã chuyển",
    "review": "Cần xem xét",
    "quarantined": "Cách ly",
    "excluded": "Không còn xử lý",
    "duplicate": "Trùng lặp",
}
DISPOSITION_EN = {
    "extracted": "Extracted",
    "loaded": "Loaded",
    "review": "Review",
    "quarantined": "Quarantined",
    "excluded": "Excluded (not pending)",
    "duplicate": "Duplicate",
}
COUNT_KEYS: tuple[str, ...] = ("extracted", *DISPOSITIONS)
DUE_VI = {"overdue": "Quá hạn", "due_soon": "Sắp đến hạn", "on_time": "Trong hạn", "no_date": "Không có hạn"}
RECORD_TYPE_VI = {
    "birth": "Đăng ký khai sinh",
    "marriage": "Đăng ký kết hôn",
    "death": "Đăng ký khai tử",
    "business_household": "Hộ kinh doanh",
    "construction_permit": "Giấy phép xây dựng",
    "social_allowance": "Trợ cấp xã hội hằng tháng",
}
UNIT_STATUS_VI = {
    "split": "Xã cũ bị chia tách (split)",
    "ambiguous": "Tên xã không rõ ràng (ambiguous)",
    "not_found": "Không tìm thấy xã (not found)",
}
SUMMARY_SHEET = "Tổng hợp"
REVIEW_SHEET = "Cần xem xét"
QUARANTINE_SHEET = "Cách ly"
CONFLICT_SHEET = "Xung đột"
FINDINGS_SHEET = "Kiểm tra dữ liệu"
NON_DATA_SHEET = "Dòng không phải dữ liệu"
GUIDE_SHEET = "Guide (English)"  # the English explanation of the handover records, which are Vietnamese only
RULE_VI = {
    "title": "Tiêu đề",
    "header": "Dòng tiêu đề cột",
    "blank": "Dòng trống",
    "numbering": "Dòng đánh số cột",
    "total": "Dòng tổng cộng",
    "subtotal": "Dòng tổng cộng giữa dữ liệu",
    "signature": "Chữ ký / ngày tháng",
}
DECISION_HEADER = "Quyết định (mã xã mới)"
SIGN_GIVE = "ĐẠI DIỆN BÊN GIAO"
SIGN_RECEIVE = "ĐẠI DIỆN BÊN NHẬN"
SIGN_NOTE = "(Ký, ghi rõ họ tên, đóng dấu)"
HANDOVER_TITLE = "BIÊN BẢN BÀN GIAO HỒ SƠ ĐANG GIẢI QUYẾT"
# a later round's record to a unit that signed an earlier one: what this batch newly hands over, numbered after
# the first record ("<first record's number>-BS1" for the first supplement)
SUPPLEMENT_TITLE = "BIÊN BẢN BÀN GIAO BỔ SUNG HỒ SƠ ĐANG GIẢI QUYẾT"
SUPPLEMENT_SUFFIX = "BS"
PAPER_A4 = 9  # paperSize code of A4 in SpreadsheetML
MAX_SHEET_ROWS = 1_048_576  # Excel's limit: a commune with more rows goes on in continuation sheets
_FOOTER_ROWS = 20  # rows a commune sheet needs after its last data row (totals, notes, signatures)
# deflate level of the workbook's parts: on this XML level 1 is ~10x faster than zlib's default (6) and the
# file ~40% larger (1M rows: 100 MB instead of 70 MB)
ZIP_LEVEL = 1

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_title(name: str | None, code: str | None, used: set[str]) -> str:
    """Excel sheet name from a commune name and code: ≤ 31 characters, none of ``[]:*?/\\``, unique."""
    code = _BAD_SHEET_CHARS.sub("", code or "")
    base = _BAD_SHEET_CHARS.sub(" ", safe_text(name) or "Chưa rõ xã")
    base = " ".join(base.split()).strip("'")
    suffix = f" {code}" if code else ""
    title = (base[: 31 - len(suffix)].rstrip() + suffix).strip("'").strip() or "Xã"
    candidate, n = title, 2
    while candidate.casefold() in used or candidate.casefold() == "history":
        tail = f" ({n})"
        candidate = title[: 31 - len(tail)].rstrip() + tail
        n += 1
    used.add(candidate.casefold())
    return candidate


# ---------------------------------------------------------------------------------------------------------
# styles
# ---------------------------------------------------------------------------------------------------------


class _Styles:
    """The workbook's cell styles, registered once as named styles: each attribute is a style name."""

    def __init__(self, wb: Any) -> None:
        from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side

        thin = Side(style="thin", color="808080")
        box = Border(left=thin, right=thin, top=thin, bottom=thin)
        wrap = Alignment(wrap_text=True, vertical="top")
        center = Alignment(horizontal="center", vertical="center", wrap_text=True)
        self.title = {"font": Font(bold=True, size=14), "alignment": center}
        self.nation = {"font": Font(bold=True, size=12), "alignment": center}
        self.motto = {"font": Font(bold=True, size=12, underline="single"), "alignment": center}
        self.subtitle = {"font": Font(italic=True, size=10), "alignment": center}
        self.label = {"font": Font(bold=True), "alignment": Alignment(wrap_text=True, vertical="top")}
        self.text = {"alignment": Alignment(wrap_text=True, vertical="top")}
        self.note = {
            "font": Font(italic=True, size=9),
            "alignment": Alignment(wrap_text=True, vertical="top"),
        }
        self.header = {
            "font": Font(bold=True),
            "fill": PatternFill("solid", fgColor="D9E1F2"),
            "border": box,
            "alignment": center,
        }
        self.header_en = {
            "font": Font(italic=True, size=8, color="404040"),
            "fill": PatternFill("solid", fgColor="D9E1F2"),
            "border": box,
            "alignment": center,
        }
        self.section = {"font": Font(bold=True), "alignment": Alignment(vertical="center")}
        self.cell = {"border": box, "alignment": wrap}
        self.number = {"border": box, "alignment": Alignment(horizontal="right", vertical="top")}
        self.total = {"font": Font(bold=True), "border": box, "fill": PatternFill("solid", fgColor="F2F2F2")}
        self.overdue = {
            "border": box,
            "alignment": wrap,
            "font": Font(bold=True, color="9C0006"),
            "fill": PatternFill("solid", fgColor="FFC7CE"),
        }
        self.due_soon = {
            "border": box,
            "alignment": wrap,
            "font": Font(bold=True, color="9C5700"),
            "fill": PatternFill("solid", fgColor="FFEB9C"),
        }
        self.ok = {"font": Font(bold=True, color="006100")}
        self.bad = {"font": Font(bold=True, color="9C0006")}
        self.decision = {"border": box, "fill": PatternFill("solid", fgColor="FFF2CC"), "number_format": "@"}
        self.sign = {"font": Font(bold=True), "alignment": center}
        self.sign_note = {"font": Font(italic=True), "alignment": center}
        names: list[str] = []
        for attr, spec in list(vars(self).items()):
            name = f"handover_{attr}"
            wb.add_named_style(NamedStyle(name=name, **spec))
            setattr(self, attr, name)
            names.append(name)
        # every (style, kind) a cell can have, registered now in a fixed order: the style ids are then the same
        # in every workbook made here
        holder = SimpleNamespace(parent=wb)
        for name in (None, *names):
            for kind in KINDS:
                style_attr(holder, name, kind)
        self.sheets: list[_Sheet] = []  # the sheet being written, to flush before saving


class _Sheet:
    """A write-only sheet with a row counter, merged text rows and styled data rows."""

    def __init__(
        self,
        wb: Any,
        title: str,
        widths: Sequence[float],
        styles: _Styles,
        landscape: bool = True,
        freeze: str | None = None,
    ) -> None:
        from openpyxl.utils import get_column_letter

        self.ws = wb.create_sheet(title)
        if freeze:  # a write-only sheet writes its panes with its first row: set them before any row
            self.ws.freeze_panes = freeze
        self.widths = list(widths)
        self.width = len(widths)
        self.st = styles
        self.row_no = 0
        self.sink = RowSink(self.ws, self.widths)
        for previous in styles.sheets:  # sheets are written one after the other: the last one is done
            previous.close()
        styles.sheets[:] = [self]
        for i, w in enumerate(widths, 1):
            self.ws.column_dimensions[get_column_letter(i)].width = w
        self._page_setup(landscape)

    def row(self, cells: Iterable[Any], widths: Sequence[float | None] | None = None) -> int:
        """Append one row of openpyxl cells; a row whose wrapped text needs several lines gets the height for
        them (spreadsheet programs do not grow rows by themselves on opening). ``widths`` overrides column
        widths (merged cells)."""
        cells = list(cells)
        self.row_no += 1
        height = self._height(cells, widths or self.widths)
        self.sink.append(cells, height)
        return self.row_no

    @staticmethod
    def _height(cells: Sequence[Any], widths: Sequence[float | None]) -> float | None:
        lines = 1
        for cell, width in zip(cells, widths, strict=False):
            value = getattr(cell, "value", None)
            if not isinstance(value, str) or not width:
                continue
            size = getattr(getattr(cell, "font", None), "sz", None) or 11
            lines = max(lines, text_lines(value, max(1, int(width * 11 / size))))
        return row_height(lines)

    def blank(self) -> int:
        return self.row([])

    def merged(self, text: Any, style: str | None = None, first: int = 1, last: int | None = None) -> int:
        from openpyxl.utils import get_column_letter

        last = last or self.width
        cells = [None] * (first - 1) + [text_cell(self.ws, text, style or self.st.text)]
        n = self.row(cells, [None] * (first - 1) + [sum(self.widths[first - 1 : last])])
        if last > first:
            self.ws.merged_cells.add(f"{get_column_letter(first)}{n}:{get_column_letter(last)}{n}")
        return n

    def pair(self, label: str, value: Any) -> int:
        """A metadata line: the label over columns A:B, the value over C:H."""
        last = min(8, self.width)
        n = self.row(
            [text_cell(self.ws, label, self.st.label), None, value_cell(self.ws, value)],
            [sum(self.widths[:2]), None, sum(self.widths[2:last])],
        )
        self.ws.merged_cells.add(f"A{n}:B{n}")
        self.ws.merged_cells.add(f"C{n}:{_col(last)}{n}")
        return n

    def headers(self, vi: Sequence[str], en: Sequence[str]) -> int:
        self.row(text_cell(self.ws, h, self.st.header) for h in vi)
        return self.row(text_cell(self.ws, h, self.st.header_en) for h in en)

    def data(self, values: Sequence[Any], styles: Sequence[str | None] | None = None) -> int:
        """Append a data row: each value as :func:`value_cell` would write it, with its style (default: the
        number style for numbers, the bordered wrapped style for the rest). Rendered straight to XML."""
        self.row_no += 1
        self.sink.data_row(self.row_no, values, styles, self.st.cell, self.st.number)
        return self.row_no

    def close(self) -> None:
        """Write the rows still buffered (before the workbook is saved) and drop the sheet's caches."""
        self.sink.close()

    def _page_setup(self, landscape: bool) -> None:
        """A4, fit to width, margins, page numbers. Before the first row: fitToPage is written with the top."""
        from openpyxl.worksheet.page import PageMargins

        ws = self.ws
        ws.page_setup.paperSize = PAPER_A4
        ws.page_setup.orientation = "landscape" if landscape else "portrait"
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_margins = PageMargins(left=0.5, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3)
        ws.print_options.horizontalCentered = True
        ws.oddFooter.center.text = "Trang &P / &N"
        ws.oddFooter.center.size = 9
        ws.oddHeader.right.text = "&A"
        ws.oddHeader.right.size = 8


def _fmt_dt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return "" if value is None else str(value)


def _code_name(code: str | None, name: str | None) -> str:
    return " - ".join(v for v in (code, name) if v)


def _balance_text(c: Counts) -> str:
    parts = " + ".join(str(getattr(c, d)) for d in DISPOSITIONS)
    verdict = "Cân đối ✔ (balanced)" if c.balanced() else "KHÔNG cân đối ✘ (NOT balanced)"
    return f"{c.extracted} = {parts}  →  {verdict}"


# ---------------------------------------------------------------------------------------------------------
# the sheets
# ---------------------------------------------------------------------------------------------------------


def _summary_sheet(
    wb: Any,
    conn: Connection,
    info: q.BatchInfo,
    st: _Styles,
    shared: q.Shared,
    rounds: Sequence[q.Round] = (),
    parties: RecordParties | None = None,
) -> None:
    sh = _Sheet(wb, SUMMARY_SHEET, [10, 22, 10, 24, 10, 24, 13, 11, 11, 11, 13, 11], st)
    sh.merged("BÁO CÁO ĐỐI SOÁT CHUYỂN GIAO HỒ SƠ", st.title)
    sh.merged("Reconciliation of the handover batch (read back from the target database)", st.subtitle)
    sh.blank()
    sh.pair("Mã đợt (batch)", info.batch_id)
    sh.pair("Mô tả (description)", info.description)
    sh.pair("Trạng thái (status)", info.status)
    sh.pair("Bắt đầu (started)", _fmt_dt(info.started_at))
    sh.pair("Kết thúc (finished)", _fmt_dt(info.finished_at))
    sh.pair("Phiên bản công cụ (tool)", info.tool_version)
    sh.pair("Dấu vân tay tập đã chuyển (SHA-256)", info.fingerprint)
    sh.blank()
    if len(rounds) > 1:
        _rounds_table(sh, rounds)
        sh.blank()

    vi = ["Mã huyện cũ", "Huyện cũ", "Mã xã cũ", "Xã cũ", "Mã xã mới", "Xã mới"]
    en = [
        "Old district code",
        "Old district",
        "Old commune code",
        "Old commune",
        "New commune code",
        "New commune",
    ]
    sh.headers(vi + [DISPOSITION_VI[k] for k in COUNT_KEYS], en + [DISPOSITION_EN[k] for k in COUNT_KEYS])
    tally = shared.get(conn, q.ledger_tally, info.batch_id)
    totals = Counts()
    for line in tally.units:
        totals = totals.add(line.counts)
        sh.data(
            [
                line.old_district_code,
                line.old_district_name,
                line.old_commune_code,
                line.old_commune_name,
                line.new_commune_code,
                line.new_commune_name or ("(chưa xác định)" if not line.new_commune_code else None),
                *(getattr(line.counts, k) for k in COUNT_KEYS),
            ]
        )
    sh.data(
        ["Tổng cộng (total)", None, None, None, None, None, *(getattr(totals, k) for k in COUNT_KEYS)],
        [st.total] * (6 + len(COUNT_KEYS)),
    )
    sh.blank()

    sh.merged(
        "Kiểm tra cân đối (balance check): Tổng số trích xuất = Đã chuyển + Cần xem xét + Cách ly + "
        "Không còn xử lý + Trùng lặp",
        st.label,
    )
    n = sh.row(
        [
            text_cell(sh.ws, "Toàn đợt (sổ cái / ledger)", st.label),
            None,
            None,
            text_cell(sh.ws, _balance_text(totals), st.ok if totals.balanced() else st.bad),
        ],
        [sum(sh.widths[:3]), None, None, sum(sh.widths[3:])],
    )
    sh.ws.merged_cells.add(f"A{n}:C{n}")
    sh.ws.merged_cells.add(f"D{n}:{_col(sh.width)}{n}")
    sh.blank()
    ledger = tally.sources
    chunked = shared.get(conn, q.chunk_counts, info.batch_id)
    sh.headers(
        ["Nguồn", *(DISPOSITION_VI[k] for k in COUNT_KEYS), "Cân đối", "Khớp bảng chunks"],
        ["Source", *(DISPOSITION_EN[k] for k in COUNT_KEYS), "Balanced", "Equals chunks table"],
    )
    for source_id in sorted(set(ledger) | set(chunked)):
        c = ledger.get(source_id, Counts())
        same = chunked.get(source_id) == c
        sh.data(
            [
                source_id,
                *(getattr(c, k) for k in COUNT_KEYS),
                "✔" if c.balanced() else "✘",
                "✔" if same else "✘",
            ]
        )
    total_chunks = q.total(chunked)
    sh.data(
        [
            "Tổng cộng (total)",
            *(getattr(totals, k) for k in COUNT_KEYS),
            "✔" if totals.balanced() else "✘",
            "✔" if total_chunks == totals else "✘",
        ],
        [st.total] * (3 + len(COUNT_KEYS)),
    )
    sh.blank()
    _receivers_table(sh, conn, parties or RecordParties(info.batch_id, None))
    sh.blank()
    sh.merged(
        "Số liệu được đếm lại từ cơ sở dữ liệu đích (bảng ledger: mỗi dòng nguồn đã trích xuất có đúng một dòng) "
        "và đối chiếu với bảng chunks. / Counts are recounted from the target database's ledger (one row per "
        "extracted source row) and compared with the chunks table.",
        st.note,
    )


RECEIVERS_HEADING = "Bên nhận và biên bản bàn giao (receivers and their handover records)"
RECEIVER_KIND_VI = {"commune": "Xã, phường", "department": "Sở, ngành tỉnh"}


def _receivers_table(sh: _Sheet, conn: Connection, parties: RecordParties) -> None:
    """Who receives how many: each receiving commune, then each provincial department (the dossiers routed to
    it), with its record's number and its record file (:mod:`handover.reports.records`); for a later round,
    what it newly hands over."""
    from handover.reports.records import record_file_name, records_dir

    st, batch_id, new_only = sh.st, parties.batch_id, parties.new_only
    communes = q.receiving_communes(conn, batch_id, new_only=new_only)
    departments = q.receiving_departments(conn, batch_id, new_only=new_only)
    folder = records_dir(batch_id, Path(".")).name
    sh.merged(RECEIVERS_HEADING, st.label)
    sh.merged(
        f"Mỗi bên nhận có một tệp biên bản riêng trong thư mục {folder}/ để in và ký; hồ sơ thuộc thủ tục do sở, "
        f"ngành tỉnh giải quyết được bàn giao cho sở, ngành đó, không ghi vào biên bản của xã. / Each receiver has "
        f"its own record file in {folder}/ to print and sign; dossiers routed to a provincial department are on "
        "that department's record, not on the commune's.",
        st.note,
    )
    sh.headers(
        ["Loại", "Bên nhận", "Mã", "Số biên bản", "Hồ sơ TTHC", "Hồ sơ, sổ sách", "Tệp biên bản"],
        ["Kind", "Receiver", "Code", "Record number", "Dossiers", "Records", "Record file"],
    )
    dossiers = records = 0
    for kind, receiver in chain((("commune", c) for c in communes), (("department", d) for d in departments)):
        dossiers += receiver.dossiers
        records += receiver.records
        sh.data(
            [
                RECEIVER_KIND_VI[kind],
                receiver.name or "(chưa xác định)",
                receiver.code,
                unit_record_number(parties, receiver.code),
                receiver.dossiers,
                receiver.records,
                record_file_name(receiver),
            ]
        )
    sh.data(["Cộng (total)", None, None, None, dossiers, records, None], [st.total] * 7)


def handed_over_text(dossiers: int, records: int) -> str:
    """What a record hands over, in its opening sentence: the dossiers and the registration records, leaving
    out a kind the receiver gets none of (a provincial department receives dossiers only)."""
    parts = [f"{dossiers} hồ sơ thủ tục hành chính đang giải quyết"] if dossiers or not records else []
    if records:
        parts.append(f"{records} hồ sơ, sổ sách đăng ký")
    return " và ".join(parts)


ROUNDS_TITLE = "CÁC LẦN BÀN GIAO CỦA CÙNG NGUỒN DỮ LIỆU (BIÊN BẢN BÀN GIAO VÀ BIÊN BẢN BỔ SUNG)"
_ROUNDS_VI = (
    "Lần",
    "Mã đợt",
    "Kết thúc (giờ Việt Nam)",
    "Bên nhận (xã mới, sở ngành)",
    "Hồ sơ TTHC",
    "Hồ sơ, sổ sách",
    "Biên bản",
)
_ROUNDS_EN = (
    "Round",
    "Batch",
    "Finished (Vietnam time)",
    "Receiver (new commune, department)",
    "Dossiers",
    "Records",
    "Record",
)


def round_label(unit: q.UnitRound) -> str:
    """What a batch's record to a unit is: the handover record, or its k-th supplement."""
    return "Bàn giao" if unit.round < 2 else f"Bổ sung lần {unit.round - 1}"


def _rounds_table(sh: _Sheet, rounds: Sequence[q.Round]) -> None:
    """The rounds of the batch's sources up to it (:func:`~handover.reports.queries.handover_rounds`): per
    round and receiving unit what it newly handed over and the record's number; a total per round."""
    st = sh.st
    sh.merged(ROUNDS_TITLE, st.label)
    sh.merged(
        "Mỗi lần chạy sau (sau quyết định của cán bộ, hoặc dữ liệu nguồn xuất lại) chỉ bàn giao các hồ sơ chưa "
        "bàn giao: xã đã nhận biên bản lần trước nhận biên bản bổ sung, số tiếp theo số biên bản đầu tiên. / "
        "Each later round hands over only what is new; a unit that signed an earlier record gets a "
        "supplementary one, numbered after the first.",
        st.note,
    )
    number_at = len(_ROUNDS_VI) + 1  # the record's number: over the columns left
    widths = [*sh.widths[: number_at - 1], sum(sh.widths[number_at - 1 :])]
    for texts, style in (((*_ROUNDS_VI, "Số biên bản"), st.header), ((*_ROUNDS_EN, "Number"), st.header_en)):
        n = sh.row([text_cell(sh.ws, t, style) for t in texts], widths)
        sh.ws.merged_cells.add(f"{_col(number_at)}{n}:{_col(sh.width)}{n}")

    def line(values: Sequence[Any], number: str | None, style: str | None = None) -> None:
        cells = [
            value_cell(sh.ws, v, style or (st.number if isinstance(v, int) else st.cell)) for v in values
        ] + [text_cell(sh.ws, number, style or st.cell)]
        n = sh.row(cells, widths)
        sh.ws.merged_cells.add(f"{_col(number_at)}{n}:{_col(sh.width)}{n}")

    for i, rnd in enumerate(rounds, 1):
        finished = _fmt_dt(_local_time(rnd.finished_at)) or rnd.status
        for unit in rnd.units:
            commune = _code_name(unit.code, unit.name) or "(chưa xác định)"
            line(
                [i, rnd.batch_id, finished, commune, unit.dossiers, unit.records, round_label(unit)],
                round_record_number(unit),
            )
        total = (
            f"Cộng lần {i}: {len(rnd.units)} biên bản"
            if rnd.units
            else "Không có hồ sơ mới: không lập biên bản"
        )
        line([i, rnd.batch_id, finished, total, rnd.dossiers, rnd.records, None], None, st.total)


_COMMUNE_WIDTHS = [6, 26, 31, 24, 15, 14, 12, 12, 14, 17, 18]
_TOP_ROWS = 13  # rows of a commune sheet above its first section line (heading, parties, column header)
_COMMUNE_VI = [
    "STT",
    "Mã hồ sơ / Số",
    "Thủ tục / Loại hồ sơ",
    "Chủ hồ sơ / Người đăng ký",
    "Số định danh",
    "Điện thoại",
    "Ngày tiếp nhận / đăng ký",
    "Ngày hẹn trả",
    "Tình trạng hạn (mục I) / Trạng thái (mục II)",
    "Phí, lệ phí",
    "Xã cũ",
]
_COMMUNE_EN = [
    "No.",
    "Dossier code / number",
    "Procedure / record type",
    "Applicant / subject",
    "ID (masked)",
    "Phone (masked)",
    "Received / registered",
    "Due date",
    "Due status (section I) / status (section II)",
    "Fee: paid, unpaid or free",
    "Old commune",
]
RECORD_NUMBER_SUFFIX = "BB-BGHS"  # "Số: <batch>-<commune code>/BB-BGHS"
BLANK_FILL = "……………………"  # a blank to fill by hand
# a printed page of a handover record, in points of the sheet before the fit-to-width scaling: A4 landscape
# less the margins is 509 pt high; the record's columns print at about 78% in Excel and 61% in LibreOffice, so
# a page holds 650 to 830 points of rows. Pages are cut by manual breaks every PAGE_POINTS at most, so that
# both programs break where the record does and the record knows its page count.
PAGE_POINTS = 600.0
MAX_PAGE_BREAKS = 1000  # Excel keeps at most 1,026 manual page breaks a sheet: beyond, its own breaks
# free space under the signature captions, in points of the sheet: 200 pt print as at least 4 cm (113 pt) at
# the smallest scale above (61%)
SIGN_SPACE_POINTS = 200.0


@dataclass(frozen=True)
class RecordParties:
    """What the handover records print besides the data: the batch, the place, the date and time (local), and
    the representatives of both sides (name, position; empty: a blank to fill by hand)."""

    batch_id: str
    when: datetime | None  # local time (Asia/Ho_Chi_Minh) the batch ran
    place: str = ""
    giving: tuple[str, str] = ("", "")
    receiving: tuple[str, str] = ("", "")
    communes: tuple[tuple[str, tuple[str, str]], ...] = ()
    departments: tuple[tuple[str, tuple[str, str]], ...] = ()  # by the ASCII slug of the department's name
    # a later round of its sources (:func:`with_rounds`): the records list only what the batch newly hands over
    new_only: bool = False
    rounds: tuple[q.UnitRound, ...] = ()  # what the batch hands over to each unit, and which hand-over it is

    def receiver(self, code: str | None) -> tuple[str, str]:
        """The receiving side's representative (name, position) for commune ``code``, or for a department's
        code (:func:`~handover.reports.queries.department_code`): the one given for its name, else blanks
        (``receiving`` is the communes' default)."""
        code = code or ""
        if "-" in code:
            return dict(self.departments).get(code.split("-", 1)[1], ("", ""))
        return dict(self.communes).get(code, self.receiving)

    def supplement(self, code: str | None) -> q.UnitRound | None:
        """The batch's hand-over to unit ``code`` when it is not the unit's first (its record supplements the
        first one), else None."""
        unit = self._rounds.get(code)
        return unit if unit is not None and unit.round > 1 else None

    @cached_property
    def _rounds(self) -> dict[str | None, q.UnitRound]:
        return {u.code: u for u in self.rounds}


def record_parties(info: q.BatchInfo, parties: Any = None) -> RecordParties:
    """:class:`RecordParties` of a batch from its facts and the ``[report.parties]`` settings
    (:class:`handover.config.PartiesConfig`, or ``None``: blanks). The date is the batch's start, in local time."""
    started = _local_time(info.started_at)
    if parties is None:
        return RecordParties(info.batch_id, started)

    def pair(rep: Any) -> tuple[str, str]:
        return ((safe_text(rep.name) or "").strip(), (safe_text(rep.position) or "").strip())

    return RecordParties(
        info.batch_id,
        started,
        (safe_text(parties.place) or "").strip(),
        pair(parties.giving),
        pair(parties.receiving),
        tuple(sorted((code, pair(rep)) for code, rep in parties.communes.items())),
        tuple(sorted((ascii_slug(name), pair(rep)) for name, rep in parties.departments.items())),
    )


def _local_time(when: Any) -> Any:
    """A time of the target (naive UTC) in Vietnam's time (Asia/Ho_Chi_Minh), naive; anything else as it is."""
    from handover.sources.cells import LOCAL_TZ

    if when is None or not isinstance(when, datetime):
        return when
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)  # the target holds naive UTC
    return aware.astimezone(LOCAL_TZ).replace(tzinfo=None)


def record_number(batch_id: str, code: str | None) -> str:
    """The handover record's number: the batch and the receiving commune's code."""
    return f"{batch_id}-{code or '00000'}/{RECORD_NUMBER_SUFFIX}"


def round_record_number(unit: q.UnitRound) -> str:
    """The number of a batch's record to a unit: :func:`record_number` of the unit's first hand-over, and for
    the k-th hand-over (k ≥ 2) the supplement's rank after it, ``…/BB-BGHS-BS1`` for the first supplement."""
    first = record_number(unit.first_batch, unit.code)
    return first if unit.round < 2 else f"{first}-{SUPPLEMENT_SUFFIX}{unit.round - 1}"


def with_rounds(parties: RecordParties, rounds: Sequence[q.Round]) -> RecordParties:
    """``parties`` with the batch's round (the last of :func:`~handover.reports.queries.handover_rounds`): after
    earlier rounds of its sources, its records list only what it newly hands over, and a unit's record is a
    supplement when the unit received an earlier one."""
    if not rounds:
        return parties
    return replace(parties, new_only=len(rounds) > 1, rounds=rounds[-1].units)


def record_title(parties: RecordParties, code: str | None) -> str:
    """The heading of the record to unit ``code``: the handover record, or the supplementary one."""
    return SUPPLEMENT_TITLE if parties.supplement(code) else HANDOVER_TITLE


def unit_record_number(parties: RecordParties, code: str | None) -> str:
    """The number printed on the batch's record to unit ``code`` (:func:`round_record_number`)."""
    unit = parties.supplement(code)
    return round_record_number(unit) if unit else record_number(parties.batch_id, code)


def supplement_lines(parties: RecordParties, code: str | None) -> tuple[str, str] | None:
    """For a supplementary record: the line under its heading naming the record it supplements, and the note
    above the signatures binding the two; None for a first record."""
    unit = parties.supplement(code)
    if unit is None:
        return None
    first = record_number(unit.first_batch, unit.code)
    when = _local_time(unit.first_started_at)
    dated = f", lập ngày {when:%d/%m/%Y}" if isinstance(when, datetime) else ""
    return (
        f"(Bổ sung lần thứ {unit.round - 1} cho Biên bản bàn giao số {first}{dated})",
        f"Biên bản này bổ sung và là bộ phận không tách rời của Biên bản bàn giao số {first}{dated}; các hồ sơ "
        "đã bàn giao theo biên bản đó và các biên bản bổ sung trước không ghi lại ở đây.",
    )


class _Pager:
    """Cuts a record sheet into printed pages of :data:`PAGE_POINTS` at most, row by row: the rows after which
    a manual break goes, and the page count. After the first page every page starts with the print title rows
    (``title`` points). A block held (:meth:`hold`, :meth:`release`) stays on one page: it starts a new page
    when it does not fit on the current one."""

    def __init__(self) -> None:
        self.used = 0.0
        self.title = 0.0
        self.pages = 1
        self.breaks: list[int] = []
        self.exact = True  # False beyond MAX_PAGE_BREAKS: the program cuts the rest
        self._held: list[tuple[int, float]] | None = None

    def add(self, row: int, height: float) -> None:
        if self._held is not None:
            self._held.append((row, height))
            return
        if self.used + height > PAGE_POINTS and self.used > self.title:
            self._cut(row)
        self.used += height

    def _cut(self, row: int) -> None:
        if len(self.breaks) >= MAX_PAGE_BREAKS:
            self.exact = False
            self.used = self.title
            return
        self.breaks.append(row - 1)
        self.pages += 1
        self.used = self.title

    def hold(self) -> None:
        self._held = []

    def release(self) -> None:
        held, self._held = self._held or [], None
        if not held:
            return
        block = sum(h for _, h in held)
        if not self.exact:  # the program's own breaks: the block on a page of its own
            self.breaks.append(held[0][0] - 1)
            self.exact = False
        elif self.used + block > PAGE_POINTS and self.used > self.title:
            self._cut(held[0][0])
        for row, height in held:
            self.add(row, height)


class _RecordSheet(_Sheet):
    """A commune's handover record: a :class:`_Sheet` printed as one document, cut into pages by
    :class:`_Pager` (manual breaks), its pages numbered from 1 in its own footer."""

    def __init__(self, wb: Any, title: str, styles: _Styles) -> None:
        super().__init__(wb, title, _COMMUNE_WIDTHS, styles)
        self.pager = _Pager()
        ws = self.ws
        ws.oddHeader.right.text = None  # nothing printed above the record's own heading
        ws.page_setup.firstPageNumber = 1  # each record numbers its pages from 1
        ws.page_setup.useFirstPageNumber = True

    def row(self, cells: Iterable[Any], widths: Sequence[float | None] | None = None) -> int:
        """:meth:`_Sheet.row` with an explicit height (every row: the pagination counts on it)."""
        cells = list(cells)
        self.row_no += 1
        height = self._points(cells, widths or self.widths)
        self.sink.append(cells, height)
        self.pager.add(self.row_no, height)
        return self.row_no

    @staticmethod
    def _points(cells: Sequence[Any], widths: Sequence[float | None]) -> float:
        points = 15.0
        for cell, width in zip(cells, widths, strict=False):
            value = getattr(cell, "value", None)
            if not isinstance(value, str) or not width:
                continue
            size = getattr(getattr(cell, "font", None), "sz", None) or 11
            lines = text_lines(value, max(1, int(width * 11 / size)))
            points = max(points, round(lines * max(15.0, size * 1.45), 1))
        return points

    def spacer(self, points: float) -> int:
        """An empty row ``points`` high."""
        self.row_no += 1
        self.sink.append([], points)
        self.pager.add(self.row_no, points)
        return self.row_no

    def data(self, values: Sequence[Any], styles: Sequence[str | None] | None = None) -> int:
        self.row_no += 1
        height = self.sink.data_row(self.row_no, values, styles, self.st.cell, self.st.number)
        self.pager.add(self.row_no, height)
        return self.row_no

    def finish(self) -> None:
        """The page breaks and the footer "Trang p / n", once every row is written."""
        from openpyxl.worksheet.pagebreak import Break

        for row in self.pager.breaks:
            self.ws.row_breaks.append(Break(id=row))
        total = str(self.pager.pages) if self.pager.exact else "&N"
        self.ws.oddFooter.center.text = f"Trang &P / {total}"


class _Tally:
    """What a commune's footer counts: dossiers by due state, by status and by payment state (with the sums
    paid and still due, :mod:`handover.fees`), records by status."""

    __slots__ = ("dossier_status", "dossiers", "due", "fee_counts", "fee_sums", "record_status", "records")

    def __init__(self) -> None:
        self.dossiers = self.records = 0
        self.due: dict[str, int] = {}
        self.dossier_status: dict[str, int] = {}
        self.record_status: dict[str, int] = {}
        self.fee_counts: dict[str, int] = {}  # PaymentState value → dossiers
        self.fee_sums: dict[str, float] = {"paid": 0.0, "unpaid": 0.0}  # amounts paid; amounts due, unpaid

    @property
    def overdue(self) -> int:
        return self.due.get("overdue", 0)

    @property
    def due_soon(self) -> int:
        return self.due.get("due_soon", 0)


SECTION_DOSSIERS = "I. HỒ SƠ THỦ TỤC HÀNH CHÍNH ĐANG GIẢI QUYẾT"
SECTION_RECORDS = "II. HỒ SƠ, SỔ SÁCH ĐĂNG KÝ"
NO_STATUS_VI = "Không ghi trạng thái"


def _fill(text: str) -> str:
    return text or BLANK_FILL


def _local_date(when: datetime | None, place: str) -> str:
    """ "Lào Cai, ngày 06 tháng 12 năm 2026" (blanks for what is not known)."""
    where = place or BLANK_FILL
    if when is None:
        return f"{where}, ngày …… tháng …… năm ……"
    return f"{where}, ngày {when:%d} tháng {when:%m} năm {when:%Y}"


def _commune_top(sh: _RecordSheet, commune: q.Commune, parties: RecordParties) -> str:
    """The handover record's heading, parties and column header (:data:`_TOP_ROWS` rows) → the print title
    rows."""
    st, half = sh.st, sh.width // 2
    sh.merged("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", st.nation)
    sh.merged("Độc lập - Tự do - Hạnh phúc", st.motto)
    halves = [sum(sh.widths[:half])] + [None] * (half - 1) + [sum(sh.widths[half:])]
    n = sh.row(
        [text_cell(sh.ws, f"Số: {unit_record_number(parties, commune.code)}", st.text)]
        + [None] * (half - 1)
        + [text_cell(sh.ws, _local_date(parties.when, parties.place), st.sign_note)],
        halves,
    )
    sh.ws.merged_cells.add(f"A{n}:{_col(half)}{n}")
    sh.ws.merged_cells.add(f"{_col(half + 1)}{n}:{_col(sh.width)}{n}")
    sh.blank()
    sh.merged(record_title(parties, commune.code), st.title)
    when = (
        f"lúc {parties.when:%H:%M} ngày {parties.when:%d/%m/%Y} (giờ Việt Nam)"
        if parties.when is not None
        else "(chưa ghi thời điểm)"
    )
    supplement = supplement_lines(parties, commune.code)
    sh.merged(
        (f"{supplement[0]}\n" if supplement else "")
        + f"Dữ liệu của đợt chuyển giao {parties.batch_id}, chuyển {when}",
        st.subtitle,
    )
    giving = ", ".join(commune.old_districts) or "(không rõ)"
    sh.merged(f"BÊN GIAO: {giving} (đơn vị hành chính cấp huyện cũ)", st.label)
    name, position = parties.giving
    sh.merged(f"Đại diện: Ông/Bà {_fill(name)}     Chức vụ: {_fill(position)}")
    sh.merged(f"BÊN NHẬN: {_receiving(commune)}", st.label)
    name, position = parties.receiver(commune.code)
    sh.merged(f"Đại diện: Ông/Bà {_fill(name)}     Chức vụ: {_fill(position)}")
    sh.merged(
        f"Hai bên thống nhất bàn giao{' bổ sung' if supplement else ''} {handed_over_text(commune.dossiers, commune.records)} "
        "theo danh sách dưới đây:",
    )
    sh.blank()
    header = sh.row(text_cell(sh.ws, h, st.header) for h in _COMMUNE_VI)
    sh.pager.title = _header_points(sh)
    return f"{header}:{header}"


def _header_points(sh: _RecordSheet) -> float:
    """Height of the column header row (the print title row repeated on every page)."""
    from openpyxl.cell import WriteOnlyCell

    cells = [WriteOnlyCell(sh.ws, h) for h in _COMMUNE_VI]
    for cell in cells:
        cell.style = sh.st.header
    return sh._points(cells, sh.widths)


def _receiving(commune: q.Commune | q.Department) -> str:
    if isinstance(commune, q.Department):
        return commune.name
    return f"{commune.name or '(chưa xác định)'} (mã {commune.code or '?'})"


def _dossier_lines(
    rows: Iterable[Sequence[Any]], st: _Styles, tally: _Tally
) -> Iterator[tuple[list[Any], list[str | None]]]:
    """The data rows (values, styles) of a commune's dossiers, rows ``(new_commune_code, *DOSSIER_FIELDS)``."""
    from handover.fees import PaymentState, is_paid, payment_state, state_text

    cell = st.cell
    plain = [None, None, None, None, None, None, cell, cell, None, None, None]
    styled = {
        "overdue": [None, None, None, None, None, None, cell, st.overdue, st.overdue, None, None],
        "due_soon": [None, None, None, None, None, None, cell, st.due_soon, st.due_soon, None, None],
    }
    due, statuses = tally.due, tally.dossier_status
    fee_counts, fee_sums = tally.fee_counts, tally.fee_sums
    for (
        _code,
        _source,
        dossier_code,
        procedure_code,
        procedure_name,
        applicant_name,
        applicant_id,
        phone,
        received_date,
        due_date,
        flag,
        status,
        handling_level,
        handling_agency,
        fee,
        amount_paid,
        payment_date,
        payment_channel,
        receipt_number,
        _district,
        old_commune_name,
    ) in rows:
        tally.dossiers += 1
        state = flag or "no_date"
        due[state] = due.get(state, 0) + 1
        paying = payment_state(fee, amount_paid, payment_date, receipt_number)
        fee_counts[paying] = fee_counts.get(paying, 0) + 1
        if is_paid(paying):
            fee_sums["paid"] += float(amount_paid or 0)
        elif paying is PaymentState.UNPAID:
            fee_sums["unpaid"] += float(fee)
        label = (safe_text(status) or "").strip() or NO_STATUS_VI
        statuses[label] = statuses.get(label, 0) + 1
        procedure = procedure_name or procedure_code
        if handling_agency and handling_level not in (None, "", "commune_pc"):
            procedure = f"{procedure or ''}\n(Cơ quan giải quyết: {handling_agency})"
        yield (
            [
                tally.dossiers,
                dossier_code,
                procedure,
                applicant_name,
                mask_id(applicant_id),
                mask_id(phone),
                received_date,
                due_date,
                DUE_VI.get(flag or "", flag),
                state_text(fee, amount_paid, payment_date, receipt_number, payment_channel) or None,
                old_commune_name,
            ],
            styled.get(flag, plain),  # type: ignore[arg-type]
        )


def _record_lines(
    rows: Iterable[Sequence[Any]], st: _Styles, tally: _Tally
) -> Iterator[tuple[list[Any], list[str | None]]]:
    """The data rows (values, styles) of a commune's records, rows ``(new_commune_code, *RECORD_FIELDS)``."""
    cell = st.cell
    plain: list[str | None] = [None, None, None, None, None, None, cell, cell, None, None, None]
    statuses = tally.record_status
    for (
        _code,
        _source,
        record_type,
        record_number,
        registered_date,
        subject_name,
        subject_id,
        business_name,
        status_raw,
        _district,
        old_commune_name,
    ) in rows:
        tally.records += 1
        label = (safe_text(status_raw) or "").strip() or NO_STATUS_VI
        statuses[label] = statuses.get(label, 0) + 1
        kind = RECORD_TYPE_VI.get(record_type, record_type)
        if business_name:
            kind = f"{kind}: {business_name}"
        yield (
            [
                tally.records,
                record_number,
                kind,
                subject_name,
                mask_id(subject_id),
                None,
                registered_date,
                None,
                status_raw,
                None,
                old_commune_name,
            ],
            plain,
        )


def _counts_text(counts: dict[str, int]) -> str:
    return "; ".join(f"{label}: {n}" for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def fee_totals_line(tally: _Tally) -> str:
    """The record's fee line: dossiers paid (in full or in part) and the sum paid, unpaid and the sum still
    due, free, and without a fee (:func:`handover.fees.payment_state`)."""
    from handover.fees import PaymentState, vnd

    n = tally.fee_counts.get
    paid = n(PaymentState.PAID, 0) + n(PaymentState.PARTLY_PAID, 0)
    text = f"- Phí, lệ phí: đã nộp {paid} hồ sơ, số tiền đã nộp {vnd(tally.fee_sums['paid'])}"
    if n(PaymentState.PARTLY_PAID, 0):
        text += f" (trong đó nộp một phần: {n(PaymentState.PARTLY_PAID)})"
    text += (
        f"; chưa ghi nhận nộp {n(PaymentState.UNPAID, 0)} hồ sơ, số tiền phải nộp {vnd(tally.fee_sums['unpaid'])}"
        f"; miễn phí {n(PaymentState.FREE, 0)} hồ sơ; không ghi phí {n(PaymentState.NONE, 0)} hồ sơ."
    )
    return text


def totals_lines(tally: _Tally) -> list[str]:
    """The record's totals: dossiers by due state, by status and by payment state, records by status."""
    lines = [
        f"Cộng: {tally.dossiers} hồ sơ thủ tục hành chính đang giải quyết; {tally.records} hồ sơ, sổ sách "
        "đăng ký."
    ]
    if tally.dossiers:
        due = "; ".join(f"{DUE_VI[k]}: {tally.due.get(k, 0)}" for k in DUE_VI)
        lines.append(f"- Hồ sơ thủ tục hành chính theo tình trạng hạn: {due}.")
        lines.append(f"- Hồ sơ thủ tục hành chính theo trạng thái: {_counts_text(tally.dossier_status)}.")
        lines.append(fee_totals_line(tally))
    if tally.records:
        lines.append(f"- Hồ sơ, sổ sách đăng ký theo trạng thái: {_counts_text(tally.record_status)}.")
    return lines


def _commune_bottom(sh: _RecordSheet, tally: _Tally, commune: q.Commune, parties: RecordParties) -> None:
    """Totals, notes and the signature blocks of both sides, kept on one printed page, with room to sign."""
    st, half = sh.st, sh.width // 2
    sh.blank()
    sh.pager.hold()  # from the totals to the names: one page
    lines = totals_lines(tally)
    sh.merged(lines[0], st.label)
    for line in lines[1:]:
        sh.merged(line)
    sh.merged(
        "Hồ sơ quá hạn / sắp đến hạn được tô màu: bên nhận cần xử lý ngay hoặc gửi phiếu xin lỗi và hẹn lại. "
        "Số định danh và số điện thoại được che một phần (Nghị định 13/2023/NĐ-CP).",
        st.note,
    )
    supplement = supplement_lines(parties, commune.code)
    if supplement:
        sh.merged(supplement[1], st.note)
    sh.merged("Biên bản được lập thành 02 bản có giá trị như nhau, mỗi bên giữ 01 bản.", st.note)
    sh.blank()
    halves = [sum(sh.widths[:half])] + [None] * (half - 1) + [sum(sh.widths[half:])]
    giving, receiving = parties.giving, parties.receiver(commune.code)
    rows = []
    for left, right, style in (
        (SIGN_GIVE, SIGN_RECEIVE, st.sign),
        (giving[1], receiving[1], st.sign),  # positions (empty: written by hand)
        (SIGN_NOTE, SIGN_NOTE, st.sign_note),
    ):
        if not (left or right):
            continue
        rows.append(
            sh.row(
                [text_cell(sh.ws, left or None, style)]
                + [None] * (half - 1)
                + [text_cell(sh.ws, right or None, style)],
                halves,
            )
        )
    sh.spacer(SIGN_SPACE_POINTS)  # room to sign and stamp
    rows.append(
        sh.row(
            [text_cell(sh.ws, giving[0] or None, st.sign)]
            + [None] * (half - 1)
            + [text_cell(sh.ws, receiving[0] or None, st.sign)],
            halves,
        )
    )
    for r in rows:
        sh.ws.merged_cells.add(f"A{r}:{_col(half)}{r}")
        sh.ws.merged_cells.add(f"{_col(half + 1)}{r}:{_col(sh.width)}{r}")
    sh.pager.release()
    sh.finish()


def _commune_sheet(
    wb: Any,
    dossier_rows: q.CommuneRows,
    record_rows: q.CommuneRows,
    parties: RecordParties,
    commune: q.Commune,
    title: str,
    st: _Styles,
    used: set[str],
) -> None:
    sh = _RecordSheet(wb, title, st)
    limit = MAX_SHEET_ROWS - _FOOTER_ROWS
    title_rows = _commune_top(sh, commune, parties)
    part = 1

    def more() -> _RecordSheet:
        """The sheet is full (Excel's row limit): carry on in a continuation sheet with the same header."""
        nonlocal part
        part += 1
        name = sheet_title(f"{commune.name or 'Chưa rõ xã'} ({part})", commune.code, used)
        sh.merged(f"(Danh sách tiếp tục ở trang tính “{name}”)", st.note)
        if part == 2:  # the first sheet (continuation sheets have theirs already)
            sh.ws.print_title_rows = title_rows
        sh.finish()
        nxt = _RecordSheet(wb, name, st)
        nxt.merged(f"{record_title(parties, commune.code)} (tiếp theo)", st.title)
        nxt.merged(
            f"Số: {unit_record_number(parties, commune.code)}; bên nhận: {_receiving(commune)}", st.label
        )
        n = nxt.row(text_cell(nxt.ws, h, st.header) for h in _COMMUNE_VI)
        nxt.pager.title = _header_points(nxt)
        nxt.ws.print_title_rows = f"{n}:{n}"
        return nxt

    def section(heading: str, lines: Iterable[tuple[list[Any], list[str | None]]]) -> None:
        nonlocal sh
        if sh.row_no >= limit:
            sh = more()
        sh.merged(heading, st.section)
        data = sh.data
        for values, styles in lines:
            if sh.row_no >= limit:
                sh = more()
                data = sh.data
            data(values, styles)

    tally = _Tally()
    if commune.dossiers:
        section(SECTION_DOSSIERS, _dossier_lines(dossier_rows.rows(commune.code), st, tally))
    if commune.records:
        section(SECTION_RECORDS, _record_lines(record_rows.rows(commune.code), st, tally))
    _commune_bottom(sh, tally, commune, parties)
    if part == 1:
        sh.ws.print_title_rows = title_rows


def _guide_sheet(wb: Any, st: _Styles) -> None:
    """The English guide to the handover records (the signed documents themselves are Vietnamese only)."""
    sh = _Sheet(wb, GUIDE_SHEET, [34, 40, 70], st, landscape=False)
    sh.merged("Guide to the handover records (BIÊN BẢN BÀN GIAO)", st.title)
    sh.merged(
        "Each sheet named after a receiving new commune and its code, or after a provincial department and its "
        "new province's code, is one printable handover record, in Vietnamese only, to be signed and stamped by "
        "both sides: the giving side (the former district) and the receiving side (the new commune, or the "
        "department that handles the procedures the routing table sends to the province: those dossiers are on "
        "the department's record, not on the commune's). The pages are cut by the tool: the totals and the "
        "signature block always print together on the record's last page, with room to sign; each record "
        "numbers its own pages.",
    )
    sh.merged(
        "Each record is also written as a file of its own, to print and sign, in the folder <batch>-bien-ban/ "
        "beside this workbook: <commune code>-<name>.xlsx for a commune, <province code>-<department>.xlsx for a "
        "department (ASCII names). The summary sheet (Tổng hợp) lists every receiver with its counts, record "
        "number and file. A file someone edited is never written over: the new one is named '<name> (2).xlsx'.",
    )
    sh.blank()
    sh.headers(["Trên biên bản", "In English", "Meaning"], ["Vietnamese", "English", ""])
    for vi, en, meaning in (
        (
            "Số: …/BB-BGHS",
            "Record number",
            "The batch id and the receiving commune's code (a department: province code and its name in ASCII).",
        ),
        (
            SUPPLEMENT_TITLE,
            "Supplementary handover record",
            "A later batch of the same sources (a decisions round) lists only the dossiers it newly hands over; "
            "to a commune that signed an earlier record it issues a supplement, numbered after the first one "
            "(…/BB-BGHS-BS1, -BS2, …). Sheet Tổng hợp lists every round.",
        ),
        ("Lào Cai, ngày … tháng … năm …", "Place and date", "Date the batch ran, in Vietnam's time (UTC+7)."),
        (
            "BÊN GIAO / BÊN NHẬN",
            "Giving side / receiving side",
            "Former district(s) / new commune or provincial department.",
        ),
        (
            "Đại diện: Ông/Bà …, Chức vụ: …",
            "Representative, position",
            "From [report.parties] of the batch file; a dotted blank is filled in by hand.",
        ),
        ("I. HỒ SƠ THỦ TỤC HÀNH CHÍNH ĐANG GIẢI QUYẾT", "Section I", "Pending dossiers handed over."),
        ("II. HỒ SƠ, SỔ SÁCH ĐĂNG KÝ", "Section II", "Civil-status and business records handed over."),
        *((vi, en, "Column of the list.") for vi, en in zip(_COMMUNE_VI, _COMMUNE_EN, strict=True)),
        (
            "Cộng",
            "Totals",
            "Dossiers by due state, by status and by fee (paid and the sum paid, unpaid and the sum due, free, "
            "no fee given); records by status.",
        ),
        (
            "Đã nộp … đ / Chưa ghi nhận nộp … đ / Miễn phí",
            "Paid / unpaid / free",
            "Fee state of the dossier: paid when an amount paid, a payment date or a receipt number is recorded "
            "(with the date, channel and receipt); unpaid when an amount is due and no payment is recorded; free "
            "when the amount due is 0; blank when the source gives no fee.",
        ),
        (
            "Quá hạn / Sắp đến hạn / Trong hạn",
            "Overdue / due soon / on time",
            "Due state on the handover date.",
        ),
        ("ĐẠI DIỆN BÊN GIAO / BÊN NHẬN", "Signatures", "Signed, name written, stamped by each side."),
    ):
        sh.data([vi, en, meaning])


def _col(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i)


REVIEW_GUIDE = (
    "Hướng dẫn: mỗi dòng dưới đây là một hồ sơ hoặc bản ghi chưa xác định được xã mới tiếp nhận (xã cũ bị chia "
    f"tách, tên xã không rõ ràng hoặc không tìm thấy xã cũ). Ở cột “{DECISION_HEADER}” (cột L, nền vàng), chọn xã "
    "mới trong danh sách thả xuống: các xã ứng viên theo bảng sắp xếp chính thức, hoặc các xã mới của tỉnh khi "
    "không tìm thấy xã cũ.",
    "Chỉ các dòng đã có quyết định được đọc; dòng để trống vẫn chờ xem xét ở đợt sau. Không xóa, sắp xếp hay lọc "
    "bỏ dòng, không sửa các dòng tiêu đề và các cột Nguồn, Mã hồ sơ / khóa.",
    "Lưu tệp (.xlsx) rồi chạy: handover review import <tệp>.xlsx --db <URL> --out decisions.csv; sau đó ghi "
    '[mapping] decisions = ["decisions.csv"] và chạy đợt tiếp theo với mã đợt mới.',
    "Guide (English): pick the receiving new commune from the drop-down in the yellow decision column; only decided "
    "rows are read; keep rows and headers as they are; then run handover review import WORKBOOK.xlsx --db URL.",
)
CHOICES_SHEET = (
    "Danh sách chọn"  # hidden: the drop-down lists of the review sheet, one column per distinct list
)


def choice_text(ref: Any, code: str) -> str:
    """A drop-down entry of the review sheet: ``"02905 - Xã Bảo Thắng"`` (the code alone for an unknown code)."""
    name = ref.new_communes.get(code, ("", "", ""))[1]
    return f"{code} - {name}" if name else code


def _review_sheet(wb: Any, conn: Connection, batch_id: str, st: _Styles) -> None:
    """The review rows, each with the new communes a decision may name as a drop-down in its decision cell
    (:func:`handover.units.decisions.allowed_communes`, the check ``handover review import`` applies): the lists
    are columns of the hidden sheet :data:`CHOICES_SHEET` (a list of a province's communes is longer than the 255
    characters Excel allows inline). Rows keep the ledger's order: no filter, no sort."""
    from handover.units.decisions import ReviewRow, allowed_communes, candidate_codes, load_reference

    widths = [6, 14, 26, 8, 18, 26, 18, 30, 26, 40, 30, 30]
    top = 2 + len(REVIEW_GUIDE)  # title lines above the 2 header rows
    sh = _Sheet(wb, REVIEW_SHEET, widths, st, freeze=f"D{top + 3}")  # headers and source, key stay in view
    sh.merged("HỒ SƠ CẦN XEM XÉT: CHƯA XÁC ĐỊNH ĐƯỢC XÃ MỚI TIẾP NHẬN", st.title)
    sh.merged(
        "Rows held for review: the receiving new commune could not be decided automatically", st.subtitle
    )
    for line in REVIEW_GUIDE:
        sh.merged(line, st.note)
    header = sh.headers(
        [
            "STT",
            "Nguồn",
            "Mã hồ sơ / khóa",
            "Dòng",
            "Huyện cũ",
            "Xã cũ",
            "Thôn, tổ dân phố",
            "Lý do",
            "Tình trạng đơn vị",
            "Ứng viên (mã - tên xã mới)",
            "Gợi ý",
            DECISION_HEADER,
        ],
        [
            "No.",
            "source_system",
            "dossier_code",
            "Source row",
            "Old district",
            "Old commune",
            "Village",
            "Reason",
            "Unit status",
            "Candidates (code - name)",
            "Suggestions",
            "new_commune_code",
        ],
    )
    ref: Any = None
    lists: dict[tuple[str, ...], list[int]] = {}  # drop-down entries → the sheet rows offering them
    offered: dict[tuple[Any, ...], tuple[tuple[str, ...], str | None]] = {}
    for n, row in enumerate(q.iter_review(conn, batch_id), 1):
        if ref is None:
            ref = load_reference()
        status = row["unit_status"]
        review = ReviewRow(
            batch_id,
            row["source_id"],
            row["source_row"],
            row["entity"],
            row["natural_key"] or "",
            status,
            row["old_province_code"],
            candidate_codes(row["candidates_json"]),
        )
        ident = (review.candidates, None if review.candidates else review.old_province_code)
        if ident not in offered:  # rows of one province, or of one split, share their list
            offered[ident] = _offer(ref, review, allowed_communes(review, ref))
        entries, note = offered[ident]
        candidates = note or "\n".join(row["candidates"])
        if entries:
            lists.setdefault(entries, []).append(sh.row_no + 1)
        sh.data(
            [
                n,
                row["source_id"],
                row["natural_key"],
                row["source_row"],
                _code_name(row["old_district_code"], row["old_district_name"]),
                _code_name(row["old_commune_code"], row["old_commune_name"]),
                row["village"],
                row["reason"],
                UNIT_STATUS_VI.get(status or "", status),
                candidates,
                "\n".join(row["suggestions"]),
                None,
            ],
            [None] * 11 + [st.decision],
        )
    if lists:
        _choice_lists(wb, sh, lists)
    sh.ws.print_title_rows = f"{header - 1}:{header}"


def _offer(ref: Any, review: Any, allowed: list[str]) -> tuple[tuple[str, ...], str | None]:
    """The drop-down entries of ``allowed`` and, for a row without candidates, the text of its candidates cell."""
    entries = tuple(choice_text(ref, code) for code in allowed)
    if review.candidates or not allowed:
        return entries, None
    provinces = {ref.new_provinces.get(ref.new_communes[c][0], "") for c in allowed if c in ref.new_communes}
    names = ", ".join(sorted(provinces))
    return entries, f"Xã mới của {names} ({len(allowed)} xã): chọn trong danh sách ở cột quyết định"


def _choice_lists(wb: Any, sh: _Sheet, lists: dict[tuple[str, ...], list[int]]) -> None:
    """Each distinct list as a column of the hidden sheet :data:`CHOICES_SHEET`, and a list validation of the
    decision cells (column L) of the rows offering it."""
    from openpyxl.worksheet.cell_range import MultiCellRange
    from openpyxl.worksheet.datavalidation import DataValidation

    columns = list(lists)
    helper = wb.create_sheet(CHOICES_SHEET)
    helper.sheet_state = "hidden"
    for i in range(max(len(c) for c in columns)):
        helper.append([c[i] if i < len(c) else None for c in columns])
    for number, (entries, rows) in enumerate(lists.items(), 1):
        letter = _col(number)
        dv = DataValidation(
            type="list",
            formula1=f"'{CHOICES_SHEET}'!${letter}$1:${letter}${len(entries)}",
            allow_blank=True,
            showErrorMessage=True,
            showInputMessage=True,
            promptTitle="Chọn xã mới",
            prompt="Chọn xã mới tiếp nhận trong danh sách (để trống nếu chưa quyết định).",
            errorTitle="Xã mới không hợp lệ",
            error="Chỉ chọn một xã trong danh sách của dòng này. / Pick a commune from this row's list.",
        )
        runs: list[str] = []
        for _, group in groupby(enumerate(rows), lambda item: item[1] - item[0]):
            span = [r for _, r in group]
            runs.append(f"L{span[0]}" if len(span) == 1 else f"L{span[0]}:L{span[-1]}")
        dv.sqref = MultiCellRange(" ".join(runs))  # at once: adding range by range is quadratic
        sh.ws.data_validations.append(dv)


def _quarantine_sheet(wb: Any, conn: Connection, batch_id: str, st: _Styles) -> None:
    sh = _Sheet(wb, QUARANTINE_SHEET, [6, 14, 8, 26, 20, 24, 50, 50], st, freeze="A5")  # 2 title, 2 header
    sh.merged("HỒ SƠ BỊ CÁCH LY: CÓ LỖI DỮ LIỆU, CHƯA CHUYỂN", st.title)
    sh.merged("Quarantined rows: an error finding kept them out of the target", st.subtitle)
    header = sh.headers(
        ["STT", "Nguồn", "Dòng", "Mã hồ sơ / khóa", "Xã cũ", "Kiểm tra", "Lý do", "Lý do (tiếng Anh)"],
        [
            "No.",
            "Source",
            "Source row",
            "Key",
            "Old commune",
            "Checks",
            "Reasons (Vietnamese)",
            "Reasons (English)",
        ],
    )
    for n, held in enumerate(q.iter_quarantined(conn, batch_id), 1):
        if held.findings:
            checks = "\n".join(dict.fromkeys(f["check_name"] for f in held.findings))
            vi = "\n".join(_finding_line(f, "message_vi") for f in held.findings)
            en = "\n".join(_finding_line(f, "message_en") for f in held.findings)
        else:
            checks, vi, en = None, held.reason, None
        sh.data([n, held.source_id, held.source_row, held.natural_key, held.old_commune_name, checks, vi, en])
    sh.ws.print_title_rows = f"{header - 1}:{header}"


def _finding_line(f: dict[str, Any], key: str) -> str:
    field = f" [{f['field']}]" if f.get("field") else ""
    level = "Lỗi" if f.get("severity") == "error" else "Cảnh báo"
    if key == "message_en":
        level = "Error" if f.get("severity") == "error" else "Warning"
    return f"{level}{field}: {f.get(key) or ''}"


def _conflict_sheet(wb: Any, conn: Connection, batch_id: str, st: _Styles) -> None:
    rows = q.iter_conflicts(conn, batch_id)
    first = next(rows, None)
    if first is None:
        return
    sh = _Sheet(wb, CONFLICT_SHEET, [6, 14, 8, 26, 16, 50, 50], st)
    sh.merged("XUNG ĐỘT NỘI DUNG: CÙNG MÃ HỒ SƠ, NỘI DUNG KHÁC", st.title)
    sh.merged("Content conflicts: the same key arrived with different content", st.subtitle)
    header = sh.headers(
        ["STT", "Nguồn", "Dòng", "Mã hồ sơ / khóa", "Trường", "Nội dung", "Nội dung (tiếng Anh)"],
        ["No.", "Source", "Source row", "Key", "Field", "Message (Vietnamese)", "Message (English)"],
    )
    for n, row in enumerate(chain([first], rows), 1):
        sh.data(
            [
                n,
                row["source_id"],
                row["source_row"],
                row["natural_key"],
                row["field"],
                row["message_vi"],
                row["message_en"],
            ]
        )
    sh.ws.print_title_rows = f"{header - 1}:{header}"


def _findings_sheet(wb: Any, conn: Connection, info: q.BatchInfo, st: _Styles, shared: q.Shared) -> None:
    sh = _Sheet(wb, FINDINGS_SHEET, [28, 12, 12, 12, 50, 50], st)
    sh.merged("KẾT QUẢ KIỂM TRA DỮ LIỆU", st.title)
    sh.merged("Data-quality findings per check", st.subtitle)
    sh.headers(
        ["Kiểm tra", "Mức độ", "Số phát hiện", "Số dòng", "Ví dụ", "Ví dụ (tiếng Anh)"],
        ["Check", "Severity", "Findings", "Rows", "Example (Vietnamese)", "Example (English)"],
    )
    for f in shared.get(conn, q.findings_per_check, info.batch_id):
        level = "Lỗi (error)" if f["severity"] == "error" else "Cảnh báo (warning)"
        sh.data([f["check"], level, f["count"], f["rows"], f["example_vi"], f["example_en"]])
    gx = info.summary.get("gx")
    if isinstance(gx, list) and gx:
        sh.blank()
        sh.merged("Kết quả great-expectations (GX results)", st.label)
        sh.headers(
            ["Bộ kiểm tra", "Kỳ vọng", "Cột", "Đạt", "Số sai", "Số phần tử"],
            ["Suite", "Expectation", "Column", "Success", "Unexpected", "Elements"],
        )
        for g in gx:
            if not isinstance(g, dict):
                continue
            ok = g.get("success")
            sh.data(
                [
                    g.get("suite"),
                    g.get("expectation"),
                    g.get("column"),
                    "✔" if ok else "✘" if ok is not None else None,
                    g.get("unexpected_count"),
                    g.get("element_count"),
                ]
            )
    rules = info.summary.get("rules")
    if isinstance(rules, list) and rules:
        sh.blank()
        sh.merged("Quy tắc chia tách đã áp dụng (split rules applied)", st.label)
        sh.headers(
            ["Mã xã cũ", "Từ khóa", "Mã xã mới", "Số dòng khớp"],
            ["Old commune code", "Keyword", "New commune code", "Matches"],
        )
        for r in rules:
            if isinstance(r, dict):
                sh.data(
                    [r.get("old_commune_code"), r.get("keyword"), r.get("new_commune_code"), r.get("matches")]
                )


def _non_data_sheet(wb: Any, conn: Connection, info: q.BatchInfo, st: _Styles, shared: q.Shared) -> None:
    sh = _Sheet(wb, NON_DATA_SHEET, [22, 12, 14, 16, 60, 14, 10], st)
    sh.merged("CÁC DÒNG CỦA TỆP NGUỒN: DỮ LIỆU VÀ KHÔNG PHẢI DỮ LIỆU", st.title)
    sh.merged("Every physical row of each source: data rows and non-data rows (with the rule)", st.subtitle)
    sh.blank()
    sh.headers(
        [
            "Nguồn",
            "Số dòng đọc",
            "Dòng dữ liệu",
            "Không phải dữ liệu",
            "Theo quy tắc",
            "Tổng cộng ghi",
            "Cân đối",
        ],
        ["Source", "Rows read", "Data rows", "Non-data rows", "By rule", "Total line states", "Balanced"],
    )
    ledger = shared.get(conn, q.ledger_tally, info.batch_id).sources
    listed: list[tuple[str, Any]] = []
    for source in q.sources(conn, info.batch_id):
        account = q.row_account(source)
        if account is None:
            sh.data([source["source_id"], None, None, None, "(không ghi nhận / not recorded)", None, None])
            continue
        ok = account.balances(ledger.get(source["source_id"], Counts()))
        rules = ", ".join(f"{RULE_VI.get(rule, rule)} ({rule}) {n}" for rule, n in account.non_data.items())
        sh.data(
            [
                source["source_id"],
                account.physical_rows,
                account.data_rows,
                account.non_data_rows,
                rules,
                account.total_stated,
                "✔" if ok else "✘",
            ]
        )
        listed += [(source["source_id"], line) for line in account.lines]
    sh.blank()
    sh.merged(
        "Số dòng đọc = Dòng dữ liệu + Dòng không phải dữ liệu; Dòng dữ liệu = Tổng số trích xuất (sổ cái). / Rows read "
        "= data rows + non-data rows; data rows = extracted (ledger). Tối đa 50 dòng mỗi quy tắc được liệt kê, mọi "
        "dòng đều được đếm. / At most 50 rows a rule are listed; every row is counted.",
        st.note,
    )
    sh.blank()
    header = sh.headers(
        ["Nguồn", "Dòng", "Quy tắc", "Quy tắc (diễn giải)", "Nội dung"],
        ["Source", "Row", "Rule", "Rule (Vietnamese)", "Text (ID and phone numbers masked)"],
    )
    for source_id, line in listed:
        sh.data([source_id, line.row, line.rule, RULE_VI.get(line.rule, line.rule), line.text])
    sh.ws.print_title_rows = f"{header - 1}:{header}"


# ---------------------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------------------


def write_workbook(
    engine: Engine, batch_id: str, path: Path, shared: q.Shared | None = None, parties: Any = None
) -> Path:
    """Write the reconciliation workbook of ``batch_id`` to ``path`` from the target database.

    ``shared``: the batch's aggregates, when the HTML report
    reads them too (:func:`handover.reports.write_reports`). ``parties``: the ``[report.parties]`` settings
    (:class:`handover.config.PartiesConfig`) printed on the handover records; ``None``: blanks to fill by hand.
    """
    from openpyxl import Workbook

    shared = q.Shared() if shared is None else shared
    path = Path(path)
    wb = Workbook(write_only=True)
    st = _Styles(wb)
    try:
        with q.guarded("the batch"), engine.connect() as conn:
            info = q.batch_info(conn, batch_id)
            rounds = shared.get(conn, q.later_rounds, batch_id)
            signers = with_rounds(record_parties(info, parties), rounds)
            used = {
                s.casefold()
                for s in (
                    SUMMARY_SHEET,
                    REVIEW_SHEET,
                    QUARANTINE_SHEET,
                    CONFLICT_SHEET,
                    FINDINGS_SHEET,
                    NON_DATA_SHEET,
                    GUIDE_SHEET,
                )
            }
            _summary_sheet(wb, conn, info, st, shared, rounds, signers)
            _commune_sheets(wb, engine, conn, signers, st, used)
            _department_sheets(wb, conn, signers, st, used)
            _review_sheet(wb, conn, batch_id, st)
            _quarantine_sheet(wb, conn, batch_id, st)
            _conflict_sheet(wb, conn, batch_id, st)
            _findings_sheet(wb, conn, info, st, shared)
            _non_data_sheet(wb, conn, info, st, shared)
            _guide_sheet(wb, st)
            for sheet in st.sheets:
                sheet.close()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _save(wb, path)
        except OSError as exc:
            raise ReportError(
                f"Cannot write the workbook: {exc.strerror or exc}",
                file=str(path),
                hint="Choose a folder you can write to (--out), and close the file if it is open in Excel.",
            ) from exc
    except BaseException:
        _discard(wb)
        raise
    return path


def _commune_sheets(
    wb: Any, engine: Engine, conn: Connection, parties: RecordParties, st: _Styles, used: set[str]
) -> None:
    """The commune sheets (handover records), rendered in this process: what each commune receives, without the
    dossiers routed to a provincial department (:func:`_department_sheets`)."""
    batch_id, new_only = parties.batch_id, parties.new_only
    communes = q.receiving_communes(conn, batch_id, new_only=new_only)
    with q.commune_streams(engine, conn, batch_id, communes, new_only=new_only) as (
        dossier_rows,
        record_rows,
    ):
        for commune in communes:
            title = sheet_title(commune.name, commune.code, used)
            _commune_sheet(wb, dossier_rows, record_rows, parties, commune, title, st, used)


def _department_sheets(
    wb: Any, conn: Connection, parties: RecordParties, st: _Styles, used: set[str]
) -> None:
    """A handover record sheet for each provincial department receiving routed dossiers (named from the
    department's name and its new province's code), rendered in this process."""
    departments = q.receiving_departments(conn, parties.batch_id, new_only=parties.new_only)
    rows = q.DepartmentRows(conn, parties.batch_id, departments, new_only=parties.new_only)
    for dept in departments:
        title = sheet_title(dept.agency, dept.province_code, used)
        _commune_sheet(wb, rows, rows, parties, dept, title, st, used)  # type: ignore[arg-type]


def _discard(wb: Any) -> None:
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


def _save(wb: Any, path: Path) -> None:
    """The workbook saved at ``path`` with its data rows (:func:`handover.reports.rowxml.save_workbook`),
    deflated at :data:`ZIP_LEVEL`."""
    if not wb.worksheets:  # pragma: no cover - as Workbook.save does
        wb.create_sheet()
    wb.properties.modified = datetime.now(tz=UTC).replace(tzinfo=None)
    save_workbook(wb, path, ZIP_LEVEL)
