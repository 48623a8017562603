"""Huyện Bảo Thắng's source: a printed-list style Excel export (title lines, merged cells, a total line and a
signature block, dates as real dates and as dd/mm/yyyy text, CCCD as numbers)."""

from __future__ import annotations

import io
import random
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

from handover.demo.dossiers import Dossier, address_of, dmy
from handover.demo.extras import Extra
from handover.demo.people import short_name

FIXED_STAMP = (2025, 7, 1, 8, 0, 0)  # zip entry times and workbook properties: byte-identical output

BT_HEADERS = ["STT", "Mã hồ sơ", "Tên thủ tục", "Mã thủ tục", "Lĩnh vực", "Chủ hồ sơ", "Số CCCD",
              "Số điện thoại", "Địa chỉ", "Xã/Thị trấn", "Ngày tiếp nhận", "Ngày hẹn trả", "Trạng thái",
              "Hình thức", "Lệ phí (đồng)", "Số tiền đã thu", "Ngày thu phí", "Hình thức thu phí", "Số biên lai",
              "Tệp đính kèm", "Ghi chú"]  # fmt: skip
BT_COLUMNS = {"Mã hồ sơ": "dossier_code", "Tên thủ tục": "procedure_name", "Mã thủ tục": "procedure_code",
              "Lĩnh vực": "sector_name", "Chủ hồ sơ": "applicant_name", "Số CCCD": "applicant_id",
              "Số điện thoại": "phone", "Địa chỉ": "address", "Xã/Thị trấn": "old_commune_name",
              "Ngày tiếp nhận": "received_date", "Ngày hẹn trả": "due_date", "Trạng thái": "status_raw",
              "Hình thức": "channel", "Ghi chú": "notes"}  # fmt: skip


def _normalise_xlsx(path: Path) -> None:
    """Fix the zip entry times and the workbook's modified stamp so equal inputs give equal bytes."""
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    stamp = datetime(*FIXED_STAMP).strftime("%Y-%m-%dT%H:%M:%SZ")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    data,
                )
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_STAMP)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            zout.writestr(fixed, data)
    path.write_bytes(buffer.getvalue())


def write_bao_thang(path: Path, rows: list[Dossier], rng: random.Random, extras: dict[int, Extra]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    wb.properties.creator = "Bộ phận Một cửa huyện Bảo Thắng"
    wb.properties.created = datetime(*FIXED_STAMP)
    ws = wb.active
    ws.title = "Danh sách hồ sơ"
    width = len(BT_HEADERS)
    last = chr(ord("A") + width - 1)
    titles = ["UBND HUYỆN BẢO THẮNG", "DANH SÁCH HỒ SƠ ĐANG GIẢI QUYẾT", "(Tính đến ngày 30/06/2025)"]
    for r, text in enumerate(titles, start=1):
        ws.cell(row=r, column=1, value=text).font = Font(bold=r < 3, size=13 if r == 2 else 11)
        ws.cell(row=r, column=1).alignment = Alignment(horizontal="center")
        ws.merge_cells(f"A{r}:{last}{r}")
    header_row = 5
    for j, h in enumerate(BT_HEADERS, start=1):
        cell = ws.cell(row=header_row, column=j, value=h)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    tcvn3_code = next((d.code for d in rows if d.note), None)
    for k, d in enumerate(rows, start=1):
        r = header_row + k
        as_date = d.style[0] < 0.5
        x = extras[id(d)]
        note = d.note
        if d.code == tcvn3_code:
            note = "Chuyển hồ sơ về xã B¶o Th¾ng"  # one dossier's note left in TCVN3 look-alikes
        values: list[object] = [
            k,
            d.code,
            d.procedure_name,
            d.procedure_code or None,
            d.sector,
            d.applicant,
            # CCCD typed as a number: Excel drops the leading zero; old CMNDs were typed as text
            int(d.applicant_id) if len(d.applicant_id) == 12 and d.applicant_id.isdigit() else d.applicant_id,
            int(d.phone) if d.phone and d.style[1] < 0.5 else (d.phone or None),
            address_of(d, "Huyện Bảo Thắng"),
            d.commune_text if d.style[2] < 0.7 else short_name(d.commune_text),
            d.received if as_date and isinstance(d.received, date) else dmy(d.received),
            d.due if as_date else dmy(d.due),
            d.status,
            int(d.channel),
            x.fee,
            x.paid,
            x.paid_on,
            x.pay_channel or None,
            x.receipt or None,
            "; ".join(x.files) or None,
            note or None,
        ]
        for j, v in enumerate(values, start=1):
            cell = ws.cell(row=r, column=j, value=v)
            if isinstance(v, date):
                cell.number_format = "dd/mm/yyyy"
    end = header_row + len(rows)
    ws.cell(row=end + 1, column=1, value=f"Tổng cộng: {len(rows)} hồ sơ").font = Font(bold=True)
    ws.merge_cells(f"A{end + 1}:E{end + 1}")
    sign = end + 3
    ws.cell(row=sign, column=10, value="Bảo Thắng, ngày 30 tháng 6 năm 2025")
    for col, title, person in (
        (2, "Người lập biểu", "Phạm Thị Hồng"),
        (10, "Trưởng bộ phận Một cửa", "Lê Văn Thắng"),
    ):
        ws.cell(row=sign + 1, column=col, value=title).font = Font(bold=True)
        ws.cell(row=sign + 2, column=col, value="(Ký, ghi rõ họ tên)").font = Font(italic=True)
        ws.cell(row=sign + 6, column=col, value=person)
    widths = [6, 26, 40, 14, 20, 24, 15, 13, 45, 18, 14, 14, 18, 10, 12, 12, 12, 16, 12, 40, 30]
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[chr(ord("A") + j - 1)].width = w
    wb.save(path)
    _normalise_xlsx(path)
