"""The rendered data rows (rowxml) read back, through openpyxl, as the cells openpyxl itself writes for the same
values (value, type, style, quote prefix, row height); the single-pass queries return what the per-commune
queries return."""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, Side

from handover.reports import celltext, rowxml
from handover.reports.cells import value_cell
from handover.reports.queries.held import iter_quarantined
from handover.reports.queries.loaded import receiving_communes
from handover.reports.queries.streams import (
    DOSSIER_FIELDS,
    RECORD_FIELDS,
    CommuneRows,
    iter_dossiers,
    iter_records,
)
from handover.reports.rowxml import RowSink, StyleMismatch, row_height, save_workbook, text_lines
from tests.reports.factory import BATCH, C1, C2, EXPECTED_COMMUNES, add_bulk_dossiers, build_target

WIDTHS = [6, 12, 20, 10]
TEXT_STYLE, NUMBER_STYLE, BIG_STYLE = "t_text", "t_number", "t_big"

VALUES: list[Any] = [
    '=HYPERLINK("http://evil.example/x","Bấm")',
    "+84912345678",
    "-1",
    "@SUM(1+1)",
    "\t=1+1",
    "  leading and trailing  ",
    "Nguye\u0302\u0303n",  # NFD: written as NFC
    "a\x00b\x0bc\ud800d\ufffe",  # XML-illegal characters dropped
    "line one\r\nline two\rline three",
    "tags <b> & 'quotes' \"double\"",
    "Thủ tục cấp giấy phép xây dựng nhà ở riêng lẻ tại nông thôn theo quy định",
    "Chữ Việt 😀 và ký tự ngoài BMP",
    "",
    None,
    0,
    -7,
    12345678901234567890,
    1.5,
    float("nan"),
    float("inf"),
    True,
    date(2025, 7, 1),
    datetime(2025, 6, 30, 17, 45),
    "02938",
]


def _workbook() -> Any:
    wb = Workbook(write_only=True)
    box = Border(left=Side(style="thin"), right=Side(style="thin"))
    wb.add_named_style(NamedStyle(name=TEXT_STYLE, border=box, alignment=Alignment(wrap_text=True)))
    wb.add_named_style(NamedStyle(name=NUMBER_STYLE, border=box, alignment=Alignment(horizontal="right")))
    wb.add_named_style(NamedStyle(name=BIG_STYLE, font=Font(size=22), alignment=Alignment(wrap_text=True)))
    return wb


def _rows(values: list[Any]) -> list[tuple[list[Any], list[str | None]]]:
    """The values four to a row, with a mix of explicit and default styles."""
    rows = []
    for i in range(0, len(values), len(WIDTHS)):
        chunk = values[i : i + len(WIDTHS)]
        styles = [BIG_STYLE if (i + j) % 5 == 0 else None for j in range(len(chunk))]
        rows.append((chunk, styles))
    return rows


def _reference(path: Path, rows: list[tuple[list[Any], list[str | None]]]) -> None:
    """The same rows the slow way: a value_cell per value, appended by openpyxl, height set per row."""
    wb = _workbook()
    ws = wb.create_sheet("t")
    for n, (values, styles) in enumerate(rows, 1):
        cells = [
            value_cell(
                ws,
                v,
                s or (NUMBER_STYLE if isinstance(v, int | float) and not isinstance(v, bool) else TEXT_STYLE),
            )
            for v, s in zip(values, styles, strict=True)
        ]
        lines = 1
        for cell, width in zip(cells, WIDTHS, strict=False):
            if isinstance(cell.value, str):
                per_line = max(1, int(width * 11 / (cell.font.sz or 11)))
                lines = max(lines, text_lines(cell.value, per_line))
        height = row_height(lines)
        if height:
            ws.row_dimensions[n].height = height
        ws.append(cells)
        if height:
            del ws.row_dimensions[n]
    wb.save(path)


def _fast(
    path: Path,
    rows: list[tuple[list[Any], list[str | None]]],
    openpyxl_first: bool = False,
    between: int | None = None,
) -> None:
    """The rows rendered by RowSink; ``openpyxl_first``: under an openpyxl row; ``between``: an openpyxl row
    (30 points high) after that many data rows."""
    wb = _workbook()
    ws = wb.create_sheet("t")
    sink = RowSink(ws, WIDTHS)
    n = 1
    if openpyxl_first:
        sink.append([value_cell(ws, "header", TEXT_STYLE)])
        n = 2
    for i, (values, styles) in enumerate(rows):
        if i == between:
            sink.append([value_cell(ws, "between", TEXT_STYLE)], 30)
            n += 1
        sink.data_row(n, values, styles, TEXT_STYLE, NUMBER_STYLE)
        n += 1
    sink.append([value_cell(ws, "after", TEXT_STYLE)])
    sink.close()
    save_workbook(wb, path)


