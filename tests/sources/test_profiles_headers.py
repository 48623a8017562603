"""Profiles load and validate; headers are found under title lines, combined over two rows, matched by variant."""

from __future__ import annotations

import pytest

from handover.errors import SourceError
from handover.models import DOSSIER_FIELDS, RECORD_FIELDS
from handover.sources.headers import Matcher, combine, find_header, footer_marker, is_numbering_row
from handover.sources.profiles import available_profiles, load_profile


def test_shipped_profiles_load_and_cover_required_fields() -> None:
    assert {"dossier-vi", "record-vi"} <= set(available_profiles())
    dossier = load_profile("dossier-vi")
    record = load_profile("record-vi")
    assert "dossier_code" in dossier.fields and set(dossier.fields) <= set(DOSSIER_FIELDS)
    assert "record_number" in record.fields and set(record.fields) <= set(RECORD_FIELDS)
    for profile in (dossier, record):
        for spec in profile.fields.values():
            assert spec.comment, "every variant list says where it was seen"


def test_unknown_profile_is_a_source_error() -> None:
    with pytest.raises(SourceError) as err:
        load_profile("ho-so-khac")
    assert err.value.message == "Unknown source profile 'ho-so-khac'."
    assert "dossier-vi" in (err.value.hint or "")


@pytest.mark.parametrize(
    "header,field",
    [
        ("Mã hồ sơ", "dossier_code"),
        ("MÃ HỒ SƠ", "dossier_code"),
        ("Ma ho so", "dossier_code"),
        ("Mã HS", "dossier_code"),
        ("MaHoSo", "dossier_code"),
        ("Số CCCD/CMND", "applicant_id"),
        ("Số CCCD / CMND", "applicant_id"),
        ("Ngày hẹn trả", "due_date"),
        ("Hạn trả", "due_date"),
        ("Ngày  Hẹn trả", "due_date"),
        ("NgayHenTra", "due_date"),
        ("Ngày tiếp nhận (dd/mm/yyyy)", "received_date"),
        ("Lệ phí (đồng)", "fee"),
        ("SĐT", "phone"),
        ("Số thứ tự", None),
        ("STT", None),
    ],
)
def test_header_variants(header: str, field: str | None) -> None:
    matcher = Matcher.build(load_profile("dossier-vi").lookup(), {})
    assert matcher.match(header) == field


def test_config_columns_win_over_profile() -> None:
    matcher = Matcher.build(load_profile("dossier-vi").lookup(), {"Số biên nhận": "notes", "Mã HS": "notes"})
    assert matcher.match("Mã HS") == "notes"
    assert matcher.match("so bien nhan") == "notes"
    assert matcher.match("Mã hồ sơ") == "dossier_code"


def test_combine_spreads_a_merged_top_cell_over_its_sub_headers() -> None:
    top = ["STT", "Mã hồ sơ", "Ngày", None, "Ghi chú", None]
    bottom = [None, None, "Tiếp nhận", "Hẹn trả", None, None]
    assert combine(top, bottom) == ["STT", "Mã hồ sơ", "Ngày Tiếp nhận", "Ngày Hẹn trả", "Ghi chú", ""]


def test_find_header_under_title_lines_and_over_two_rows() -> None:
    rows = [
        (1, ["UBND HUYỆN BẢO THẮNG"]),
        (2, ["DANH SÁCH HỒ SƠ"]),
        (3, [None]),
        (4, ["STT", "Mã hồ sơ", "Chủ hồ sơ", "Ngày", None]),
        (5, [None, None, None, "Tiếp nhận", "Hẹn trả"]),
        (6, ["1", "000.00.53.H48-250601-0001", "Nguyễn Thị Hồng", "01/06/2025", "03/07/2025"]),
    ]
    choice = find_header(rows, Matcher.build(load_profile("dossier-vi").lookup(), {}))
    assert choice is not None
    assert choice.rows == [4, 5]
    assert choice.fields == [None, "dossier_code", "applicant_name", "received_date", "due_date"]


def test_find_header_none_when_nothing_matches() -> None:
    rows = [(1, ["a", "b"]), (2, ["1", "2"])]
    assert find_header(rows, Matcher.build(load_profile("dossier-vi").lookup(), {})) is None


def test_footer_and_numbering_rows() -> None:
    assert footer_marker(["Tổng cộng: 25 hồ sơ", None], None) == "Tổng cộng: 25 hồ sơ"
    assert footer_marker([None, "NGƯỜI LẬP BIỂU", None, "THỦ TRƯỞNG ĐƠN VỊ"], None) == "NGƯỜI LẬP BIỂU"
    assert footer_marker([None, "(Ký, ghi rõ họ tên)"], None) == "(Ký, ghi rõ họ tên)"
    assert footer_marker([None, "Bảo Thắng, ngày 30 tháng 6 năm 2025"], None)
    assert (
        footer_marker(["3", "000.00.53.H48-250601-0001", "Thủ trưởng ký"], "000.00.53.H48-250601-0001")
        is None
    )
    assert is_numbering_row(["(1)", "(2)", "(3)", "(4)"])
    assert not is_numbering_row(["1", "000.00.53.H48-250601-0001", "Nguyễn Thị Hồng"])
