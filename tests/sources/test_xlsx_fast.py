"""The ``.xlsx`` reader (handover.sources.xlsx_stream) gives what openpyxl reads from the same workbook.

Every comparison is value by value, types included, against openpyxl's public reading of the workbook
(``load_workbook(data_only=True)``: each non-empty cell by its coordinate, hidden rows, sheet names and
states), with lxml and with the expat path (``safe=True``) the reader falls back to.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from handover.config import SourceConfig
from handover.errors import SourceError
from handover.sources import open_source, xlsx_stream
from handover.sources.excel_reader import ExcelReader

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]
DAMAGED = {"corrupt.xlsx", "truncated.xlsx", "encrypted.xlsx"}

Rows = list[tuple[int, list[tuple[type, Any]], bool]]
# a sheet as non-empty cells by (row, column), and its hidden rows
Sheet = tuple[dict[tuple[int, int], tuple[type, Any]], set[int]]


def _typed(rows: list[tuple[int, list[Any], bool]]) -> Rows:
    return [(number, [(type(v), v) for v in values], hidden) for number, values, hidden in rows]


def openpyxl_sheets(path: Path) -> dict[tuple[str, str], Sheet]:
    """Each sheet as openpyxl's public API reads it: non-empty cells (merged-over cells left out) and hidden rows."""
    wb = openpyxl.load_workbook(path, data_only=True, keep_links=False)
    out = {}
    for ws in wb.worksheets:
        cells = {
            (cell.row, cell.column): (type(cell.value), cell.value)
            for row in ws.iter_rows()
            for cell in row
            if cell.value is not None and not isinstance(cell, openpyxl.cell.cell.MergedCell)
        }
        hidden = {number for number, dims in ws.row_dimensions.items() if dims.hidden}
        out[(ws.title, ws.sheet_state)] = (cells, hidden)
    wb.close()
    return out


def fast_rows(path: Path, safe: bool = False) -> dict[tuple[str, str], Rows]:
    book = xlsx_stream.open_book(path)
    try:
        return {
            (name, state): _typed(list(xlsx_stream.iter_sheet_rows(book, part, safe=safe)))
            for name, state, part in book.sheets
        }
    finally:
        book.close()


def _as_sheet(rows: Rows) -> Sheet:
    cells = {
        (number, column): value
        for number, values, _ in rows
        for column, value in enumerate(values, start=1)
        if value[1] is not None
    }
    return cells, {number for number, _, hidden in rows if hidden}


def assert_same(path: Path, oracle: bool = True) -> dict[tuple[str, str], Rows]:
    """The reader's rows of every sheet (lxml), checked against the expat path and (``oracle``) openpyxl."""
    date_warning = "is marked as a date"
    with warnings.catch_warnings(record=True) as slow_warnings:
        warnings.simplefilter("always")
        expected = openpyxl_sheets(path) if oracle else {}
    with warnings.catch_warnings(record=True) as fast_warnings:
        warnings.simplefilter("always")
        got = fast_rows(path)
    assert fast_rows(path, safe=True) == got
    if not oracle:
        return got
    assert list(got) == list(expected)  # same sheets, same order, same states
    for sheet, (cells, hidden) in expected.items():
        have_cells, have_hidden = _as_sheet(got[sheet])
        assert have_hidden == hidden, sheet
        merged_away = set(have_cells) - set(cells)  # openpyxl empties the cells a merge covers
        assert {k: v for k, v in have_cells.items() if k not in merged_away} == cells, sheet
        numbers = [number for number, _, _ in got[sheet]]
        assert numbers == sorted(set(numbers)), sheet  # each row once, in order
    assert sorted({str(w.message) for w in fast_warnings if date_warning in str(w.message)}) == sorted(
        {str(w.message) for w in slow_warnings if date_warning in str(w.message)}
    )
    return got


# -- every workbook of the test corpus, the demo's, the benchmark generator's ---------------------------------
@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.xlsx") if p.name not in DAMAGED))
def test_corpus_workbooks(name: str) -> None:
    assert_same(DATA / name)


def test_demo_workbook(tmp_path: Path) -> None:
    from handover.demo.batch import generate_demo_inputs

    exports = generate_demo_inputs(tmp_path, rows=300)
    got = assert_same(exports / "bao_thang_086.xlsx")
    assert sum(len(rows) for rows in got.values()) > 300


