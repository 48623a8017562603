"""Huyện Văn Bàn's source: a system export (CSV, UTF-8 with BOM, comma, unit codes); also the shape of every
district export :func:`handover.demo.districts.generate_district_exports` writes."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from handover.demo.dossiers import Dossier, address_of, dmy
from handover.demo.extras import Extra
from handover.demo.reference import PROVINCE, VAN_BAN

VB_HEADERS = ["Số hồ sơ", "Mã TTHC", "Tên TTHC", "Lĩnh vực", "Loại đối tượng", "Chủ hồ sơ", "Số CCCD/CMND",
              "Điện thoại", "Email", "Địa chỉ", "Mã tỉnh", "Mã huyện", "Mã xã", "Xã", "Ngày nhận", "Hạn trả",
              "Trạng thái", "Hình thức nộp", "Lệ phí", "Số tiền đã nộp", "Ngày thanh toán", "Hình thức thanh toán",
              "Số biên lai", "Ghi chú"]  # fmt: skip
VB_COLUMNS = {"Số hồ sơ": "dossier_code", "Mã TTHC": "procedure_code", "Tên TTHC": "procedure_name",
              "Lĩnh vực": "sector_name", "Loại đối tượng": "applicant_type", "Chủ hồ sơ": "applicant_name",
              "Số CCCD/CMND": "applicant_id", "Điện thoại": "phone", "Email": "email", "Địa chỉ": "address",
              "Mã tỉnh": "old_province_code", "Mã huyện": "old_district_code", "Mã xã": "old_commune_code",
              "Xã": "old_commune_name", "Ngày nhận": "received_date", "Hạn trả": "due_date",
              "Trạng thái": "status_raw", "Hình thức nộp": "channel", "Lệ phí": "fee",
              "Ghi chú": "notes"}  # fmt: skip


def write_van_ban(
    path: Path,
    rows: list[Dossier],
    rng: random.Random,
    district: tuple[str, str, str, str] = (PROVINCE, VAN_BAN, "Huyện Văn Bàn", "Tỉnh Lào Cai"),
    extras: dict[int, Extra] | None = None,
) -> None:
    """The system-export CSV (Văn Bàn's shape) of ``rows``, dossiers of ``district`` (province code, district
    code, district name, province name); ``extras``: each dossier's payment (none: the payment cells empty)."""
    province_code, district_code, district_name, province_name = district
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(VB_HEADERS)
        for d in rows:
            c = d.commune
            x = extras[id(d)] if extras is not None else Extra()
            with_code = c is not None and (c.district_code != district_code or d.style[2] < 0.7)
            received = d.received
            received_text = (
                received
                if isinstance(received, str)
                else (received.isoformat() if rng.random() < 0.2 else dmy(received))
            )
            w.writerow(
                [
                    d.code,
                    d.procedure_code,
                    d.procedure_name,
                    d.sector,
                    d.applicant_type,
                    d.applicant,
                    d.applicant_id,
                    d.phone,
                    d.email,
                    address_of(d, district_name, province_name),
                    c.province_code if c is not None else province_code,
                    c.district_code if c is not None else district_code,
                    c.code if with_code and c is not None else "",
                    d.commune_text,
                    received_text,
                    dmy(d.due),
                    d.status,
                    d.channel,
                    d.fee,
                    x.paid if x.paid is not None else "",
                    dmy(x.paid_on) if x.paid_on else "",
                    x.pay_channel,
                    x.receipt,
                    d.note,
                ]
            )
