"""Chunk frames as the pipeline hands them to the loader, built by hand (no other stage involved)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from handover.models import (
    MAPPED_COLUMNS,
    Chunk,
    Entity,
    Finding,
    Severity,
    SourceFingerprint,
    fields_for,
)

SHA_A = "a" * 64
SHA_B = "b" * 64


def dossier(code: str, **overrides: Any) -> dict[str, Any]:
    """One mapped, validated dossier row (Huyện Bảo Thắng, Xã Sơn Hà → Xã Bảo Thắng)."""
    row: dict[str, Any] = {
        "dossier_code": code,
        "procedure_code": "1.001612",
        "procedure_name": "Đăng ký khai sinh",
        "sector_code": "HT",
        "sector_name": "Hộ tịch",
        "applicant_name": "Nguyễn Thị Hoà",
        "applicant_type": "1",
        "applicant_id": "010203004005",
        "phone": "0912345678",
        "summary": "Đăng ký khai sinh cho con",
        "received_date": "2025-06-20",
        "due_date": "2025-07-03",
        "status_raw": "Đang xử lý",
        "status_code": "2",
        "channel": "1",
        "fee": 0.0,
        "address": "Thôn Cóc, xã Sơn Hà",
        "village": "Thôn Cóc",
        "old_province_code": "10",
        "old_district_code": "086",
        "old_commune_code": "02938",
        "old_province_name": "Tỉnh Lào Cai",
        "old_district_name": "Huyện Bảo Thắng",
        "old_commune_name": "Xã Sơn Hà",
        "unit_status": "unique",
        "unit_method": "code",
        "unit_relation": "whole",
        "new_province_code": "15",
        "new_commune_code": "02905",
        "new_commune_name": "Xã Bảo Thắng",
        "handling_level": "commune_pc",
        "handling_agency": "UBND Xã Bảo Thắng",
        "due_flag": "due_soon",
        "disposition": "loaded",
        "reason": None,
        "extras": json.dumps({"Ghi chú nội bộ": "ưu tiên"}, ensure_ascii=False),
    }
    row.update(overrides)
    return row


def record(number: str, record_type: str = "birth", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "record_type": record_type,
        "record_number": number,
        "registered_date": "2024-03-01",
        "subject_name": "Lò Văn Sáng",
        "subject_id": "010203004006",
        "subject_birth_date": "2024-02-20",
        "amount": 360000.5,
        "old_commune_code": "02938",
        "new_commune_code": "02905",
        "unit_status": "unique",
        "disposition": "loaded",
        "reason": None,
    }
    row.update(overrides)
    return row


def frame(
    rows: list[dict[str, Any]], *, source_id: str = "bt", entity: Entity = Entity.DOSSIER, first_row: int = 2
) -> pd.DataFrame:
    """A chunk frame with every column the loader can receive, in pipeline order."""
    columns = [
        "source_id",
        "source_row",
        "extras",
        *fields_for(entity),
        *MAPPED_COLUMNS,
        "disposition",
        "reason",
    ]
    data = []
    for offset, given in enumerate(rows):
        row = {c: None for c in columns}
        row.update({"source_id": source_id, "source_row": given.pop("source_row", first_row + offset)})
        row["source_system"] = source_id
        row.update(given)
        data.append(row)
    return pd.DataFrame(data, columns=columns)


def chunk(
    rows: list[dict[str, Any]],
    *,
    source_id: str = "bt",
    index: int = 0,
    entity: Entity = Entity.DOSSIER,
    first_row: int | None = None,
    findings: list[Finding] | None = None,
) -> Chunk:
    start = first_row if first_row is not None else 2 + index * 1000
    return Chunk(
        source_id=source_id,
        entity=entity,
        index=index,
        frame=frame([dict(r) for r in rows], source_id=source_id, entity=entity, first_row=start),
        findings=list(findings or []),
    )


def source(source_id: str = "bt", sha: str = SHA_A, entity: Entity = Entity.DOSSIER) -> SourceFingerprint:
    return SourceFingerprint(
        source_id=source_id,
        kind="csv",
        location=f"/data/{source_id}.csv",
        entity=entity,
        sha256=sha,
        size_bytes=1234,
    )


def warning(source_id: str, row: int, key: str) -> Finding:
    return Finding(
        source_id=source_id,
        row=row,
        key=key,
        field="phone",
        check="phone_format",
        severity=Severity.WARNING,
        message_vi="Số điện thoại sai định dạng.",
        message_en="Phone number malformed.",
    )