def test_benchmark_workbook_slice(tmp_path: Path) -> None:
    script = str(ROOT / "benchmarks" / "generate.py")
    args = ["--rows", "3000", "--format", "xlsx", "--out", str(tmp_path), "--seed", "1"]
    subprocess.run(
        [sys.executable, script, *args],
        check=True,
        capture_output=True,
    )
    got = assert_same(tmp_path / "dossiers.xlsx")
    assert sum(len(rows) for rows in got.values()) == 3004


# -- a workbook written by openpyxl with every kind of value -----------------------------------------------------
def _openpyxl_workbook(path: Path, epoch: dt.datetime | None) -> None:
    wb = openpyxl.Workbook()
    if epoch is not None:
        wb.epoch = epoch
    ws = wb.active
    ws.title = "Dữ liệu"
    ws.append(["Mã", "Tên", "Ngày", "Giờ", "Lúc", "Số", "Tỷ lệ", "Cờ", "Lỗi", "Công thức", "Khoảng"])
    values = [
        ["HS-001", "Nguyễn Văn A", dt.date(2024, 2, 29), dt.time(13, 45, 30), dt.datetime(2025, 7, 1, 8, 30)],
        [12345678901234567, "  khoảng trắng  ", dt.date(1900, 1, 1), dt.time(0, 0), dt.datetime(1904, 1, 2)],
        [1e-05, "x005F_y", dt.date(1900, 3, 1), dt.time(23, 59, 59, 500000), dt.datetime(9999, 12, 31)],
        [-0.5, "=1+1 text", dt.date(2000, 1, 1), None, dt.datetime(1970, 1, 1, 0, 0, 0, 1000)],
    ]
    for i, head in enumerate(values, start=2):
        ws.append([*head, 3.14159 * i, 0.125 * i, i % 2 == 0, "#N/A" if i % 2 else "#DIV/0!", f"=A{i}*2"])
        ws.cell(row=i, column=4).number_format = "hh:mm:ss"
        ws.cell(row=i, column=5).number_format = "dd/mm/yyyy hh:mm"
        ws.cell(row=i, column=7).number_format = "0.00%"
        ws.cell(row=i, column=11, value=1.5 + i).number_format = "[h]:mm:ss"
    ws["C3"].number_format = 'dd" tháng "mm" năm "yyyy'
    ws["F4"].number_format = "#,##0.00;[Red]-#,##0.00"
    ws["F5"].number_format = "[$-42A]d mmmm yyyy"  # a locale-tagged date format
    ws["A9"] = "after a gap"
    ws["Z9"] = 42
    ws["AB12"] = CellRichText(["thường ", TextBlock(InlineFont(b=True), "đậm"), " rồi hết"])
    ws.row_dimensions[3].hidden = True
    ws.row_dimensions[9].hidden = True
    hidden = wb.create_sheet("Ẩn")
    hidden.sheet_state = "hidden"
    hidden["B2"] = "secret"
    wb.create_sheet("Trống")
    very = wb.create_sheet("Rất ẩn")
    very.sheet_state = "veryHidden"
    very["A1"] = 1
    wb.save(path)


@pytest.mark.parametrize("epoch", [None, CALENDAR_MAC_1904], ids=["1900", "1904"])
def test_openpyxl_written_workbook(tmp_path: Path, epoch: dt.datetime | None) -> None:
    path = tmp_path / "types.xlsx"
    _openpyxl_workbook(path, epoch)
    got = assert_same(path)
    rows = got[("Dữ liệu", "visible")]
    assert [type(v) for _, v in rows[1][1][:5]] == [str, str, dt.datetime, dt.time, dt.datetime]
    assert got[("Trống", "visible")] == []
    assert ("Rất ẩn", "veryHidden") in got and ("Ẩn", "hidden") in got
    assert [number for number, _, hidden in rows if hidden] == [3, 9]


# -- hand-written parts: what Excel and other writers produce that openpyxl does not write ----------------------
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006"
SHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"


