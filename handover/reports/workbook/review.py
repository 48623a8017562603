"""The review sheet (Cần xem xét): the rows held for review, each with a drop-down of the new communes a
decision may name (lists on a hidden sheet)."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from sqlalchemy import Connection

from handover.reports.queries.held import iter_review
from handover.reports.workbook.labels import UNIT_STATUS_VI
from handover.reports.workbook.sheet import Sheet, Styles, code_name, column_letter

REVIEW_SHEET = "Cần xem xét"
DECISION_HEADER = "Quyết định (mã xã mới)"

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


def review_sheet(wb: Any, conn: Connection, batch_id: str, st: Styles) -> None:
    """The review rows, each with the new communes a decision may name as a drop-down in its decision cell
    (:func:`handover.units.decisions.allowed_communes`, the check ``handover review import`` applies): the lists
    are columns of the hidden sheet :data:`CHOICES_SHEET` (a list of a province's communes is longer than the 255
    characters Excel allows inline). Rows keep the ledger's order: no filter, no sort."""
    from handover.units.decisions import ReviewRow, allowed_communes, candidate_codes, load_reference

    widths = [6, 14, 26, 8, 18, 26, 18, 30, 26, 40, 30, 30]
    top = 2 + len(REVIEW_GUIDE)  # title lines above the 2 header rows
    sh = Sheet(wb, REVIEW_SHEET, widths, st, freeze=f"D{top + 3}")  # headers and source, key stay in view
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
    for n, row in enumerate(iter_review(conn, batch_id), 1):
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
                code_name(row["old_district_code"], row["old_district_name"]),
                code_name(row["old_commune_code"], row["old_commune_name"]),
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


def _choice_lists(wb: Any, sh: Sheet, lists: dict[tuple[str, ...], list[int]]) -> None:
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
        letter = column_letter(number)
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
