"""``handover export portal``: the national portal's sync records of a batch, read back from the target."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import sqlite3
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from handover.cli import app
from handover.errors import BatchNotFoundError, ExitCode
from handover.exports.portal import FIELDS, SCHEMA_FILE, PortalDossier, portal_date, schema_json

runner = CliRunner()
BATCH = "demo-lao-cai-2025-07"

LOADED_SQL = """
SELECT d.source_system, d.dossier_code, d.handling_level, d.handling_agency, d.new_province_code,
       d.new_commune_code, d.new_commune_name, d.received_date
FROM ledger l JOIN dossiers d ON d.source_system = l.source_id AND d.dossier_code = l.natural_key
WHERE l.batch_id = :b AND l.disposition = 'loaded' AND l.entity = 'dossier'
"""


def _export(db_url: str, out: Path, batch: str = BATCH, *extra: str):
    return runner.invoke(app, ["export", "portal", batch, "--db", db_url, "--out", str(out), *extra])


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``handover demo --out tmp`` (SQLite target), once for the module."""
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def exported(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("portal")
    result = _export(f"sqlite:///{demo / 'target.db'}", out)
    assert result.exit_code == 0, result.output
    return out


def _loaded_rows(db_url: str) -> list[dict]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(LOADED_SQL), {"b": BATCH}).mappings()]
    finally:
        engine.dispose()


def _expected_unit(row: dict) -> str:
    if row["handling_level"] == "province_dept":
        return f"{row['handling_agency']}, Tỉnh Lào Cai ({row['new_province_code']})"
    return f"{row['new_commune_name']} ({row['new_commune_code']})"


def test_export_validates_against_its_json_schema(exported: Path) -> None:
    schema = json.loads((exported / SCHEMA_FILE).read_text(encoding="utf-8"))
    assert (exported / SCHEMA_FILE).read_text(encoding="utf-8") == schema_json()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    records = _jsonl(exported / f"{BATCH}-portal.jsonl")
    assert records
    for record in records:
        errors = [e.message for e in validator.iter_errors(record)]
        assert not errors, (record["MaHoSo"], errors)
        assert list(record) == list(FIELDS)
    # the schema has teeth: a wrong date form, an unknown channel, a missing field are refused
    bad = dict(records[0], NgayTiepNhan="2025-06-30")
    assert not validator.is_valid(bad)
    assert not validator.is_valid(dict(records[0], HinhThuc=7))
    assert not validator.is_valid({k: v for k, v in records[0].items() if k != "DonViXuLy"})


def test_one_record_per_loaded_dossier_and_the_new_unit(demo: Path, exported: Path) -> None:
    loaded = _loaded_rows(f"sqlite:///{demo / 'target.db'}")
    records = _jsonl(exported / f"{BATCH}-portal.jsonl")
    assert len(records) == len(loaded) > 500
    by_code = {r["dossier_code"]: r for r in loaded}
    assert len(by_code) == len(loaded)  # the demo's dossier codes are unique across its sources
    assert sorted(r["MaHoSo"] for r in records) == sorted(by_code)
    levels = set()
    for record in records:
        row = by_code[record["MaHoSo"]]
        levels.add(row["handling_level"])
        assert record["DonViXuLy"] == _expected_unit(row)
        assert record["NgayTiepNhan"] == portal_date(row["received_date"])
        assert BATCH in record["GhiChu"] and record["DonViXuLy"] in record["GhiChu"]
        assert record["GhiChu"].startswith("Hồ sơ bàn giao từ Huyện ")
    assert "province_dept" in levels and "commune_pc" in levels
    # sorted by MaHoSo in byte order
    codes = [r["MaHoSo"].encode() for r in records]
    assert codes == sorted(codes)
    # not loaded: held back rows of the batch are not exported
    with sqlite3.connect(demo / "target.db") as db:
        held = {
            k
            for (k,) in db.execute(
                "SELECT natural_key FROM ledger WHERE batch_id = ? AND entity = 'dossier' "
                "AND disposition <> 'loaded' AND natural_key IS NOT NULL",
                (BATCH,),
            )
        }
    assert held - set(by_code)  # keys only held back: none of them is exported
    assert not (held - set(by_code)) & {r["MaHoSo"] for r in records}