def _package(
    path: Path, sheets: list[tuple[str, str, str]], styles: str, strings: str | None, date1904: bool
) -> None:
    """Write a minimal .xlsx: ``sheets`` are (name, state, sheet XML body inside <worksheet>)."""
    overrides = [
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{SHEET_CT}"/>'
        for i in range(1, len(sheets) + 1)
    ]
    overrides.append(
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    )
    overrides.append(
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    )
    if strings is not None:
        overrides.append(
            '<Override PartName="/xl/sharedStrings.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        )
    content_types = (
        f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{PKG}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>' + "".join(overrides) + "</Types>"
    )
    root_rels = (
        f'<Relationships xmlns="{PKG}/relationships"><Relationship Id="rId1" '
        f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    sheet_tags = "".join(
        f'<sheet name="{name}" sheetId="{i}" state="{state}" r:id="rId{i}"/>'
        for i, (name, state, _) in enumerate(sheets, start=1)
    )
    workbook = (
        f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><workbookPr date1904="{int(date1904)}"/>'
        f"<sheets>{sheet_tags}</sheets></workbook>"
    )
    rels = [
        f'<Relationship Id="rId{i}" Type="{REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1)
    ]
    n = len(sheets)
    rels.append(f'<Relationship Id="rId{n + 1}" Type="{REL}/styles" Target="styles.xml"/>')
    if strings is not None:
        rels.append(f'<Relationship Id="rId{n + 2}" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", content_types)
        zf.writestr("_rels/.rels", root_rels)
        zf.writestr("xl/workbook.xml", workbook)
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{PKG}/relationships">{"".join(rels)}</Relationships>',
        )
        zf.writestr("xl/styles.xml", styles)
        if strings is not None:
            zf.writestr("xl/sharedStrings.xml", strings)
        for i, (_, _, body) in enumerate(sheets, start=1):
            zf.writestr(
                f"xl/worksheets/sheet{i}.xml",
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">{body}</worksheet>',
            )


# cellXfs: 0 General, 1 builtin 14 (date), 2 builtin 21 (time), 3 custom 164 (date with literal text),
# 4 builtin 46 ([h]:mm:ss, timedelta), 5 builtin 10 (percent), 6 custom 165 (number with [Red]), 7 custom 166
# (timedelta [mm]:ss), 8 custom 14 overriding a builtin id with a date code, 9 builtin 49 (text)
STYLES = f"""<styleSheet xmlns="{MAIN}"><numFmts count="4">
<numFmt numFmtId="164" formatCode="dd&quot; tháng &quot;mm&quot; năm &quot;yyyy"/>
<numFmt numFmtId="165" formatCode="#,##0.00;[Red]\\-#,##0.00"/>
<numFmt numFmtId="166" formatCode="[mm]:ss"/>
<numFmt numFmtId="167" formatCode="[$-F800]dddd\\,\\ mmmm\\ dd\\,\\ yyyy"/></numFmts>
<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="1"><fill><patternFill patternType="none"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="11"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="21" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="46" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="10" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="167" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="200" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"""

STRINGS = f"""<sst xmlns="{MAIN}" count="8" uniqueCount="8">
<si><t>Mã hồ sơ</t></si>
<si><t xml:space="preserve">  có khoảng trắng  </t></si>
<si><r><rPr><b/><sz val="11"/></rPr><t>Đậm</t></r><r><t xml:space="preserve"> và thường</t></r></si>
<si><t>東京</t><rPh sb="0" eb="2"><t>トウキョウ</t></rPh><phoneticPr fontId="1"/></si>
<si><t/></si>
<si/>
<si><t>a_x005F_x000D_b &amp; &lt;c&gt;</t></si>
<si><r><t>run </t></r><t>plain</t></si>
</sst>"""

DATA_SHEET = """<sheetPr><outlinePr summaryBelow="1"/></sheetPr><dimension ref="A1:Z40"/>
<sheetData>
<row r="1" spans="1:12"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c>
<c r="D1" t="s"><v>3</v></c><c r="E1" t="s"><v>4</v></c><c r="F1" t="s"><v>5</v></c><c r="G1" t="s"><v>6</v></c>
<c r="H1" t="s"><v>7</v></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>nội tuyến</t></is></c>
<c r="B2" t="inlineStr"><is><r><rPr><i/></rPr><t>nghiêng</t></r><r><t xml:space="preserve"> và không</t></r></is></c>
<c r="C2" t="inlineStr"><is><t>漢字</t><rPh sb="0" eb="1"><t>かん</t></rPh></is></c>
<c r="D2" t="inlineStr"/><c r="E2" t="inlineStr"><is/></c><c r="F2" t="inlineStr"><v>ignored</v><is><t>after v</t></is></c></row>
<row r="3" hidden="1"><c r="A3" t="b"><v>1</v></c><c r="B3" t="b"><v>0</v></c><c r="C3" t="e"><v>#N/A</v></c>
<c r="D3" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="E3" t="str"><f>A2&amp;"x"</f><v>nội tuyếnx</v></c>
<c r="F3"><f>1+1</f><v>2</v></c><c r="G3" t="n"><f>PI()</f><v>3.1415926535897931</v></c>
<c r="H3" t="str"><f>""</f><v></v></c><c r="I3"><f>NA()</f></c></row>
<row r="4" hidden="true" customHeight="1" ht="30"><c r="A4"><v>12345678901234567890</v></c><c r="B4"><v>1E-05</v></c>
<c r="C4"><v>1e+20</v></c><c r="D4"><v>-0</v></c><c r="E4"><v>-12</v></c><c r="F4"><v>0.1</v></c>
<c r="G4" s="5"><v>0.125</v></c><c r="H4" s="6"><v>-1234.5</v></c><c r="I4" s="9"><v>42</v></c>
<c r="J4" s="10"><v>7</v></c></row>
<row r="5" hidden="0"><c r="A5" s="1"><v>45474</v></c><c r="B5" s="2"><v>0.5</v></c><c r="C5" s="3"><v>45474.75</v></c>
<c r="D5" s="4"><v>1.5</v></c><c r="E5" s="7"><v>0.0104166666666667</v></c><c r="F5" s="8"><v>45000</v></c>
<c r="G5" s="1"><v>59</v></c><c r="H5" s="1"><v>60</v></c><c r="I5" s="1"><v>61</v></c><c r="J5" s="1"><v>0</v></c>
<c r="K5" s="2"><v>0.99999999</v></c><c r="L5" s="1"><v>45474.999999999</v></c><c r="M5" s="4"><v>-0.25</v></c>
<c r="N5" s="1" t="n"><v>1</v></c></row>
<row r="6"><c r="A6" t="d"><v>2024-02-29T13:45:00</v></c><c r="B6" t="d"><v>2024-02-29</v></c>
<c r="C6" t="d"><v>13:45:00</v></c><c r="D6" s="1"><v>99999999</v></c><c r="E6" s="1"><v>-5</v></c></row>
<row r="7"><c r="Z7"><v>26</v></c><c r="C7"><v>3</v></c><c r="AA7"><v>27</v></c></row>
<row><c><v>1</v></c><c><v>2</v></c><c r="E8"><v>5</v></c><c><v>6</v></c></row>
<row r="10" spans="1:3"/>
<row r="11"><c r="B11"><v>2</v></c><c r="c11"><v>3</v></c><c r="D011"><v>4</v></c><!-- a comment --><?pi x?></row>
<row r="12.0"><c r="A12" s=""><v>12</v></c><c r="B12" s="0"><v>  7 </v></c><c r="C12" t="s"><v>-1</v></c></row>
<row r="13" x14ac:dyDescent="0.25" xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac">
<c r="A13" t="s" s="1"><v>0</v></c><c r="B13" t="b" s="1"><v>1</v></c><c r="C13" t="e" s="1"><v>#REF!</v></c>
<c r="D13" t="weird"><v>kept</v></c></row>
<row r="20"><c r="XFD20"><v>16384</v></c></row>
</sheetData>
<mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells>
<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>"""


@pytest.mark.parametrize("date1904", [False, True], ids=["1900", "1904"])
def test_hand_written_parts(tmp_path: Path, date1904: bool) -> None:
    path = tmp_path / "parts.xlsx"
    sheets = [
        (
            "Tham số",
            "hidden",
            '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row></sheetData>',
        ),
        ("Hồ sơ", "visible", DATA_SHEET),
        ("Trống", "visible", "<sheetData/>"),
        ("Không có sheetData", "visible", '<dimension ref="A1"/>'),
    ]
    _package(path, sheets, STYLES, STRINGS, date1904)
    # openpyxl's ordinary mode cannot load these parts (s="" is no style index to it): the values are pinned here
    got = assert_same(path, oracle=False)
    assert list(got) == [
        ("Tham số", "hidden"),
        ("Hồ sơ", "visible"),
        ("Trống", "visible"),
        ("Không có sheetData", "visible"),
    ]
    assert got[("Trống", "visible")] == [] and got[("Không có sheetData", "visible")] == []
    data = got[("Hồ sơ", "visible")]
    assert [number for number, _, _ in data] == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 20]
    assert [number for number, _, hidden in data if hidden] == [3, 4]
    rows = {number: values for number, values, _ in data}
    assert [v for _, v in rows[2]] == ["nội tuyến", "nghiêng và không", "漢字", None, "", "after v"]
    assert [v for _, v in rows[3]] == [
        True,
        False,
        "#N/A",
        "#DIV/0!",
        "nội tuyếnx",
        2,
        3.141592653589793,
        None,
        None,
    ]
    assert [v for _, v in rows[8]] == [1, 2, None, None, 5, 6]  # columns counted on without a reference
    assert [v for _, v in rows[11]] == [None, 2, 3, 4]  # lower-case and zero-padded references
    assert [v for _, v in rows[12]] == [12, 7, "plainrun "]  # plain text then the runs
    assert [v for _, v in rows[13]] == ["Mã hồ sơ", True, "#REF!", "kept"]
    assert len(rows[7]) == 27 and rows[7][25:] == [(int, 26), (int, 27)]
    epoch = dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30)
    assert rows[5][0] == (dt.datetime, epoch + dt.timedelta(days=45474))
    assert rows[5][1] == (dt.time, dt.time(12, 0))
    assert rows[5][4] == (dt.timedelta, dt.timedelta(seconds=900))  # custom [mm]:ss
    assert rows[5][5] == (dt.datetime, epoch + dt.timedelta(days=45000))  # custom 14 overriding the builtin
    assert [v for _, v in rows[6][:3]] == [
        dt.datetime(2024, 2, 29, 13, 45),
        dt.date(2024, 2, 29),
        dt.time(13, 45),
    ]
    assert rows[1][2] == (str, "Đậm và thường")  # rich text runs joined
    assert rows[1][3] == (str, "東京")  # phonetic runs skipped
    assert rows[2][1] == (str, "nghiêng và không")
    assert rows[4][0] == (int, 12345678901234567890)
    assert rows[4][1] == (float, 1e-05)
    assert rows[5][3] == (dt.timedelta, dt.timedelta(days=1.5))
    assert rows[3][3] == (str, "#DIV/0!")
    assert rows[6][3] == (str, "#VALUE!")  # a date-styled serial out of range, as openpyxl
    assert len(rows[20]) == 16384


