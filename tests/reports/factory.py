"""A realistic target database for the report tests, filled by inserting straight into the schema tables.

Two sources of one batch: ``bao_thang`` (dossiers of Huyện Bảo Thắng 086) and ``van_ban`` (civil-status records of
Huyện Văn Bàn 089); three receiving new communes; every disposition; review rows with candidates and
suggestions; quarantined rows with findings; a content conflict; text that looks like formulas.
The expected figures below (:data:`EXPECTED`) are written by hand from the row lists, not computed by the code
under test.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, insert

from handover.target import schema

BATCH = "lc-2025-07-01"
C1 = ("02905", "Xã Bảo Thắng")
C2 = ("02935", "Xã Phong Hải")
C3 = ("03232", "Xã Văn Bàn")
BT = ("086", "Huyện Bảo Thắng")
VB = ("089", "Huyện Văn Bàn")
EVIL_NAME = '=HYPERLINK("http://evil.example/x","Bấm vào đây")'
EVIL_PHONE = "+84912345678"
EVIL_SUBJECT = "@SUM(1+1) Lò Thị Mai"
ID_PLAIN = "001203012345"  # must never appear unmasked
ID_MASKED = "001******345"
PHONES = ("0912345678", EVIL_PHONE)
NAMES = ("Nguyễn Văn An", "Trần Thị Bình", EVIL_NAME, "Hoàng Văn Cường", "Lò Văn Dũng", EVIL_SUBJECT)

EXPECTED: dict[str, dict[str, int]] = {
    "bao_thang": {"extracted": 11, "loaded": 5, "review": 2, "quarantined": 2, "excluded": 1, "duplicate": 1},
    "van_ban": {"extracted": 7, "loaded": 3, "review": 1, "quarantined": 1, "excluded": 1, "duplicate": 1},
}
EXPECTED_TOTAL = {"extracted": 18, "loaded": 8, "review": 3, "quarantined": 3, "excluded": 2, "duplicate": 2}
# loaded per receiving commune: (dossiers, records)
EXPECTED_COMMUNES = {C1[0]: (3, 0), C2[0]: (2, 1), C3[0]: (0, 2)}

NOW = datetime(2025, 7, 1, 9, 30)


def _hash(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _old(district: tuple[str, str], code: str, name: str) -> dict[str, Any]:
    return {
        "old_province_code": "10",
        "old_district_code": district[0],
        "old_district_name": district[1],
        "old_commune_code": code,
        "old_commune_name": name,
        "old_province_name": "Tỉnh Lào Cai",
    }


def _new(commune: tuple[str, str] | None) -> dict[str, Any]:
    if commune is None:
        return {"new_province_code": None, "new_commune_code": None, "new_commune_name": None}
    return {"new_province_code": "15", "new_commune_code": commune[0], "new_commune_name": commune[1]}


SON_HA = (BT, "02938", "Xã Sơn Hà")
PHO_LU = (BT, "02902", "Thị trấn Phố Lu")
SON_HAI = (BT, "02941", "Xã Sơn Hải")
XUAN_QUANG = (BT, "02950", "Xã Xuân Quang")
KHANH_YEN = (VB, "03232", "Thị trấn Khánh Yên")
LIEM_PHU = (VB, "03238", "Xã Liêm Phú")

# bao_thang dossiers: (row, code, disposition, old unit, new commune, applicant, id, phone, received, due, flag)
DOSSIERS = [
    (
        2,
        "000.00.53.H38-250601-0001",
        "loaded",
        SON_HA,
        C1,
        NAMES[0],
        ID_PLAIN,
        PHONES[0],
        date(2025, 6, 1),
        date(2025, 6, 20),
        "overdue",
    ),
    (
        3,
        "000.00.53.H38-250602-0002",
        "loaded",
        PHO_LU,
        C1,
        EVIL_NAME,
        "012345678",
        EVIL_PHONE,
        date(2025, 6, 2),
        date(2025, 7, 3),
        "due_soon",
    ),
    (
        4,
        "000.00.53.H38-250603-0003",
        "loaded",
        SON_HA,
        C1,
        NAMES[1],
        "035188001234",
        None,
        date(2025, 6, 3),
        date(2025, 7, 30),
        "on_time",
    ),
    (
        5,
        "000.00.53.H38-250604-0004",
        "loaded",
        XUAN_QUANG,
        C2,
        NAMES[3],
        "0101234567",
        "0987654321",
        date(2025, 6, 4),
        None,
        "no_date",
    ),
    (
        6,
        "000.00.53.H38-250605-0005",
        "loaded",
        XUAN_QUANG,
        C2,
        NAMES[4],
        None,
        None,
        date(2025, 6, 5),
        date(2025, 6, 25),
        "overdue",
    ),
]
RECORDS = [
    (2, "birth", "KS-2025-0101", "loaded", KHANH_YEN, C3, "Lò Văn Em", "038205004321", date(2025, 5, 10)),
    (3, "marriage", "KH-2025-0007", "loaded", KHANH_YEN, C3, EVIL_SUBJECT, "038199007777", date(2025, 5, 11)),
    (4, "death", "KT-2025-0003", "loaded", LIEM_PHU, C2, "Phàn Văn Giàng", None, date(2025, 5, 12)),
]


def build_target(
    engine: Engine, batch_id: str = BATCH, *, fingerprint: str | None = "auto"
) -> dict[str, Any]:
    """Create the schema on ``engine`` and fill one finished batch. Returns handy facts for the tests."""
    schema.metadata.create_all(engine)
    ledger: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    dossier_rows: list[dict[str, Any]] = []
    record_rows: list[dict[str, Any]] = []

    def led(
        source: str, row: int, entity: str, key: str | None, disposition: str, unit, new, **extra
    ) -> None:
        district, code, name = unit
        ledger.append(
            {
                **dict.fromkeys(c.name for c in schema.ledger.columns),
                "batch_id": batch_id,
                "source_id": source,
                "source_row": row,
                "entity": entity,
                "natural_key": key,
                "content_hash": _hash(source, key, row) if key else None,
                "disposition": disposition,
                **_old(district, code, name),
                **_new(new),
                "unit_status": extra.pop("unit_status", "unique"),
                **extra,
            }
        )

    def finding(
        source: str, row: int, key: str | None, field: str, check: str, severity: str, vi: str, en: str
    ):
        findings.append(
            {
                "batch_id": batch_id,
                "source_id": source,
                "source_row": row,
                "natural_key": key,
                "field": field,
                "check_name": check,
                "severity": severity,
                "message_vi": vi,
                "message_en": en,
            }
        )

    for row, code, disp, unit, new, applicant, id_no, phone, received, due, flag in DOSSIERS:
        led("bao_thang", row, "dossier", code, disp, unit, new, action="inserted")
        district, old_code, old_name = unit
        dossier_rows.append(
            {
                **dict.fromkeys(c.name for c in schema.dossiers.columns if c.name != "id"),
                "source_system": "bao_thang",
                "dossier_code": code,
                "procedure_code": "1.001612",
                "procedure_name": "Đăng ký hộ kinh doanh",
                "applicant_name": applicant,
                "applicant_id": id_no,
                "phone": phone,
                "received_date": received,
                "due_date": due,
                "due_flag": flag,
                "status_raw": "Đang xử lý",
                "notes": "+84 gọi lại" if row == 3 else None,
                "handling_level": "commune_bro" if row == 5 else "commune_pc",
                "handling_agency": "Phòng Đăng ký kinh doanh xã" if row == 5 else "UBND xã",
                **_old(district, old_code, old_name),
                **_new(new),
                "content_hash": _hash("bao_thang", code, row),
                "batch_id": batch_id,
                "loaded_at": NOW,
            }
        )
    # review: a split commune with two candidates, and a commune not found with suggestions
    led(
        "bao_thang",
        7,
        "dossier",
        "000.00.53.H38-250606-0006",
        "review",
        SON_HAI,
        None,
        unit_status="split",
        reason="Xã cũ bị chia tách / old commune split",
        candidates=json.dumps(
            [
                {"province_code": "15", "commune_code": C1[0], "name": C1[1]},
                {"province_code": "15", "commune_code": C2[0], "name": C2[1]},
            ],
            ensure_ascii=False,
        ),
        payload=json.dumps({"village": "Thôn Cóc Sâm", "applicant_name": NAMES[0]}, ensure_ascii=False),
    )
    led(
        "bao_thang",
        8,
        "dossier",
        "000.00.53.H38-250607-0007",
        "review",
        (BT, None, "Xã Sơn Hỏa"),
        None,
        unit_status="not_found",
        reason="Không tìm thấy xã / commune not found",
        payload=json.dumps(
            {"unit_suggestions": json.dumps(["Xã Sơn Hà", "Xã Sơn Hải"], ensure_ascii=False)},
            ensure_ascii=False,
        ),
    )
    # quarantined: one with two findings, one with a formula-looking key
    led(
        "bao_thang",
        9,
        "dossier",
        "000.00.53.H38-250608-0008",
        "quarantined",
        SON_HA,
        C1,
        reason="Lỗi dữ liệu",
    )
    finding(
        "bao_thang",
        9,
        "000.00.53.H38-250608-0008",
        "received_date",
        "date_parse",
        "error",
        "Ngày tiếp nhận không đọc được: 31/02/2025",
        "Received date cannot be read: 31/02/2025",
    )
    finding(
        "bao_thang",
        9,
        "000.00.53.H38-250608-0008",
        "applicant_id",
        "id_format",
        "warning",
        "Số định danh không đúng định dạng",
        "ID number has a wrong format",
    )
    led("bao_thang", 10, "dossier", "-1+2", "quarantined", SON_HA, C1, reason="Lỗi dữ liệu")
    finding(
        "bao_thang",
        10,
        "-1+2",
        "dossier_code",
        "dossier_code_unique",
        "error",
        "Mã hồ sơ trùng trong nguồn",
        "Dossier code repeated in the source",
    )
    led(
        "bao_thang",
        11,
        "dossier",
        "000.00.53.H38-250101-0010",
        "excluded",
        PHO_LU,
        C1,
        reason="Đã trả kết quả",
    )
    led(
        "bao_thang",
        12,
        "dossier",
        "000.00.53.H38-250601-0001",
        "duplicate",
        SON_HA,
        C1,
        reason="Trùng dòng 2",
    )
    # a content conflict on a loaded row
    finding(
        "bao_thang",
        4,
        "000.00.53.H38-250603-0003",
        "applicant_name",
        "content_conflict",
        "warning",
        "Cùng mã hồ sơ, nội dung khác bản đã nạp",
        "Same key, content differs from the loaded version",
    )

    for row, rtype, number, disp, unit, new, subject, id_no, registered in RECORDS:
        key = f"{rtype}/{number}"
        led("van_ban", row, "record", key, disp, unit, new, action="inserted")
        district, old_code, old_name = unit
        record_rows.append(
            {
                **dict.fromkeys(c.name for c in schema.records.columns if c.name != "id"),
                "source_system": "van_ban",
                "record_type": rtype,
                "record_number": number,
                "registered_date": registered,
                "subject_name": subject,
                "subject_id": id_no,
                "status_raw": "Đã đăng ký",
                **_old(district, old_code, old_name),
                **_new(new),
                "content_hash": _hash("van_ban", key, row),
                "batch_id": batch_id,
                "loaded_at": NOW,
            }
        )
    led(
        "van_ban",
        5,
        "record",
        "birth/KS-2025-0102",
        "review",
        (VB, None, "Xã Tân An"),
        None,
        unit_status="ambiguous",
        reason="Tên xã trùng / ambiguous",
        candidates=json.dumps(
            [{"commune_code": "03250", "name": "Xã Tân An"}, {"commune_code": "04501", "name": "Xã Tân An"}],
            ensure_ascii=False,
        ),
    )
    led("van_ban", 6, "record", "birth/KS-2025-0103", "quarantined", LIEM_PHU, C2, reason="Lỗi")
    finding(
        "van_ban",
        6,
        "birth/KS-2025-0103",
        "registered_date",
        "date_parse",
        "error",
        "Ngày đăng ký không đọc được",
        "Registration date cannot be read",
    )
    led("van_ban", 7, "record", "death/KT-2024-0001", "excluded", LIEM_PHU, C2, reason="Không còn xử lý")
    led("van_ban", 8, "record", "birth/KS-2025-0101", "duplicate", KHANH_YEN, C3, reason="Trùng dòng 2")

    chunk_rows = []
    for source, index, rows_range in (
        ("bao_thang", 0, range(2, 8)),
        ("bao_thang", 1, range(8, 13)),
        ("van_ban", 0, range(2, 9)),
    ):
        part = [r for r in ledger if r["source_id"] == source and r["source_row"] in rows_range]
        counts = {
            d: sum(r["disposition"] == d for r in part)
            for d in ("loaded", "review", "quarantined", "excluded", "duplicate")
        }
        chunk_rows.append(
            {
                "batch_id": batch_id,
                "source_id": source,
                "chunk_index": index,
                "rows": len(part),
                **counts,
                "inserted": counts["loaded"],
                "conflicts": 0,
                "committed_at": NOW,
            }
        )

    lines = sorted(
        f"{r['entity']}|{r['source_id']}|{r['natural_key']}|{r['content_hash']}\n".encode()
        for r in ledger
        if r["disposition"] == "loaded"
    )
    digest = hashlib.sha256(b"".join(lines)).hexdigest()
    summary = {
        "counts": EXPECTED_TOTAL,
        "per_source": EXPECTED,
        "findings": {"date_parse": 2, "id_format": 1, "dossier_code_unique": 1, "content_conflict": 1},
        "gx": [
            {
                "suite": "dossier",
                "expectation": "expect_column_values_to_match_regex",
                "column": "dossier_code",
                "success": False,
                "unexpected_count": 1,
                "element_count": 11,
            },
            {
                "suite": "dossier",
                "expectation": "expect_column_values_to_not_be_null",
                "column": "received_date",
                "success": True,
                "unexpected_count": 0,
                "element_count": 11,
            },
        ],
        "rules": [
            {"old_commune_code": "02941", "keyword": "Cóc Sâm", "new_commune_code": C1[0], "matches": 0}
        ],
    }
    with engine.begin() as conn:
        conn.execute(
            insert(schema.batches),
            [
                {
                    "batch_id": batch_id,
                    "description": "Chuyển hồ sơ <huyện> Bảo Thắng & Văn Bàn <script>alert(1)</script>",
                    "config_sha256": "c" * 64,
                    "status": "finished",
                    "started_at": NOW,
                    "finished_at": datetime(2025, 7, 1, 9, 35),
                    "tool_version": "0.1.0",
                    "fingerprint": digest if fingerprint == "auto" else fingerprint,
                    "summary_json": json.dumps(summary, ensure_ascii=False),
                }
            ],
        )
        conn.execute(
            insert(schema.batch_sources),
            [
                {
                    "batch_id": batch_id,
                    "source_id": "bao_thang",
                    "kind": "xlsx",
                    "entity": "dossier",
                    "location": "exports/bao_thang.xlsx",
                    "sha256": "a" * 64,
                    "size_bytes": 48213,
                    "rows_extracted": 11,
                    "complete": 1,
                },
                {
                    "batch_id": batch_id,
                    "source_id": "van_ban",
                    "kind": "csv",
                    "entity": "record",
                    "location": "exports/van_ban.csv",
                    "sha256": "b" * 64,
                    "size_bytes": 2291,
                    "rows_extracted": 7,
                    "complete": 1,
                },
            ],
        )
        conn.execute(insert(schema.chunks), chunk_rows)
        conn.execute(insert(schema.ledger), ledger)
        conn.execute(insert(schema.findings), findings)
        conn.execute(insert(schema.dossiers), dossier_rows)
        conn.execute(insert(schema.records), record_rows)
    return {"batch_id": batch_id, "fingerprint": digest}


def add_bulk_dossiers(engine: Engine, batch_id: str, n: int, commune: tuple[str, str] = C1) -> None:
    """Add ``n`` loaded dossiers (ledger + dossiers + one chunk) to an existing batch: for memory tests."""
    source = f"bulk_{n}"
    step = 5000
    with engine.begin() as conn:
        for start in range(0, n, step):
            stop = min(start + step, n)
            keys = [f"000.00.53.H38-250701-{i:06d}" for i in range(start, stop)]
            conn.execute(
                insert(schema.ledger),
                [
                    {
                        "batch_id": batch_id,
                        "source_id": source,
                        "source_row": i + 2,
                        "entity": "dossier",
                        "natural_key": k,
                        "content_hash": _hash(k),
                        "disposition": "loaded",
                        **_old(BT, "02938", "Xã Sơn Hà"),
                        **_new(commune),
                    }
                    for i, k in zip(range(start, stop), keys, strict=True)
                ],
            )
            conn.execute(
                insert(schema.dossiers),
                [
                    {
                        "source_system": source,
                        "dossier_code": k,
                        "procedure_name": "Cấp giấy phép xây dựng nhà ở riêng lẻ",
                        "applicant_name": f"Nguyễn Văn {i}",
                        "applicant_id": f"{i:012d}",
                        "phone": f"09{i:08d}",
                        "received_date": date(2025, 6, 1),
                        "due_date": date(2025, 6, 30),
                        "due_flag": "overdue",
                        **_old(BT, "02938", "Xã Sơn Hà"),
                        **_new(commune),
                        "content_hash": _hash(k),
                        "batch_id": batch_id,
                        "loaded_at": NOW,
                    }
                    for i, k in zip(range(start, stop), keys, strict=True)
                ],
            )
        conn.execute(
            insert(schema.chunks),
            [
                {
                    "batch_id": batch_id,
                    "source_id": source,
                    "chunk_index": 0,
                    "rows": n,
                    "loaded": n,
                    "review": 0,
                    "quarantined": 0,
                    "excluded": 0,
                    "duplicate": 0,
                    "inserted": n,
                    "conflicts": 0,
                    "committed_at": NOW,
                }
            ],
        )


def add_round(
    engine: Engine,
    batch_id: str,
    started: datetime,
    new: list[tuple[str, tuple[str, str]]],
    *,
    unchanged: int = 2,
    status: str = "finished",
    updated: int = 0,
) -> None:
    """A later batch of source ``bao_thang`` (started at ``started``): it finds the first ``unchanged`` loaded
    dossiers of :data:`DOSSIERS` unchanged (the first ``updated`` of them it records as updated instead: ledger
    action ``updated``) and inserts the dossiers ``new`` ((code, new commune) each). A
    ``rolled_back`` batch keeps its batches and batch_sources rows only, as a rollback leaves it."""
    from sqlalchemy import select

    ledger_rows: list[dict[str, Any]] = []
    dossier_rows: list[dict[str, Any]] = []
    with engine.connect() as conn:
        old = conn.execute(
            select(schema.dossiers).where(schema.dossiers.c.batch_id == BATCH).order_by(schema.dossiers.c.id)
        ).mappings()
        kept = [dict(r) for r in old][:unchanged]
    for row, found in enumerate(kept, 2):
        ledger_rows.append(
            {
                **dict.fromkeys(c.name for c in schema.ledger.columns),
                **{
                    k: found[k]
                    for k in (
                        "content_hash",
                        *(
                            c.name
                            for c in schema.ledger.columns
                            if "_commune" in c.name or "_district" in c.name or "_province" in c.name
                        ),
                    )
                },
                "batch_id": batch_id,
                "source_id": "bao_thang",
                "source_row": row,
                "entity": "dossier",
                "natural_key": found["dossier_code"],
                "disposition": "loaded",
                "action": "updated" if row - 2 < updated else "unchanged",
                "unit_status": "unique",
            }
        )
    for row, (code, commune) in enumerate(new, 2 + len(kept)):
        unit = _old(BT, "02941", "Xã Sơn Hải")
        ledger_rows.append(
            {
                **dict.fromkeys(c.name for c in schema.ledger.columns),
                **unit,
                **_new(commune),
                "batch_id": batch_id,
                "source_id": "bao_thang",
                "source_row": row,
                "entity": "dossier",
                "natural_key": code,
                "content_hash": _hash("bao_thang", code, row),
                "disposition": "loaded",
                "action": "inserted",
                "unit_status": "decided",
            }
        )
        dossier_rows.append(
            {
                **dict.fromkeys(c.name for c in schema.dossiers.columns if c.name != "id"),
                "source_system": "bao_thang",
                "dossier_code": code,
                "procedure_name": "Đăng ký hộ kinh doanh",
                "applicant_name": "Lò Văn Dũng",
                "received_date": date(2025, 6, 6),
                "due_date": date(2025, 6, 30),
                "due_flag": "overdue",
                "status_raw": "Đang xử lý",
                **unit,
                **_new(commune),
                "content_hash": _hash("bao_thang", code, row),
                "batch_id": batch_id,
                "loaded_at": started,
            }
        )
    rolled_back = status == "rolled_back"
    with engine.begin() as conn:
        conn.execute(
            insert(schema.batches),
            [
                {
                    "batch_id": batch_id,
                    "description": "Vòng quyết định",
                    "status": status,
                    "started_at": started,
                    "finished_at": started.replace(minute=started.minute + 1),
                    "tool_version": "0.1.0",
                }
            ],
        )
        conn.execute(
            insert(schema.batch_sources),
            [
                {
                    "batch_id": batch_id,
                    "source_id": "bao_thang",
                    "kind": "xlsx",
                    "entity": "dossier",
                    "location": "exports/bao_thang.xlsx",
                    "sha256": "a" * 64,
                    "complete": 1,
                }
            ],
        )
        if not rolled_back:
            conn.execute(insert(schema.ledger), ledger_rows)
            if dossier_rows:
                conn.execute(insert(schema.dossiers), dossier_rows)
