"""The Vietnamese (and English) labels of the workbook's figures: dispositions, due states, record types,
unit statuses, non-data rules, the columns of a handover record."""

from __future__ import annotations

from handover.models import DISPOSITIONS

DISPOSITION_VI = {
    "extracted": "Tổng số trích xuất",
    "loaded": "Đã chuyển",
    "review": "Cần xem xét",
    "quarantined": "Cách ly",
    "excluded": "Không còn xử lý",
    "duplicate": "Trùng lặp",
}
DISPOSITION_EN = {
    "extracted": "Extracted",
    "loaded": "Loaded",
    "review": "Review",
    "quarantined": "Quarantined",
    "excluded": "Excluded (not pending)",
    "duplicate": "Duplicate",
}
COUNT_KEYS: tuple[str, ...] = ("extracted", *DISPOSITIONS)
DUE_VI = {"overdue": "Quá hạn", "due_soon": "Sắp đến hạn", "on_time": "Trong hạn", "no_date": "Không có hạn"}
RECORD_TYPE_VI = {
    "birth": "Đăng ký khai sinh",
    "marriage": "Đăng ký kết hôn",
    "death": "Đăng ký khai tử",
    "business_household": "Hộ kinh doanh",
    "construction_permit": "Giấy phép xây dựng",
    "social_allowance": "Trợ cấp xã hội hằng tháng",
}
UNIT_STATUS_VI = {
    "split": "Xã cũ bị chia tách (split)",
    "ambiguous": "Tên xã không rõ ràng (ambiguous)",
    "not_found": "Không tìm thấy xã (not found)",
}
RULE_VI = {
    "title": "Tiêu đề",
    "header": "Dòng tiêu đề cột",
    "blank": "Dòng trống",
    "numbering": "Dòng đánh số cột",
    "total": "Dòng tổng cộng",
    "subtotal": "Dòng tổng cộng giữa dữ liệu",
    "signature": "Chữ ký / ngày tháng",
}

# the columns of a handover record's list (section I dossiers, section II records), Vietnamese and English
COMMUNE_VI = [
    "STT",
    "Mã hồ sơ / Số",
    "Thủ tục / Loại hồ sơ",
    "Chủ hồ sơ / Người đăng ký",
    "Số định danh",
    "Điện thoại",
    "Ngày tiếp nhận / đăng ký",
    "Ngày hẹn trả",
    "Tình trạng hạn (mục I) / Trạng thái (mục II)",
    "Phí, lệ phí",
    "Xã cũ",
]
COMMUNE_EN = [
    "No.",
    "Dossier code / number",
    "Procedure / record type",
    "Applicant / subject",
    "ID (masked)",
    "Phone (masked)",
    "Received / registered",
    "Due date",
    "Due status (section I) / status (section II)",
    "Fee: paid, unpaid or free",
    "Old commune",
]