def test_no_shared_strings_and_no_styles(tmp_path: Path) -> None:
    path = tmp_path / "bare.xlsx"
    body = '<sheetData><row r="1"><c r="A1"><v>45474</v></c><c r="B1" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
    _package(path, [("S", "visible", body)], f'<styleSheet xmlns="{MAIN}"/>', None, False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl: "Workbook contains no default style"
        assert_same(path)


# -- the reader: lxml by default, expat taking over where lxml gives up -----------------------------------------
def _reader(path: Path, **kw: Any) -> ExcelReader:
    cfg = SourceConfig(id="src", kind="xlsx", path=path, **kw)  # type: ignore[arg-type]
    return ExcelReader(cfg, 100)


def test_reader_rows_match_openpyxl(tmp_path: Path) -> None:
    path = DATA / "export_bao_thang.xlsx"
    reader = _reader(path)
    reader._prepare()
    rows = list(reader._rows())
    assert reader.report["sheet"] == "Hồ sơ" and reader.report["hidden_sheets"] == ["Tham số"]
    cells, hidden = openpyxl_sheets(path)[("Hồ sơ", "visible")]
    assert _as_sheet(_typed(rows)) == (cells, hidden)


def test_reader_falls_back_mid_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When lxml gives up after some rows, expat goes on from the next row: the same rows in all."""
    path = tmp_path / "types.xlsx"
    _openpyxl_workbook(path, None)
    reader = _reader(path)
    reader._prepare()
    expected = list(reader._rows())
    real = xlsx_stream.row_converter
    calls: list[bool] = []

    def failing(book: xlsx_stream.XlsxBook, trim: bool = False) -> Any:
        convert = real(book, trim)
        first = not calls
        calls.append(True)
        seen = 0

        def wrapped(row: Any) -> Any:
            nonlocal seen
            seen += 1
            if first and seen == 3:
                raise ValueError("something lxml's path refuses")
            return convert(row)

        return wrapped

    monkeypatch.setattr(xlsx_stream, "row_converter", failing)
    reader = _reader(path)
    reader._prepare()
    rows = list(reader._rows())
    assert len(calls) == 2  # the expat path took over
    assert _typed(rows) == _typed(expected) and len(rows) > 3


def test_shared_strings_beyond_lxml_limits(tmp_path: Path) -> None:
    """A text node past libxml2's 10 MB limit: lxml refuses the part, expat reads it."""
    big = "x" * (11 * 1024 * 1024)
    strings = f'<sst xmlns="{MAIN}" count="2" uniqueCount="2"><si><t>{big}</t></si><si><t>b</t></si></sst>'
    body = '<sheetData><row r="1"><c r="A1" t="s"><v>1</v></c><c r="B1" t="s"><v>0</v></c></row></sheetData>'
    path = tmp_path / "big.xlsx"
    _package(path, [("S", "visible", body)], STYLES, strings, False)
    book = xlsx_stream.open_book(path)
    try:
        assert book.shared_strings == [big, "b"]
        assert [values for _, values, _ in xlsx_stream.iter_sheet_rows(book, book.sheets[0][2])] == [
            ["b", big]
        ]
    finally:
        book.close()


def test_date_formats_of_the_published_table() -> None:
    built_in_dates = {14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47}
    assert {i for i, code in xlsx_stream.BUILTIN_FORMATS.items() if xlsx_stream.is_date_format(code)} == (
        built_in_dates
    )
    assert xlsx_stream.is_date_format('dd" tháng "mm" năm "yyyy')
    assert xlsx_stream.is_date_format("[$-42A]d mmmm yyyy")
    assert not xlsx_stream.is_date_format('#,##0" đ"')
    assert not xlsx_stream.is_date_format("#,##0.00;[Red]\\-#,##0.00")
    assert not xlsx_stream.is_date_format("0_m")  # a width, not a month
    assert xlsx_stream.is_duration_format("[h]:mm:ss") and xlsx_stream.is_duration_format("[mm]:ss")
    assert not xlsx_stream.is_duration_format("h:mm:ss")


def _damaged_message(path: Path) -> str:
    with pytest.raises(SourceError) as err:
        reader = open_source(SourceConfig(id="src", kind="xlsx", path=path), 100)  # type: ignore[arg-type]
        list(reader.chunks())
    return err.value.message


def test_damaged_sheet_message(tmp_path: Path) -> None:
    # corrupt.xlsx: garbage in the sheet, found by openpyxl at load (no <dimension>): the same message as before
    assert _damaged_message(DATA / "corrupt.xlsx") == (
        "The workbook is damaged or incomplete and cannot be read "
        "(ParseError: not well-formed (invalid token): line 1, column 61; sheet 'Sheet')."
    )
    # garbage far into a sheet: found while streaming, after the rows before it
    path = tmp_path / "late.xlsx"
    good = "".join(
        f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>Mã hồ sơ {i}</t></is></c></row>' for i in range(1, 50)
    )
    body = f'<dimension ref="A1:A60"/><sheetData>{good}<row r="50"><c r="A50"><v>1</v></c>\x01 garbage'
    _package(path, [("Hồ sơ", "visible", body)], STYLES, None, False)
    with zipfile.ZipFile(path) as zf:
        assert b"garbage" in zf.read("xl/worksheets/sheet1.xml")
    reader = _reader(path)
    reader._prepare()
    rows = []
    with pytest.raises(SourceError) as err:
        for row in reader._rows():
            rows.append(row)
    assert [number for number, _, _ in rows] == list(range(1, 50))  # each row once, before the damage
    assert err.value.message.startswith(
        "The workbook is damaged or incomplete and cannot be read (ParseError: "
    )
    assert err.value.message.endswith("; sheet 'Hồ sơ').")


def test_entities_are_never_expanded(tmp_path: Path) -> None:
    """A DTD entity ('billion laughs') is not expanded in a sheet-sized part, and refused in a structure part."""
    dtd = '<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    strings = f'{dtd}<sst xmlns="{MAIN}" count="1" uniqueCount="1"><si><t>x&b;y</t></si></sst>'
    body = '<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData>'
    path = tmp_path / "laughs.xlsx"
    _package(path, [("S", "visible", body)], STYLES, strings, False)
    book = xlsx_stream.open_book(path)
    try:
        assert "aaaaaaaaaa" not in book.shared_strings[0]
    finally:
        book.close()
    styles = STYLES.replace("<styleSheet ", '<!DOCTYPE styleSheet [<!ENTITY a "a">]><styleSheet ', 1)
    _package(path, [("S", "visible", body)], styles, None, False)
    message = _damaged_message(path)
    assert message.startswith("The workbook is damaged or incomplete and cannot be read (EntitiesForbidden")