def _read(path: Path, skip: tuple[int, ...] = ()) -> list[Any]:
    """Every row as openpyxl reads it back: height, and per cell value, type, quote prefix, number format and
    the style's font, border and alignment; rows numbered in ``skip`` left out (and the numbering closed up)."""
    ws = load_workbook(path)["t"]
    out = []
    for row in ws.iter_rows():
        number = row[0].row
        if number in skip:
            continue
        cells = [
            (
                c.column,
                c.value,
                c.data_type,
                c.quotePrefix,
                c.number_format,
                repr(c.font),
                repr(c.border),
                repr(c.alignment),
            )
            for c in row
            if c.value is not None or c.has_style
        ]
        out.append((ws.row_dimensions[number].height, cells))
    return out


def test_fast_rows_read_back_as_openpyxl_cells(tmp_path: Path) -> None:
    rows = _rows(VALUES)
    _reference(tmp_path / "ref.xlsx", rows)
    _fast(tmp_path / "fast.xlsx", rows)
    ref = _read(tmp_path / "ref.xlsx")
    fast = _read(tmp_path / "fast.xlsx")
    assert fast[-1][1][0][1] == "after"  # the openpyxl row after the rendered ones, numbered on
    assert fast[:-1] == ref


def test_repeated_and_unique_texts_read_back_as_openpyxl_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts a column remembers (values that repeat) and texts it stops remembering (values that do not) are
    written as the cells openpyxl writes."""
    monkeypatch.setattr(celltext, "REMEMBERED", 8)  # the columns fill, drop and give up remembering early
    unique = [f"Nguyễn Văn {n} & <{n}>" if n % 3 else f"={n}" for n in range(120)]
    rows = _rows(VALUES * 4 + unique + VALUES)
    _reference(tmp_path / "ref.xlsx", rows)
    _fast(tmp_path / "fast.xlsx", rows)
    assert _read(tmp_path / "fast.xlsx")[:-1] == _read(tmp_path / "ref.xlsx")


def test_openpyxl_rows_between_rendered_rows_are_numbered_on(tmp_path: Path) -> None:
    rows = _rows(VALUES)
    _reference(tmp_path / "ref.xlsx", rows)
    _fast(tmp_path / "fast.xlsx", rows, openpyxl_first=True, between=3)
    ws = load_workbook(tmp_path / "fast.xlsx")["t"]
    assert [ws.cell(row=n, column=1).value for n in (1, 5, len(rows) + 3)] == ["header", "between", "after"]
    assert ws.row_dimensions[5].height == 30
    assert ws.max_row == len(rows) + 3
    assert _read(tmp_path / "fast.xlsx", skip=(1, 5, len(rows) + 3)) == _read(tmp_path / "ref.xlsx")
    with zipfile.ZipFile(tmp_path / "fast.xlsx") as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "handover-rows" not in xml  # no placeholder left
    numbers = [int(n) for n in re.findall(r'<row r="(\d+)"', xml)]
    assert numbers == list(range(1, len(rows) + 4))


def test_fast_rows_read_back(tmp_path: Path) -> None:
    _fast(tmp_path / "fast.xlsx", _rows(VALUES), openpyxl_first=True)
    ws = load_workbook(tmp_path / "fast.xlsx")["t"]
    assert ws["A1"].value == "header"
    a2, b2 = ws["A2"], ws["B2"]
    assert a2.value == VALUES[0] and a2.data_type == "s" and a2.quotePrefix is True
    assert b2.value == "+84912345678" and b2.quotePrefix is True
    assert ws["B3"].value == "  leading and trailing  "
    assert ws["C3"].value == "Nguyễn"
    assert ws["D3"].value == "abcd"
    assert ws["A4"].value == "line one\nline two\nline three"
    assert ws["A4"].quotePrefix is False
    # C4: the long procedure name in the 22-point style, 10 characters a line (20 * 11 / 22): by hand
    # "Thủ tục | cấp giấy | phép xây | dựng nhà ở | riêng lẻ | tại nông | thôn theo | quy định" = 8 lines
    assert ws.row_dimensions[4].height == 8 * 15
    assert ws["A3"].value == "\t=1+1" and ws["A3"].quotePrefix is True
    assert ws["A5"].value is None and ws["B5"].value is None  # "" and None: empty cells
    assert ws["C5"].value == 0 and ws["D5"].value == -7
    assert ws["B6"].value == 1.5 and ws["C6"].value is None  # NaN: written empty, as openpyxl writes it
    assert ws["A7"].value == "True" and ws["A7"].data_type == "s"
    assert ws["B7"].value == datetime(2025, 7, 1) and ws["B7"].number_format == "dd/mm/yyyy"
    assert ws["C7"].value == datetime(2025, 6, 30, 17, 45) and ws["C7"].number_format == "dd/mm/yyyy"
    assert ws["D7"].value == "02938" and ws["D7"].data_type == "s"
    with zipfile.ZipFile(tmp_path / "fast.xlsx") as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=60), st.integers(), st.none()), min_size=1, max_size=12))
def test_fast_rows_match_openpyxl_for_any_text(
    tmp_path_factory: pytest.TempPathFactory, values: list
) -> None:
    folder = tmp_path_factory.mktemp("h")
    rows = _rows(values)
    _reference(folder / "ref.xlsx", rows)
    _fast(folder / "fast.xlsx", rows)
    assert _read(folder / "fast.xlsx")[:-1] == _read(folder / "ref.xlsx")


def test_memory_buffer_is_bounded(tmp_path: Path) -> None:
    wb = _workbook()
    ws = wb.create_sheet("t")
    sink = RowSink(ws, WIDTHS)
    for n in range(1, 1001):
        sink.data_row(n, [n, f"row {n}", None, date(2025, 7, 1)], None, TEXT_STYLE, NUMBER_STYLE)
        assert len(sink._buffer) < 200
    sink.close()
    save_workbook(wb, tmp_path / "m.xlsx")
    ws = load_workbook(tmp_path / "m.xlsx", read_only=True)["t"]
    assert sum(1 for _ in ws.iter_rows()) == 1000


# ---------------------------------------------------------------------------------------------------------
# single-pass queries
# ---------------------------------------------------------------------------------------------------------


def _per_commune(conn: Any, entity: str, code: str | None) -> list[tuple]:
    if entity == "dossier":
        return [(code, *(r[f] for f in DOSSIER_FIELDS)) for r in iter_dossiers(conn, BATCH, code)]
    return [(code, *(r[f] for f in RECORD_FIELDS)) for r in iter_records(conn, BATCH, code)]


@pytest.mark.parametrize("entity", ["dossier", "record"])
@pytest.mark.parametrize("reverse", [False, True])
def test_commune_rows_equal_the_per_commune_queries(engine, entity: str, reverse: bool) -> None:
    build_target(engine)
    add_bulk_dossiers(engine, BATCH, 30, commune=C2)
    with engine.connect() as conn:
        communes = receiving_communes(conn, BATCH)
        assert {c.code for c in communes} == set(EXPECTED_COMMUNES)
        order = list(reversed(communes)) if reverse else communes  # reversed: every commune falls back
        stream = CommuneRows(conn, BATCH, entity)
        got = {c.code: [tuple(r) for r in stream.rows(c.code)] for c in order}
        stream.close()
        want = {c.code: _per_commune(conn, entity, c.code) for c in communes}
    assert got == want
    count = {C1[0]: 3, C2[0]: 2 + 30} if entity == "dossier" else {C2[0]: 1, "03232": 2}
    assert {k: len(v) for k, v in got.items() if v} == count


def test_quarantined_rows_carry_their_findings(engine) -> None:
    build_target(engine)
    with engine.connect() as conn:
        held = list(iter_quarantined(conn, BATCH))
    got = [(h.source_id, h.source_row, h.natural_key, [f["check_name"] for f in h.findings]) for h in held]
    assert got == [
        ("bao_thang", 9, "000.00.53.H38-250608-0008", ["date_parse", "id_format"]),
        ("bao_thang", 10, "-1+2", ["dossier_code_unique"]),
        ("van_ban", 6, "birth/KS-2025-0103", ["date_parse"]),
    ]
    assert held[0].findings[1] == {
        "field": "applicant_id",
        "check_name": "id_format",
        "severity": "warning",
        "message_vi": "Số định danh không đúng định dạng",
        "message_en": "ID number has a wrong format",
    }
    assert held[2].reason == "Lỗi" and held[2].entity == "record"


def test_quarantined_row_without_findings_is_listed(engine) -> None:
    from sqlalchemy import delete

    from handover.target import schema

    build_target(engine)
    with engine.begin() as conn:
        conn.execute(delete(schema.findings).where(schema.findings.c.source_row == 10))
    with engine.connect() as conn:
        held = list(iter_quarantined(conn, BATCH))
    assert [(h.source_row, len(h.findings)) for h in held] == [(9, 2), (10, 0), (6, 1)]
    assert held[1].reason == "Lỗi dữ liệu"


def test_a_commune_beyond_the_sheet_row_limit_continues_on_more_sheets(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handover.reports import workbook
    from handover.reports.workbook import record_sheets

    build_target(engine)
    add_bulk_dossiers(engine, BATCH, 100, commune=C2)
    monkeypatch.setattr(record_sheets, "MAX_SHEET_ROWS", 60)  # instead of Excel's 1,048,576
    path = workbook.write_workbook(engine, BATCH, tmp_path / "w.xlsx")
    wb = load_workbook(path)
    parts = [n for n in wb.sheetnames if n.startswith("Xã Phong Hải")]
    assert parts[0] == "Xã Phong Hải 02935" and parts[1] == "Xã Phong Hải (2) 02935"
    numbered: list[int] = []
    for name in parts:
        ws = wb[name]
        assert ws.max_row <= 60
        assert ws.print_title_rows  # the column header repeats on every printed page
        assert any(c.value == "STT" for c in ws[ws.print_title_rows.split(":")[0].strip("$")])
        numbered += [r[0] for r in ws.iter_rows(values_only=True) if isinstance(r[0], int)]
    # 2 + 100 dossiers numbered 1..102, then 1 record: every loaded row exactly once, in order
    assert numbered == [*range(1, 103), 1]
    last = [c for r in wb[parts[-1]].iter_rows(values_only=True) for c in r if isinstance(c, str)]
    assert "ĐẠI DIỆN BÊN GIAO" in last and any(t.startswith("Cộng: 102 hồ sơ") for t in last)
    first = [c for r in wb[parts[0]].iter_rows(values_only=True) for c in r if isinstance(c, str)]
    assert "ĐẠI DIỆN BÊN GIAO" not in first
    assert any("tiếp tục ở trang tính “Xã Phong Hải (2) 02935”" in t for t in first)


def test_rows_rendered_with_other_style_indexes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe cells prove the style indexes: rows rendered with indexes other than the ones openpyxl writes
    for the same styles are not written (no workbook left, no rendered-row file either)."""
    monkeypatch.setattr(rowxml, "style_attr", lambda ws, name, kind: ' s="99"')
    wb = _workbook()
    ws = wb.create_sheet("t")
    sink = RowSink(ws, WIDTHS)
    sink.append(["top"])
    sink.data_row(2, ["a", 1, date(2025, 7, 1)], None, TEXT_STYLE, NUMBER_STYLE)
    sink.close()
    rows = [item.path for item in rowxml.fragments(wb).items.values()]
    assert rows and all(Path(p).exists() for p in rows)
    with pytest.raises(StyleMismatch):
        save_workbook(wb, tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()
    assert not any(Path(p).exists() for p in rows)


def test_the_report_workbook_holds_every_rendered_row_in_place(built) -> None:
    """Through the public report writer: no placeholder row is left in the saved workbook, every sheet's rows
    are numbered in increasing order, each number once, and each cell sits in its own row."""
    _engine, paths, _facts = built
    with zipfile.ZipFile(paths.workbook) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets
        for name in sheets:
            xml = z.read(name)
            assert b"handover-rows:" not in xml
            numbers = [int(n) for n in re.findall(rb'<row r="(\d+)"', xml)]
            assert numbers == sorted(set(numbers)), name
            for row in re.finditer(rb'<row r="(\d+)"[^>]*>(.*?)</row>', xml, re.S):
                assert set(re.findall(rb'<c r="[A-Z]+(\d+)"', row.group(2))) <= {row.group(1)}, name