def test_fees_documents_and_dates(exported: Path) -> None:
    records = _jsonl(exported / f"{BATCH}-portal.jsonl")
    fees = [r["PhiLePhi"] for r in records if r["PhiLePhi"]]
    assert fees and all(len(f) == 1 and f[0]["SoTien"] >= 0 for f in fees)
    assert any(isinstance(f[0]["SoTien"], int) and f[0]["SoTien"] > 0 for f in fees)
    # the demo's dossiers: most fee-bearing ones paid (with the day, channel and receipt), the others not yet
    paid = [f[0] for f in fees if f[0]["DaThanhToan"]]
    unpaid = [f[0] for f in fees if not f[0]["DaThanhToan"] and f[0]["SoTien"] > 0]
    assert len(paid) > 3 * len(unpaid) > 0
    assert all(
        f["SoTienDaNop"] > 0 and f["NgayThanhToan"] and f["HinhThucThanhToan"] in (1, 2, 3) for f in paid
    )
    assert {f["HinhThucThanhToan"] for f in paid} == {1, 2, 3}
    assert len([f for f in paid if not f["SoBienLai"]]) == 1  # the demo's paid dossier without a receipt
    assert len([f for f in paid if f["SoTienDaNop"] > f["SoTien"]]) == 1  # and its overpaid one
    assert all(f["SoTienDaNop"] is None and f["SoBienLai"] is None for f in unpaid)
    for r in records:
        for field in ("NgayTiepNhan", "NgayHenTra", "NgayTra"):
            assert r[field] is None or re.fullmatch(r"\d{8}000000", r[field]), r[field]


def test_documents_are_the_files_the_batch_stored(demo: Path, exported: Path) -> None:
    """DanhSachGiayTo: each loaded dossier's files as dossier_attachments records them, every one in the store
    with its SHA-256; none for a dossier the batch stored no file of."""
    with sqlite3.connect(demo / "target.db") as db:
        stored = db.execute(
            "SELECT source_system, dossier_code, original_name, stored_path, sha256 FROM dossier_attachments "
            "WHERE batch_id = ?",
            (BATCH,),
        ).fetchall()
    expected: dict[str, list[dict]] = {}
    for _source, code, name, path, sha in sorted(stored, key=lambda r: (r[2].encode(), r[3].encode())):
        expected.setdefault(code, []).append({"TenGiayTo": name, "DuongDanTepTin": path, "MaBamSHA256": sha})
    records = _jsonl(exported / f"{BATCH}-portal.jsonl")
    documents = {r["MaHoSo"]: r["DanhSachGiayTo"] for r in records if r["DanhSachGiayTo"]}
    assert documents == expected and len(documents) > 300
    assert any(len(d) == 2 for d in documents.values())  # a dossier with two scans lists both
    store = demo / "target-attachments"
    for files in documents.values():
        for f in files:
            assert hashlib.sha256((store / f["DuongDanTepTin"]).read_bytes()).hexdigest() == f["MaBamSHA256"]


