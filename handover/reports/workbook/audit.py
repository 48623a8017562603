"""The sheets after the records: quarantined rows (Cách ly), content conflicts (Xung đột), findings per check
with the great-expectations results (Kiểm tra dữ liệu), every physical row of each source (Dòng không phải dữ
liệu), and the English guide to the records."""

from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import Connection

from handover.models import Counts
from handover.reports.queries.batch import BatchInfo, Shared, ledger_tally, row_account, sources
from handover.reports.queries.held import findings_per_check, iter_conflicts, iter_quarantined
from handover.reports.workbook.labels import COMMUNE_EN, COMMUNE_VI, RULE_VI
from handover.reports.workbook.parties import SUPPLEMENT_TITLE
from handover.reports.workbook.sheet import Sheet, Styles

QUARANTINE_SHEET = "Cách ly"
CONFLICT_SHEET = "Xung đột"
FINDINGS_SHEET = "Kiểm tra dữ liệu"
NON_DATA_SHEET = "Dòng không phải dữ liệu"
GUIDE_SHEET = "Guide (English)"  # the English explanation of the handover records, which are Vietnamese only


def quarantine_sheet(wb: Any, conn: Connection, batch_id: str, st: Styles) -> None:
    sh = Sheet(wb, QUARANTINE_SHEET, [6, 14, 8, 26, 20, 24, 50, 50], st, freeze="A5")  # 2 title, 2 header
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
    for n, held in enumerate(iter_quarantined(conn, batch_id), 1):
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


def conflict_sheet(wb: Any, conn: Connection, batch_id: str, st: Styles) -> None:
    rows = iter_conflicts(conn, batch_id)
    first = next(rows, None)
    if first is None:
        return
    sh = Sheet(wb, CONFLICT_SHEET, [6, 14, 8, 26, 16, 50, 50], st)
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


def findings_sheet(wb: Any, conn: Connection, info: BatchInfo, st: Styles, shared: Shared) -> None:
    sh = Sheet(wb, FINDINGS_SHEET, [28, 12, 12, 12, 50, 50], st)
    sh.merged("KẾT QUẢ KIỂM TRA DỮ LIỆU", st.title)
    sh.merged("Data-quality findings per check", st.subtitle)
    sh.headers(
        ["Kiểm tra", "Mức độ", "Số phát hiện", "Số dòng", "Ví dụ", "Ví dụ (tiếng Anh)"],
        ["Check", "Severity", "Findings", "Rows", "Example (Vietnamese)", "Example (English)"],
    )
    for f in shared.get(conn, findings_per_check, info.batch_id):
        level = "Lỗi (error)" if f["severity"] == "error" else "Cảnh báo (warning)"
        sh.data([f["check"], level, f["count"], f["rows"], f["example_vi"], f["example_en"]])
    gx = info.summary.get("gx")
    if isinstance(gx, list) and gx:
        sh.blank()
        sh.merged("Kết quả great-expectations trên các dòng đã nạp (GX results on the loaded rows)", st.label)
        sh.headers(
            ["Bộ kiểm tra", "Kỳ vọng", "Cột", "Đạt", "Số sai", "Số phần tử", "Đánh dấu (mọi dòng đọc được)"],
            [
                "Suite",
                "Expectation",
                "Column",
                "Success",
                "Unexpected",
                "Elements",
                "Flagged (every row read)",
            ],
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
                    g.get("flagged"),
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


def non_data_sheet(wb: Any, conn: Connection, info: BatchInfo, st: Styles, shared: Shared) -> None:
    sh = Sheet(wb, NON_DATA_SHEET, [22, 12, 14, 16, 60, 14, 10], st)
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
    ledger = shared.get(conn, ledger_tally, info.batch_id).sources
    listed: list[tuple[str, Any]] = []
    for source in sources(conn, info.batch_id):
        account = row_account(source)
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


def guide_sheet(wb: Any, st: Styles) -> None:
    """The English guide to the handover records (the signed documents themselves are Vietnamese only)."""
    sh = Sheet(wb, GUIDE_SHEET, [34, 40, 70], st, landscape=False)
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
        *((vi, en, "Column of the list.") for vi, en in zip(COMMUNE_VI, COMMUNE_EN, strict=True)),
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
