"""The officials' workbook, read back with openpyxl and compared with the database and the hand-made truth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from handover.errors import BatchNotFoundError, ReportError
from handover.reports.workbook import write_workbook
from handover.reports.workbook.sheet import sheet_title
from handover.target import schema
from tests.reports.factory import (
    BATCH,
    C1,
    C2,
    C3,
    EVIL_NAME,
    EVIL_PHONE,
    EVIL_SUBJECT,
    EXPECTED,
    EXPECTED_COMMUNES,
    EXPECTED_TOTAL,
    ID_MASKED,
    ID_PLAIN,
    build_target,
)

COMMUNE_SHEETS = {C1[0]: "Xã Bảo Thắng 02905", C2[0]: "Xã Phong Hải 02935", C3[0]: "Xã Văn Bàn 03232"}


@pytest.fixture(scope="module")
def wb(built):
    return load_workbook(built[1].workbook)


def _rows(ws) -> list[tuple]:
    return [r for r in ws.iter_rows(values_only=True) if any(v is not None for v in r)]


def _find(ws, first: object) -> int:
    """1-based index of the first row whose column A equals ``first``."""
    for i, row in enumerate(ws.iter_rows(values_only=True), 1):
        if row and row[0] == first:
            return i
    raise AssertionError(f"{first!r} not in column A of {ws.title}")


def _table(ws, header_first: str, stop_first: object = None) -> list[tuple]:
    """Data rows under the two header lines that start with ``header_first`` until a blank row."""
    start = _find(ws, header_first) + 2
    out = []
    for row in ws.iter_rows(min_row=start, values_only=True):
        if all(v is None for v in row) or (stop_first is not None and row[0] == stop_first):
            break
        out.append(row)
    return out


def test_sheet_names(wb) -> None:
    assert wb.sheetnames == [
        "Tổng hợp",
        *COMMUNE_SHEETS.values(),
        "Cần xem xét",
        "Danh sách chọn",  # hidden: the review sheet's drop-down lists
        "Cách ly",
        "Xung đột",
        "Kiểm tra dữ liệu",
        "Dòng không phải dữ liệu",
        "Guide (English)",
    ]


def test_commune_sheets_are_exactly_the_communes_with_loaded_rows(built, wb) -> None:
    engine = built[0]
    with engine.connect() as conn:
        codes = set(conn.execute(select(schema.dossiers.c.new_commune_code).distinct()).scalars()) | set(
            conn.execute(select(schema.records.c.new_commune_code).distinct()).scalars()
        )
    assert codes == set(EXPECTED_COMMUNES)
    named = {m.group(1) for s in wb.sheetnames if (m := re.search(r" (\d{5})$", s))}
    assert named == codes


def test_summary_headers_and_totals(wb) -> None:
    ws = wb["Tổng hợp"]
    header = _find(ws, "Mã huyện cũ")
    vi = [c.value for c in ws[header]]
    assert vi == [
        "Mã huyện cũ", "Huyện cũ", "Mã xã cũ", "Xã cũ", "Mã xã mới", "Xã mới",
        "Tổng số trích xuất", "Đã chuyển", "Cần xem xét", "Cách ly", "Không còn xử lý", "Trùng lặp",
    ]  # fmt: skip
    assert [c.value for c in ws[header + 1]][6:] == [
        "Extracted", "Loaded", "Review", "Quarantined", "Excluded (not pending)", "Duplicate",
    ]  # fmt: skip
    lines = _table(ws, "Mã huyện cũ", stop_first="Tổng cộng (total)")
    total_row = [c.value for c in ws[_find(ws, "Tổng cộng (total)")]]
    keys = ["extracted", "loaded", "review", "quarantined", "excluded", "duplicate"]
    assert total_row[6:] == [EXPECTED_TOTAL[k] for k in keys]
    for i, k in enumerate(keys):
        assert sum(r[6 + i] for r in lines) == EXPECTED_TOTAL[k]
    # Xã Sơn Hà (02938) → Xã Bảo Thắng: 2 loaded, 2 quarantined, 1 duplicate
    son_ha = [r for r in lines if r[2] == "02938"]
    assert son_ha == [
        ("086", "Huyện Bảo Thắng", "02938", "Xã Sơn Hà", "02905", "Xã Bảo Thắng", 5, 2, 0, 2, 0, 1)
    ]
    text = " ".join(str(v) for r in _rows(ws) for v in r if v is not None)
    assert "18 = 8 + 3 + 3 + 2 + 2" in text and "Cân đối ✔" in text


def test_summary_per_source_balance(wb) -> None:
    ws = wb["Tổng hợp"]
    rows = {r[0]: r for r in _table(ws, "Nguồn")}
    for source, counts in EXPECTED.items():
        assert list(rows[source][1:7]) == [
            counts[k] for k in ("extracted", "loaded", "review", "quarantined", "excluded", "duplicate")
        ]
        assert rows[source][7:9] == ("✔", "✔")


def test_commune_sheet_lists_the_loaded_rows(built, wb) -> None:
    engine = built[0]
    for code, title in COMMUNE_SHEETS.items():
        ws = wb[title]
        values = [v for r in _rows(ws) for v in r if v is not None]
        assert "BIÊN BẢN BÀN GIAO HỒ SƠ ĐANG GIẢI QUYẾT" in values
        assert "ĐẠI DIỆN BÊN GIAO" in values and "ĐẠI DIỆN BÊN NHẬN" in values
        assert values.count("(Ký, ghi rõ họ tên, đóng dấu)") == 2
        header = _find(ws, "STT")
        assert [c.value for c in ws[header]][:4] == [
            "STT",
            "Mã hồ sơ / Số",
            "Thủ tục / Loại hồ sơ",
            "Chủ hồ sơ / Người đăng ký",
        ]
        numbered = [r for r in ws.iter_rows(min_row=header + 2, values_only=True) if isinstance(r[0], int)]
        with engine.connect() as conn:
            n_dossiers = conn.execute(
                select(func.count())
                .select_from(schema.dossiers)
                .where(schema.dossiers.c.new_commune_code == code)
            ).scalar_one()
            n_records = conn.execute(
                select(func.count())
                .select_from(schema.records)
                .where(schema.records.c.new_commune_code == code)
            ).scalar_one()
        assert (n_dossiers, n_records) == EXPECTED_COMMUNES[code]
        assert len(numbered) == n_dossiers + n_records


def test_handling_agency_shown_when_not_the_commune_committee(wb) -> None:
    ws = wb["Xã Phong Hải 02935"]
    rows = {r[1]: r for r in ws.iter_rows(values_only=True) if r and isinstance(r[0], int)}
    assert rows["000.00.53.H38-250604-0004"][2] == (
        "Đăng ký hộ kinh doanh\n(Cơ quan giải quyết: Phòng Đăng ký kinh doanh xã)"
    )
    assert rows["000.00.53.H38-250605-0005"][2] == "Đăng ký hộ kinh doanh"


def test_giving_side_names_every_old_district(wb) -> None:
    values = [v for r in _rows(wb["Xã Phong Hải 02935"]) for v in r if isinstance(v, str)]
    giving = next(v for v in values if v.startswith("BÊN GIAO"))
    assert "Huyện Bảo Thắng" in giving and "Huyện Văn Bàn" in giving
    receiving = next(v for v in values if v.startswith("BÊN NHẬN"))
    assert "Xã Phong Hải" in receiving and "02935" in receiving


def test_ids_and_phones_are_masked(wb) -> None:
    ws = wb["Xã Bảo Thắng 02905"]
    header = _find(ws, "STT")
    rows = {r[1]: r for r in ws.iter_rows(min_row=header + 2, values_only=True) if isinstance(r[0], int)}
    first = rows["000.00.53.H38-250601-0001"]
    assert first[4] == ID_MASKED
    assert first[5] == "091****678"
    evil = rows["000.00.53.H38-250602-0002"]
    assert evil[3] == EVIL_NAME
    assert evil[5] == "+84******678"
    for sheet in wb.worksheets:
        for row in sheet.iter_rows(values_only=True):
            for v in row:
                assert not (isinstance(v, str) and (ID_PLAIN in v or EVIL_PHONE in v)), (sheet.title, v)


def test_due_flags_are_highlighted(wb) -> None:
    ws = wb["Xã Bảo Thắng 02905"]
    header = _find(ws, "STT")
    flags = {}
    for row in ws.iter_rows(min_row=header + 2):
        if isinstance(row[0].value, int):
            flags[row[8].value] = row[8].fill.fgColor.rgb
    assert flags["Quá hạn"].endswith("FFC7CE")
    assert flags["Sắp đến hạn"].endswith("FFEB9C")
    assert flags["Trong hạn"] in (None, "00000000")


def test_no_formula_anywhere(wb) -> None:
    seen_evil = set()
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value[:1] in "=+-@":
                    assert cell.data_type == "s" and cell.quotePrefix, (sheet.title, cell.coordinate)
                    seen_evil.add(cell.value)
    assert {EVIL_NAME, EVIL_SUBJECT, "-1+2", "+84******678"} <= seen_evil


def test_print_setup(wb) -> None:
    for sheet in wb.worksheets:
        if sheet.sheet_state == "hidden":
            continue  # the review sheet's lists: never printed
        assert sheet.page_setup.paperSize == 9, sheet.title  # A4
        assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
        assert sheet.page_setup.fitToWidth == 1
        assert "&P" in sheet.oddFooter.center.text
    for title in COMMUNE_SHEETS.values():
        ws = wb[title]
        header = _find(ws, "STT")
        assert ws.print_title_rows == f"${header}:${header}"  # one header row, Vietnamese only
        assert ws.page_setup.orientation == "landscape"
        # each record numbers its own pages from 1, out of its own count
        assert ws.page_setup.useFirstPageNumber and ws.page_setup.firstPageNumber == 1
        assert re.fullmatch(r"Trang &P / \d+", ws.oddFooter.center.text)


def test_review_sheet(built, wb) -> None:
    ws = wb["Cần xem xét"]
    header = _find(ws, "STT")
    vi = [c.value for c in ws[header]]
    en = [c.value for c in ws[header + 1]]
    assert vi[-1] == "Quyết định (mã xã mới)"
    assert en[1:3] == ["source_system", "dossier_code"] and en[-1] == "new_commune_code"
    rows = _table(ws, "STT")
    assert len(rows) == EXPECTED_TOTAL["review"]
    by_key = {r[2]: r for r in rows}
    split = by_key["000.00.53.H38-250606-0006"]
    assert split[1] == "bao_thang"
    assert split[6] == "Thôn Cóc Sâm"
    assert split[9].split("\n") == ["02905 Xã Bảo Thắng", "02935 Xã Phong Hải"]
    assert by_key["000.00.53.H38-250607-0007"][10].split("\n") == ["Xã Sơn Hà", "Xã Sơn Hải"]
    assert by_key["birth/KS-2025-0102"][9].split("\n") == ["03250 Xã Tân An", "04501 Xã Tân An"]
    assert all(r[11] is None for r in rows)
    lists = {str(v.sqref): (v.type, v.formula1) for v in ws.data_validations.dataValidation}
    assert lists == {  # the split rows' candidates; the not-found row: the 99 communes of the new Lào Cai
        f"L{header + 2}": ("list", "'Danh sách chọn'!$A$1:$A$2"),
        f"L{header + 3}": ("list", "'Danh sách chọn'!$B$1:$B$99"),
        f"L{header + 4}": ("list", "'Danh sách chọn'!$C$1:$C$2"),
    }
    assert [c.value for c in wb["Danh sách chọn"]["A"]][:2] == [
        "02905 - Xã Bảo Thắng",
        "02935",  # not in the reference: the code alone
    ]
    decision = ws.cell(header + 2, 12)
    assert decision.number_format == "@"  # typed codes keep their leading zero
    notes = " ".join(str(v) for r in _rows(ws)[: header - 1] for v in r if v)
    assert "handover review import" in notes


def test_quarantine_sheet(wb) -> None:
    rows = _table(wb["Cách ly"], "STT")
    assert len(rows) == EXPECTED_TOTAL["quarantined"]
    by_row = {(r[1], r[2]): r for r in rows}
    two = by_row[("bao_thang", 9)]
    assert two[5].split("\n") == ["date_parse", "id_format"]
    assert "Ngày tiếp nhận không đọc được: 31/02/2025" in two[6]
    assert "Received date cannot be read: 31/02/2025" in two[7]
    assert by_row[("bao_thang", 10)][3] == "-1+2"


def test_conflict_and_findings_sheets(wb) -> None:
    conflicts = _table(wb["Xung đột"], "STT")
    assert [(r[1], r[2], r[4]) for r in conflicts] == [("bao_thang", 4, "applicant_name")]
    per_check = {r[0]: r for r in _table(wb["Kiểm tra dữ liệu"], "Kiểm tra")}
    assert per_check["date_parse"][2:4] == (2, 2)
    assert per_check["id_format"][1] == "Cảnh báo (warning)"
    gx = {r[1]: r for r in _table(wb["Kiểm tra dữ liệu"], "Bộ kiểm tra")}
    assert gx["expect_column_values_to_match_regex"][3:] == (
        "✘",
        1,
        11,
        None,
    )  # a summary of before the flagged figure: blank


def test_no_conflict_sheet_without_conflicts(engine, tmp_path: Path) -> None:
    build_target(engine)
    with engine.begin() as conn:
        conn.execute(schema.findings.delete().where(schema.findings.c.check_name == "content_conflict"))
    wb = load_workbook(write_workbook(engine, BATCH, tmp_path / "w.xlsx"))
    assert "Xung đột" not in wb.sheetnames


def test_tolerates_missing_summary_keys(engine, tmp_path: Path) -> None:
    build_target(engine)
    with engine.begin() as conn:
        conn.execute(update(schema.batches).values(summary_json="not json", fingerprint=None))
    wb = load_workbook(write_workbook(engine, BATCH, tmp_path / "w.xlsx"))
    assert "Bộ kiểm tra" not in [c.value for r in wb["Kiểm tra dữ liệu"].iter_rows() for c in r]


def test_unknown_batch_is_not_found(engine, tmp_path: Path) -> None:
    build_target(engine)
    with pytest.raises(BatchNotFoundError) as info:
        write_workbook(engine, "no-such-batch", tmp_path / "w.xlsx")
    assert (
        "'no-such-batch' is not in the target database (latest batches: lc-2025-07-01)" in info.value.message
    )
    assert info.value.hint
    assert not (tmp_path / "w.xlsx").exists()


def test_empty_database_is_a_report_error(engine, tmp_path: Path) -> None:
    with pytest.raises(ReportError) as info:
        write_workbook(engine, BATCH, tmp_path / "w.xlsx")
    assert info.value.message.startswith("Cannot read the batch from the target database")


@pytest.mark.parametrize(
    ("name", "code", "expected"),
    [
        ("Xã Bảo Thắng", "02905", "Xã Bảo Thắng 02905"),
        ("Phường Nam Cường/Bắc [Cũ]: a*b?", "04567", "Phường Nam Cường Bắc Cũ a 04567"),
        (None, None, "Chưa rõ xã"),
        ("'Xã'", "00001", "Xã 00001"),
    ],
)
def test_sheet_title(name, code, expected) -> None:
    assert sheet_title(name, code, set()) == expected
    assert len(sheet_title("Xã " + "Rất Dài " * 10, "12345", set())) == 31


def test_sheet_titles_are_unique() -> None:
    used: set[str] = set()
    titles = [sheet_title("Xã Trùng Tên Rất Dài Dài Dài Dài Dài", "12345", used) for _ in range(3)]
    assert len(set(titles)) == 3 and all(len(t) <= 31 for t in titles)
    assert sheet_title("Cách ly", None, {"cách ly"}) == "Cách ly (2)"


def test_review_and_quarantine_headers_stay_in_view(wb) -> None:
    """Panes freeze right under the two header rows, so officials keep the headers while scrolling."""
    for name in ("Cần xem xét", "Cách ly"):
        ws = wb[name]
        assert ws.freeze_panes is not None, name
        first_data_row = int(ws.freeze_panes[1:])
        assert _find(ws, "STT") == first_data_row - 2, name
        assert _find(ws, "No.") == first_data_row - 1, name


def _texts(ws) -> list[str]:
    return [v for r in ws.iter_rows(values_only=True) for v in r if isinstance(v, str)]


def test_record_heading_parties_and_totals(built, tmp_path: Path) -> None:
    from handover.parties import PartiesConfig

    parties = PartiesConfig.model_validate(
        {
            "place": "Lào Cai",
            "giving": {"name": "Nguyễn Văn Hùng", "position": "Chánh Văn phòng"},
            "receiving": {"position": "Chủ tịch UBND xã"},
            "communes": {C1[0]: {"name": "Lò Thị Hạnh", "position": "Chủ tịch UBND xã Bảo Thắng"}},
        }
    )
    path = write_workbook(built[0], BATCH, tmp_path / "w.xlsx", parties=parties)
    wb = load_workbook(path)
    named = _texts(wb[COMMUNE_SHEETS[C1[0]]])
    assert named[:2] == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]
    assert f"Số: {BATCH}-{C1[0]}/BB-BGHS" in named
    assert any(re.fullmatch(r"Lào Cai, ngày \d\d tháng \d\d năm \d{4}", t) for t in named)
    assert any("(giờ Việt Nam)" in t for t in named)
    assert "Đại diện: Ông/Bà Nguyễn Văn Hùng     Chức vụ: Chánh Văn phòng" in named
    assert "Đại diện: Ông/Bà Lò Thị Hạnh     Chức vụ: Chủ tịch UBND xã Bảo Thắng" in named
    assert "Lò Thị Hạnh" in named and "Nguyễn Văn Hùng" in named  # under the room to sign
    other = _texts(wb[COMMUNE_SHEETS[C2[0]]])  # the default receiver: the name left blank
    assert "Đại diện: Ông/Bà ……………………     Chức vụ: Chủ tịch UBND xã" in other
    assert any(t.startswith("- Hồ sơ thủ tục hành chính theo tình trạng hạn: Quá hạn: ") for t in named)
    assert any(t.startswith("- Hồ sơ thủ tục hành chính theo trạng thái: ") for t in named)
    # without parties: every name, position and the place are blanks
    blank = _texts(load_workbook(built[1].workbook)[COMMUNE_SHEETS[C1[0]]])
    assert blank.count("Đại diện: Ông/Bà ……………………     Chức vụ: ……………………") == 2
    assert any(t.startswith("……………………, ngày ") for t in blank)
    for t in named + other:  # the signed document has no English
        assert not re.search(r"\b(giving|receiving|side|Total|dossiers|records|batch)\b", t), t
