"""Safe cell writing: formula-like text is stored as text, read back unchanged and never as a formula."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from handover.reports.cells import needs_guard, safe_text, set_text, text_cell, value_cell

DANGEROUS = [
    '=HYPERLINK("http://evil.example/x","Bấm vào đây")',
    "+84912345678",
    "-1+2",
    "@SUM(1+1)",
    "\t=1+1",
    "=cmd|' /C calc'!A0",
]


def _roundtrip(tmp_path: Path, values: list) -> list:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("t")
    ws.append([value_cell(ws, v) for v in values])
    path = tmp_path / "t.xlsx"
    wb.save(path)
    return next(load_workbook(path)["t"].iter_rows(min_row=1, max_row=1))


def test_formula_like_text_is_a_string_cell(tmp_path: Path) -> None:
    cells = _roundtrip(tmp_path, DANGEROUS)
    for cell, original in zip(cells, DANGEROUS, strict=True):
        assert cell.value == original
        assert cell.data_type == "s"
        assert cell.quotePrefix is True


def test_xml_has_no_formula_element(tmp_path: Path) -> None:
    import zipfile

    _roundtrip(tmp_path, DANGEROUS)
    with zipfile.ZipFile(tmp_path / "t.xlsx") as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml
    assert xml.count('t="inlineStr"') == len(DANGEROUS)


def test_ordinary_values_keep_their_type(tmp_path: Path) -> None:
    cells = _roundtrip(tmp_path, ["Xã Sơn Hà", "02938", 42, 1.5, date(2025, 7, 1), None])
    assert [c.data_type for c in cells[:4]] == ["s", "s", "n", "n"]
    assert cells[1].value == "02938"  # codes stay zero-padded text
    assert cells[0].quotePrefix is False
    assert cells[4].value.date() == date(2025, 7, 1)
    assert cells[4].number_format == "dd/mm/yyyy"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\x00b\x07c\x1fd", "abcd"),
        ("x\ufffey\uffff", "xy"),
        ("Ho\u0300a", "Hòa"),  # NFD → NFC
        ("dòng 1\r\ndòng 2\rdòng 3", "dòng 1\ndòng 2\ndòng 3"),
        ("", None),
        (None, None),
        (12, "12"),
    ],
)
def test_safe_text(raw: object, clean: str | None) -> None:
    assert safe_text(raw) == clean


def test_needs_guard() -> None:
    assert all(needs_guard(v) for v in ["=1", "+1", "-1", "@a", "\t1", "\r1"])
    assert not any(needs_guard(v) for v in ["1=1", "Xã", " =1", "'=1"])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=8))
def test_any_text_comes_back_as_text(tmp_path_factory: pytest.TempPathFactory, values: list[str]) -> None:
    folder = tmp_path_factory.mktemp("h")
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("t")
    ws.append([text_cell(ws, v) for v in values])
    wb.save(folder / "t.xlsx")
    row = next(load_workbook(folder / "t.xlsx")["t"].iter_rows(min_row=1, max_row=1))
    by_column = {c.column: c for c in row}
    for i, value in enumerate(values, 1):
        expected = safe_text(value)
        cell = by_column.get(i)
        if expected is None:
            assert cell is None or cell.value is None
        else:
            assert cell.value == expected
            assert cell.data_type == "s"


def test_set_text_on_an_ordinary_worksheet(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    for i, value in enumerate(DANGEROUS, 1):
        set_text(ws.cell(row=1, column=i), value)
    set_text(ws.cell(row=2, column=1), "Xã Sơn Hà")
    wb.save(tmp_path / "n.xlsx")
    back = load_workbook(tmp_path / "n.xlsx").active
    assert [c.value for c in back[1]] == DANGEROUS
    assert {c.data_type for c in back[1]} == {"s"}
    assert back["A2"].value == "Xã Sơn Hà" and back["A2"].quotePrefix is False
