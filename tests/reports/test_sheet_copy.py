"""Sheets copied out of a saved workbook into a workbook of their own (:class:`SavedBook`), read back with
openpyxl: the cells, their styles and number formats, the print titles under the new names and positions."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill

from handover.reports.sheet_copy import SavedBook, SheetCopyError


def _source(path: Path) -> Path:
    wb = Workbook()
    wb.active.title = "Tổng hợp"
    wb.active["A1"] = "summary"
    first = wb.create_sheet("Bà Rịa's 01")
    first.append(["STT", "Tên", "Ngày"])
    first.append([1, "Nguyễn Văn An", date(2025, 7, 1)])
    first["A1"].font = Font(bold=True)
    first["B1"].fill = PatternFill("solid", fgColor="D9E1F2")
    first["C2"].number_format = "dd/mm/yyyy"
    first.print_title_rows = "1:1"
    second = wb.create_sheet("Tiếp")
    second.append(["a & <b>"])
    second.print_title_rows = "2:3"
    wb.create_sheet("Ghi chú")["A1"].comment = Comment("xem lại", "cán bộ")
    wb.save(path)
    return path


def _cells(ws) -> list[list[tuple]]:
    return [[(c.value, c.number_format, c.font.b, c.fill.fgColor.rgb) for c in row] for row in ws.iter_rows()]


def test_copied_sheets_keep_their_cells_styles_and_print_titles(tmp_path: Path) -> None:
    src = _source(tmp_path / "src.xlsx")
    out = tmp_path / "out.xlsx"
    with SavedBook(src) as book:
        book.copy([("Bà Rịa's 01", "Mới's 01"), ("Tiếp", "Tiếp (2)")], out)
    copied, original = load_workbook(out), load_workbook(src)
    assert copied.sheetnames == ["Mới's 01", "Tiếp (2)"]
    assert copied["Mới's 01"].print_title_rows == "$1:$1"
    assert copied["Tiếp (2)"].print_title_rows == "$2:$3"
    assert _cells(copied["Mới's 01"]) == _cells(original["Bà Rịa's 01"])
    assert _cells(copied["Tiếp (2)"]) == _cells(original["Tiếp"])
    assert copied["Mới's 01"]["A1"].font.b and copied["Mới's 01"]["C2"].number_format == "dd/mm/yyyy"
    with zipfile.ZipFile(out) as z, zipfile.ZipFile(src) as s:
        assert z.testzip() is None
        assert z.read("xl/styles.xml") == s.read("xl/styles.xml")  # the style indexes keep their meaning


def test_a_sheet_that_cannot_be_copied_alone_is_refused(tmp_path: Path) -> None:
    src = _source(tmp_path / "src.xlsx")
    out = tmp_path / "out.xlsx"
    with SavedBook(src) as book:
        with pytest.raises(SheetCopyError, match="relationships"):  # its comments are parts of their own
            book.copy([("Ghi chú", "Ghi chú")], out)
        with pytest.raises(SheetCopyError, match="no sheet"):
            book.copy([("Không có", "x")], out)
    assert not out.exists()
