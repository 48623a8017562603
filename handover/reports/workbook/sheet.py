"""Sheet primitives of the workbook: sheet names, the cell styles registered in a fixed order (:class:`Styles`),
a write-only sheet with styled rows (:class:`Sheet`), and the printed handover record's sheet (:class:`RecordSheet`)
cut into pages by :class:`Pager`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from handover.reports.cells import safe_text, text_cell, value_cell
from handover.reports.rowxml import KINDS, RowSink, row_height, style_attr, text_lines

PAPER_A4 = 9  # paperSize code of A4 in SpreadsheetML
# a printed page of a handover record, in points of the sheet before the fit-to-width scaling: A4 landscape
# less the margins is 509 pt high; the record's columns print at about 78% in Excel and 61% in LibreOffice, so
# a page holds 650 to 830 points of rows. Pages are cut by manual breaks every PAGE_POINTS at most, so that
# both programs break where the record does and the record knows its page count.
PAGE_POINTS = 600.0
MAX_PAGE_BREAKS = 1000  # Excel keeps at most 1,026 manual page breaks a sheet: beyond, its own breaks

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


class Styles:
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
        self.sheets: list[Sheet] = []  # the sheet being written, to flush before saving


class Sheet:
    """A write-only sheet with a row counter, merged text rows and styled data rows."""

    def __init__(
        self,
        wb: Any,
        title: str,
        widths: Sequence[float],
        styles: Styles,
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
        self.ws.merged_cells.add(f"C{n}:{column_letter(last)}{n}")
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


def fmt_dt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return "" if value is None else str(value)


def code_name(code: str | None, name: str | None) -> str:
    return " - ".join(v for v in (code, name) if v)


def column_letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i)


class Pager:
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


class RecordSheet(Sheet):
    """A commune's handover record: a :class:`Sheet` printed as one document, cut into pages by
    :class:`Pager` (manual breaks), its pages numbered from 1 in its own footer."""

    def __init__(self, wb: Any, title: str, widths: Sequence[float], styles: Styles) -> None:
        super().__init__(wb, title, widths, styles)
        self.pager = Pager()
        ws = self.ws
        ws.oddHeader.right.text = None  # nothing printed above the record's own heading
        ws.page_setup.firstPageNumber = 1  # each record numbers its pages from 1
        ws.page_setup.useFirstPageNumber = True

    def row(self, cells: Iterable[Any], widths: Sequence[float | None] | None = None) -> int:
        """:meth:`Sheet.row` with an explicit height (every row: the pagination counts on it)."""
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
        from openpyxl.worksheet.pagebreak import Break, RowBreak

        if self.pager.breaks:  # the list built once (RowBreak.append copies it at every call)
            self.ws.row_breaks = RowBreak(brk=[Break(id=row) for row in self.pager.breaks])
        total = str(self.pager.pages) if self.pager.exact else "&N"
        self.ws.oddFooter.center.text = f"Trang &P / {total}"