def test_csv_is_the_same_records(exported: Path) -> None:
    records = _jsonl(exported / f"{BATCH}-portal.jsonl")
    with open(exported / f"{BATCH}-portal.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        assert tuple(row) == FIELDS
        assert row["MaHoSo"] == record["MaHoSo"]
        assert row["DonViXuLy"] == record["DonViXuLy"]
        assert json.loads(row["PhiLePhi"]) == record["PhiLePhi"]
        assert json.loads(row["DanhSachGiayTo"]) == record["DanhSachGiayTo"]
        assert row["HinhThuc"] == ("" if record["HinhThuc"] is None else str(record["HinhThuc"]))


def test_second_export_is_byte_identical(demo: Path, exported: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{demo / 'target.db'}"
    again = tmp_path / "again"
    assert _export(db_url, again).exit_code == 0
    assert _export(db_url, again).exit_code == 0  # over its own files
    names = sorted(p.name for p in exported.iterdir())
    assert names == sorted(p.name for p in again.iterdir())  # no temporary file left
    assert names == sorted([f"{BATCH}-portal.jsonl", f"{BATCH}-portal.csv", SCHEMA_FILE])
    for name in names:
        assert (again / name).read_bytes() == (exported / name).read_bytes()
        assert stat.S_IMODE((again / name).stat().st_mode) == 0o600  # personal data: owner only


def test_unknown_batch_exits_9_and_writes_nothing(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _export(f"sqlite:///{demo / 'target.db'}", out, "nope")
    assert result.exit_code == ExitCode.NOT_FOUND == BatchNotFoundError.exit_code == 9
    assert "Batch 'nope' is not in the target database" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_missing_target_exits_9(tmp_path: Path) -> None:
    result = _export(f"sqlite:///{tmp_path / 'none.db'}", tmp_path / "out")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert not (tmp_path / "none.db").exists()


def test_json_output_and_formula_safe_csv(demo: Path, tmp_path: Path) -> None:
    db = tmp_path / "target.db"
    shutil.copy(demo / "target.db", db)
    with sqlite3.connect(db) as conn:
        code = conn.execute(
            "SELECT d.dossier_code FROM dossiers d JOIN ledger l ON l.source_id = d.source_system "
            "AND l.natural_key = d.dossier_code WHERE l.disposition = 'loaded' ORDER BY 1 LIMIT 1"
        ).fetchone()[0]
        conn.execute(
            "UPDATE dossiers SET applicant_name = '=HYPERLINK(\"http://x\")', phone = '+84912345678' "
            "WHERE dossier_code = ?",
            (code,),
        )
    out = tmp_path / "out"
    result = _export(f"sqlite:///{db}", out, BATCH, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dossiers"] == len(_loaded_rows(f"sqlite:///{db}"))
    assert Path(data["jsonl"]) == out / f"{BATCH}-portal.jsonl"
    first = _jsonl(out / f"{BATCH}-portal.jsonl")[0]
    assert first["MaHoSo"] == code and first["ChuHoSo"] == '=HYPERLINK("http://x")'
    with open(out / f"{BATCH}-portal.csv", encoding="utf-8", newline="") as f:
        row = next(csv.DictReader(f))
    assert row["ChuHoSo"] == '\'=HYPERLINK("http://x")' and row["SoDienThoai"] == "'+84912345678"


def test_portal_date() -> None:
    assert portal_date(None) is None
    assert portal_date(date(1994, 10, 24)) == "19941024000000"
    assert portal_date("1994-10-24") == "19941024000000"
    # an aware time stamp is shown in Asia/Ho_Chi_Minh: UTC 17:00 is local midnight of the next day
    assert portal_date(datetime(1994, 10, 23, 17, 0, tzinfo=UTC)) == "19941024000000"
    assert portal_date(datetime(2025, 7, 1, 8, 30, 5)) == "20250701083005"
    assert portal_date(datetime(2025, 2, 23, 3, 0, tzinfo=UTC)) == "20250223100000"
    assert portal_date("2025-02-23 14:35:20") == "20250223143520"


def test_a_time_of_day_wins_over_the_date() -> None:
    from handover.exports.portal import to_portal

    row = {
        "dossier_code": "H-1",
        "received_date": date(2025, 2, 23),
        "received_at": datetime(2025, 2, 23, 14, 35, 20),
        "due_date": date(2025, 3, 10),
        "due_at": None,
        "returned_date": date(2025, 3, 1),
        "returned_at": datetime(2025, 3, 1, 7, 5),
        "new_commune_name": "Xã Bảo Thắng",
        "new_commune_code": "02905",
    }
    record = to_portal(row, {}, None, "b")
    assert (record.NgayTiepNhan, record.NgayHenTra, record.NgayTra) == (
        "20250223143520",
        "20250310000000",
        "20250301070500",
    )


def _vendor_utc(day: str) -> str:
    """dd/mm/yyyy → the VNPT iGate form of its local midnight: the day before, 17:00 UTC."""
    local = datetime.strptime(day, "%d/%m/%Y")
    return (local - timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def test_source_times_and_vendor_utc_midnight_come_out_in_local_time(any_db_url: str, tmp_path: Path) -> None:
    """A crafted source whose received dates carry times: "dd/mm/yyyy 14:35:20" (local), UTC time stamps
    ("2025-02-23T03:00:00Z" is 10:00 local) and VNPT iGate's UTC stamps of local midnight
    ("1994-10-23T17:00:00.000+0000" is 24 Oct local). After extract → load → export each loaded dossier shows its
    local date-time (a date alone at 000000), never the UTC day or a truncated time; the target verifies, and a
    second export is byte-identical."""
    from handover.config import load_config
    from handover.demo.batch import generate_demo_inputs, write_demo_config
    from handover.pipeline.run import run_batch
    from handover.target.db import existing_target
    from handover.target.verify import verify_batch

    generate_demo_inputs(tmp_path, seed=7, rows=30)
    config = write_demo_config(tmp_path)
    source = tmp_path / "exports" / "van_ban_089.csv"
    with open(source, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    col, due_col = rows[0].index("Ngày nhận"), rows[0].index("Hạn trả")
    expected: dict[str, str] = {}
    for k, row in enumerate(rows[1:]):
        try:
            day = datetime.strptime(row[col], "%d/%m/%Y")
        except ValueError:  # the demo's deliberately broken dates stay as they are
            continue
        # local midnight as a vendor UTC stamp: every other one 24 Oct 1994 (due dates are later)
        if k % 4 == 0:
            in_1994 = k % 8 == 0
            row[col] = "1994-10-23T17:00:00.000+0000" if in_1994 else _vendor_utc(row[col])
            expected[row[0]] = "19941024000000" if in_1994 else day.strftime("%Y%m%d") + "000000"
        elif k % 4 == 1:
            row[col] += " 14:35:20"
            expected[row[0]] = day.strftime("%Y%m%d") + "143520"
        elif k % 4 == 2:  # UTC with a time: 03:00Z is 10:00 local
            if datetime.strptime(row[due_col], "%d/%m/%Y") >= datetime(2025, 2, 23):
                row[col], expected[row[0]] = "2025-02-23T03:00:00Z", "20250223100000"
            else:
                row[col], expected[row[0]] = day.strftime("%Y-%m-%dT03:00:00Z"), day.strftime("%Y%m%d100000")
        else:
            expected[row[0]] = day.strftime("%Y%m%d") + "000000"
    assert _vendor_utc("24/10/1994") == "1994-10-23T17:00:00.000+0000"
    with open(source, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)

    url = any_db_url
    cfg = load_config(config)
    cfg.target.url = url
    cfg.target.attachments = tmp_path / "target-attachments"  # the scans' store, on every database
    run_batch(cfg)
    out = tmp_path / "portal"
    result = _export(url, out)
    assert result.exit_code == 0, result.output
    records = {r["MaHoSo"]: r for r in _jsonl(out / f"{BATCH}-portal.jsonl")}
    checked = [code for code in expected if code in records]
    assert len(checked) >= 10
    for code in checked:
        assert records[code]["NgayTiepNhan"] == expected[code], code
    shown = {records[code]["NgayTiepNhan"] for code in checked}
    assert {"20250223100000", "19941024000000"} <= shown
    assert any(v.endswith("143520") for v in shown) and any(v.endswith("000000") for v in shown)
    assert len(records) == len(_loaded_rows(url))
    codes = [c.encode() for c in records]
    assert codes == sorted(codes)  # byte order on every database
    with existing_target(url) as engine:
        check = verify_batch(engine, BATCH)
        assert check.ok, check.problems
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert _export(url, out).exit_code == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


def test_model_schema_names_every_portal_field() -> None:
    fields = set(PortalDossier.model_json_schema()["properties"])
    assert fields == {
        *[
            "MaHoSo",
            "MaTTHC",
            "TenTTHC",
            "MaLinhVuc",
            "TenLinhVuc",
            "ChuHoSo",
            "LoaiDoiTuong",
            "MaDoiTuong",
            "SoDienThoai",
            "Email",
        ],
        *[
            "TrichYeuHoSo",
            "NgayTiepNhan",
            "NgayHenTra",
            "TrangThaiHoSo",
            "NgayTra",
            "HinhThuc",
            "DonViXuLy",
            "GhiChu",
        ],
        "PhiLePhi",
        "DanhSachGiayTo",
    }


def _fee_row(**kw: object) -> dict:
    row = {
        "dossier_code": "000.00.86.H38-250620-0001",
        "new_commune_code": "02905",
        "new_commune_name": "Xã Bảo Thắng",
        "old_district_code": "086",
        "old_district_name": "Huyện Bảo Thắng",
        "fee": 50000.0,
    }
    row.update(kw)
    return row


def test_fee_item_carries_the_payment_and_validates() -> None:
    """A paid dossier is exported paid (amount, day, channel, receipt); an unpaid one unpaid; a receipt alone is
    a payment; the JSON Schema refuses a negative amount, a wrong day form and an unknown channel."""
    from handover.exports.portal import to_portal

    validator = jsonschema.Draft202012Validator(json.loads(schema_json()))

    def fee_item(**kw: object) -> dict | None:
        record = to_portal(_fee_row(**kw), {}, date(2026, 12, 6), BATCH).model_dump(mode="json")
        assert not [e.message for e in validator.iter_errors(record)]
        return record["PhiLePhi"][0] if record["PhiLePhi"] else None

    paid = fee_item(
        amount_paid=50000.0,
        payment_date=date(2025, 6, 21),
        payment_channel="portal",
        receipt_number="BL-0001",
    )
    assert paid == {
        "TenPhiLePhi": "Phí, lệ phí",
        "SoTien": 50000,
        "DaThanhToan": True,
        "SoTienDaNop": 50000,
        "NgayThanhToan": "20250621000000",
        "HinhThucThanhToan": 3,
        "SoBienLai": "BL-0001",
    }
    assert fee_item()["DaThanhToan"] is False  # due, nothing paid
    partly = fee_item(amount_paid=20000.0, payment_channel="cash")
    assert (partly["DaThanhToan"], partly["SoTienDaNop"], partly["HinhThucThanhToan"]) == (True, 20000, 1)
    receipt_only = fee_item(fee=None, receipt_number="BL-9")
    assert (receipt_only["DaThanhToan"], receipt_only["SoTien"], receipt_only["SoBienLai"]) == (
        True,
        None,
        "BL-9",
    )
    assert fee_item(fee=None) is None  # no fee information: no item
    assert fee_item(fee=0.0)["DaThanhToan"] is False

    record = to_portal(_fee_row(amount_paid=50000.0), {}, None, BATCH).model_dump(mode="json")
    item = record["PhiLePhi"][0]
    assert validator.is_valid(record)
    assert not validator.is_valid(dict(record, PhiLePhi=[dict(item, SoTienDaNop=-1)]))
    assert not validator.is_valid(dict(record, PhiLePhi=[dict(item, NgayThanhToan="2025-06-21")]))
    assert not validator.is_valid(dict(record, PhiLePhi=[dict(item, HinhThucThanhToan=4)]))
    assert not validator.is_valid(
        dict(record, PhiLePhi=[{k: v for k, v in item.items() if k != "DaThanhToan"}])
    )
