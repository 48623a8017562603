"""Citizens' notices (handover export notices) after the demo: every loaded dossier's applicant once, split by
receiving unit as the target says; contactless applicants apart; owner-only files; a masked copy without a full
ID or phone; SMS encoding and part counts."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
from collections import Counter
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from handover.cli import app
from handover.errors import ConfigError
from handover.exports.contacts import phone_kind
from handover.exports.notices import (
    CONTACTLESS_SHEET,
    GATEWAY_FILE,
    MASKED_DIR,
    NOTICE_SHEET,
    PERSONAL_DIR,
    write_notices,
)
from handover.exports.sms import sms_size, unaccented
from handover.exports.templates import load_templates

runner = CliRunner()
BATCH = "demo-lao-cai-2025-07"


def _invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = _invoke("demo", "--out", str(out), "--rows", "150", "--json")
    assert result.exit_code == 0, result.output
    return out


def _url(db: Path) -> str:
    return f"sqlite:///{db}"


def _export(db: Path, out: Path, *extra: str) -> dict:
    result = _invoke("export", "notices", BATCH, "--db", _url(db), "--out", str(out), "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _loaded(db: Path) -> list[dict]:
    """The batch's loaded dossiers, read straight from the target."""
    engine = create_engine(_url(db))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.dossier_code, d.applicant_name, d.applicant_id, d.phone, d.email, d.handling_level, "
                "d.handling_agency, d.new_commune_code FROM ledger l JOIN dossiers d "
                "ON d.source_system = l.source_id AND d.dossier_code = l.natural_key "
                "WHERE l.batch_id = :b AND l.entity = 'dossier' AND l.disposition = 'loaded'"
            ),
            {"b": BATCH},
        )
        out = [dict(r._mapping) for r in rows]
    engine.dispose()
    return out


def _unit_key(row: dict) -> str:
    if row["handling_level"] == "province_dept":
        return row["handling_agency"]
    return row["new_commune_code"]


def _sheet_rows(path: Path, sheet: str) -> list[dict]:
    wb = load_workbook(path, read_only=True)
    rows = list(wb[sheet].iter_rows(values_only=True))
    wb.close()
    header = rows[0]
    return [dict(zip(header, r, strict=True)) for r in rows[1:]]


def _gateway(folder: Path) -> list[dict]:
    with (folder / GATEWAY_FILE).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_every_loaded_dossier_once_split_by_receiving_unit(demo_dir: Path, tmp_path: Path) -> None:
    db = demo_dir / "target.db"
    result = _export(db, tmp_path)
    loaded = _loaded(db)
    assert result["dossiers"] == len(loaded) > 200

    expected = Counter(_unit_key(r) for r in loaded)
    assert any(r["handling_level"] == "province_dept" for r in loaded)  # departments are receiving units too
    seen: Counter = Counter()
    for unit in result["units"]:
        path = Path(unit["workbook"])
        assert path.parent.name == PERSONAL_DIR
        rows = _sheet_rows(path, NOTICE_SHEET) + _sheet_rows(path, CONTACTLESS_SHEET)
        assert [r["STT"] for r in _sheet_rows(path, NOTICE_SHEET)] == list(
            range(1, len(_sheet_rows(path, NOTICE_SHEET)) + 1)
        )
        key = unit["name"] if unit["kind"] == "department" else unit["code"]
        assert len(rows) == expected[key] == unit["notices"] + unit["contactless"], unit
        assert {r["Đơn vị giải quyết mới"] for r in rows} == {unit["name"]}
        seen.update(r["Mã hồ sơ"] for r in rows)
    assert len(result["units"]) == len(expected)
    assert seen == Counter(r["dossier_code"] for r in loaded)  # each loaded dossier exactly once
    assert max(seen.values()) == 1

    by_code = {r["dossier_code"]: r for r in loaded}
    sms = [g for g in _gateway(Path(result["folder"])) if g["kenh"] == "sms"]
    # the demo's phones are all mobiles, but a few applicants left neither a phone nor an e-mail
    own = _contactless(loaded)
    assert 1 <= len(own) == result["contactless"] <= 5
    assert len(sms) == result["sms"] == len(loaded) - len(own)
    for line in sms[:50]:
        assert line["so_dien_thoai"] == by_code[line["ma_ho_so"]]["phone"]
        assert line["ma_ho_so"] in line["noi_dung"]
        size = sms_size(line["noi_dung"])
        assert (line["ma_hoa"], int(line["so_ky_tu"]), int(line["so_phan"])) == (
            size.encoding,
            size.units,
            size.parts,
        )
    emails = [g for g in _gateway(Path(result["folder"])) if g["kenh"] == "email"]
    assert len(emails) == result["emails"] == sum(bool(r["email"]) for r in loaded)
    assert all(by_code[g["ma_ho_so"]]["applicant_name"] in g["noi_dung"] for g in emails)


def _contactless(loaded: list[dict]) -> set[str]:
    """The dossiers whose applicant left neither a phone nor an e-mail (the demo plants a few)."""
    return {r["dossier_code"] for r in loaded if not r["phone"] and not r["email"]}


def _crafted(demo_dir: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the demo target where some applicants lost their contact, one has only a landline, one a
    formula-like e-mail."""
    db = tmp_path / "target.db"
    shutil.copy(demo_dir / "target.db", db)
    codes = sorted(r["dossier_code"] for r in _loaded(db))
    cases = {
        codes[0]: "no phone, no e-mail",
        codes[1]: "malformed phone",
        codes[2]: "malformed phone, malformed e-mail",
        codes[3]: "landline only",
        codes[4]: "e-mail only",
        codes[5]: "formula e-mail",
    }
    engine = create_engine(_url(db))
    with engine.begin() as conn:
        set_ = "UPDATE dossiers SET phone = :p, email = :e WHERE dossier_code = :c"
        conn.execute(text(set_), {"p": None, "e": None, "c": codes[0]})
        conn.execute(text(set_), {"p": "12345", "e": "", "c": codes[1]})
        conn.execute(text(set_), {"p": "0912", "e": "khong co", "c": codes[2]})
        conn.execute(text(set_), {"p": "02143812345", "e": None, "c": codes[3]})
        conn.execute(text(set_), {"p": None, "e": "a@b.vn", "c": codes[4]})
        conn.execute(text(set_), {"p": None, "e": "=cmd@x.vn", "c": codes[5]})
    engine.dispose()
    return db, cases


@pytest.mark.slow
def test_contactless_applicants_are_listed_apart(demo_dir: Path, tmp_path: Path) -> None:
    db, cases = _crafted(demo_dir, tmp_path)
    codes = list(cases)
    own = _contactless(_loaded(demo_dir / "target.db")) - set(codes)  # the demo's own, besides the crafted
    result = _export(db, tmp_path / "out")
    assert own and result["contactless"] == 3 + len(own)
    notice, contactless = set(), {}
    for unit in result["units"]:
        notice |= {r["Mã hồ sơ"] for r in _sheet_rows(Path(unit["workbook"]), NOTICE_SHEET)}
        contactless |= {r["Mã hồ sơ"]: r for r in _sheet_rows(Path(unit["workbook"]), CONTACTLESS_SHEET)}
    assert set(contactless) == set(codes[:3]) | own
    assert not notice & set(contactless)
    assert "12345" in contactless[codes[1]]["Lý do"]
    assert {codes[3], codes[4], codes[5]} <= notice

    gateway = _gateway(Path(result["folder"]))
    sent = {(g["ma_ho_so"], g["kenh"]) for g in gateway}
    assert not {c for c, _ in sent} & set(codes[:3])
    assert (codes[3], "sms") not in sent  # a landline gets no SMS, but is a contact to call
    assert (codes[4], "email") in sent
    formula = next(g for g in gateway if g["ma_ho_so"] == codes[5])
    assert formula["email"] == "'=cmd@x.vn"  # formula-safe CSV cell


@pytest.mark.slow
def test_files_are_owner_only_even_with_an_open_umask(demo_dir: Path, tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        result = _export(demo_dir / "target.db", tmp_path, "--masked")
    finally:
        os.umask(old)
    folders = [Path(result["folder"]), Path(result["masked_folder"])]
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        files = list(folder.iterdir())
        assert len(files) >= len(result["units"])
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in Path(result["folder"]).iterdir():
        assert "DU-LIEU-CA-NHAN" in path.name
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.slow
def test_masked_copy_holds_no_full_id_phone_or_email(demo_dir: Path, tmp_path: Path) -> None:
    db, _ = _crafted(demo_dir, tmp_path)
    result = _export(db, tmp_path / "out", "--masked")
    loaded = _loaded(db)
    secrets = {r[k] for r in loaded for k in ("applicant_id", "phone", "email") if r[k] and len(r[k]) >= 6}
    assert len(secrets) > 400
    long_digits = re.compile(r"\d{9,}")
    masked = sorted(Path(result["masked_folder"]).iterdir())
    assert {p.name.replace("DA-CHE", "") for p in masked} == {
        Path(u["workbook"]).name.replace("DU-LIEU-CA-NHAN", "") for u in result["units"]
    }
    cells = 0
    for path in masked:
        assert path.parent.name == MASKED_DIR
        wb = load_workbook(path, read_only=True)
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                for value in row:
                    if not isinstance(value, str):
                        continue
                    cells += 1
                    bare = re.sub(r"[\s.\-]", "", value)
                    assert not long_digits.search(bare) or all(s not in bare for s in secrets), value
                    assert not any(s in value for s in secrets), value
        wb.close()
    assert cells > 2000
    # the unmasked workbooks do hold them (the test would catch a leak)
    plain = _sheet_rows(Path(result["units"][0]["workbook"]), NOTICE_SHEET)
    assert any(r["Điện thoại"] in secrets for r in plain)


@pytest.mark.slow
def test_unknown_batch_and_broken_template(demo_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["export", "notices", "no-such", "--db", _url(demo_dir / "target.db"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 9
    assert "no-such" in result.output
    assert not (tmp_path / PERSONAL_DIR).exists()
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "sms.txt").write_text("Ho so {ma_hs}", encoding="utf-8")
    (folder / "email.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="ma_hs"):
        load_templates(folder)


@pytest.mark.slow
def test_html_report_does_not_link_the_notices(demo_dir: Path, tmp_path: Path) -> None:
    _export(demo_dir / "target.db", demo_dir / "reports")  # even beside it
    for html in (demo_dir / "reports").rglob("*.html"):
        body = html.read_text(encoding="utf-8")
        assert "DU-LIEU-CA-NHAN" not in body and "thong-bao" not in body


# ---------------------------------------------------------------------------------------------------------
# pieces, on crafted values (not slow)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "encoding", "units", "parts"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),  # 153 septets per part once concatenated
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("Hồ sơ" + "a" * 65, "UCS-2", 70, 1),
        ("Hồ sơ" + "a" * 66, "UCS-2", 71, 2),  # 67 code units per part
        ("ạ" * 134, "UCS-2", 134, 2),
        ("ạ" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),  # beyond the BMP: a surrogate pair each
        ("", "GSM-7", 0, 1),
    ],
)
def test_sms_size(message: str, encoding: str, units: int, parts: int) -> None:
    size = sms_size(message)
    assert (size.encoding, size.units, size.parts) == (encoding, units, parts)
    assert size.multipart == (parts > 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0912345678", ("mobile", "0912345678")),
        ("+84 912 345 678", ("mobile", "0912345678")),
        ("84912345678", ("mobile", "0912345678")),
        ("0912.345.678", ("mobile", "0912345678")),
        ("02143812345", ("landline", "02143812345")),
        ("0612345678", None),  # no such mobile prefix
        ("091234567", None),
        ("12345", None),
        ("", None),
        (None, None),
    ],
)
def test_phone_kind(value: object, expected: tuple[str, str] | None) -> None:
    assert phone_kind(value) == expected


def test_shipped_templates_render_a_single_gsm7_sms() -> None:
    templates = load_templates()
    assert templates.sms_unaccented
    values = {
        "ho_ten": "Nguyễn Văn A",
        "ma_ho_so": "000.00.86.H38-250131-0001",
        "thu_tuc": "Đăng ký khai sinh",
        "don_vi_moi": "Xã Bảo Thắng",
        "dia_chi_don_vi": "UBND Xã Bảo Thắng, Tỉnh Lào Cai",
        "han_tra": "15/02/2025",
        "don_vi_cu": "Thị trấn Phố Lu, Huyện Bảo Thắng",
    }
    message = templates.sms.format(**{k: unaccented(v) for k, v in values.items()})
    assert sms_size(message).encoding == "GSM-7" and sms_size(message).parts == 1
    assert unaccented("Đường Đê La Thành") == "Duong De La Thanh"
    assert templates.email_subject.startswith("Hồ sơ {ma_ho_so}")
    assert "{ho_ten}" in templates.email_body


@pytest.mark.slow
def test_write_notices_library_call(demo_dir: Path, tmp_path: Path) -> None:
    engine = create_engine(_url(demo_dir / "target.db"))
    try:
        result = write_notices(engine, BATCH, tmp_path)
    finally:
        engine.dispose()
    assert result.dossiers == len(_loaded(demo_dir / "target.db"))
    assert result.masked_folder is None and not (tmp_path / MASKED_DIR).exists()


def test_notices_on_every_database(any_db_url: str, tmp_path: Path) -> None:
    """The same loaded dossiers, one per line, from SQLite, PostgreSQL and MariaDB."""
    from tests.reports.factory import BATCH as FACTORY_BATCH
    from tests.reports.factory import EXPECTED_COMMUNES, build_target

    engine = create_engine(any_db_url)
    try:
        build_target(engine)
        result = write_notices(engine, FACTORY_BATCH, tmp_path)
    finally:
        engine.dispose()
    got = {u.code: u.notices + u.contactless for u in result.units}
    assert got == {code: n for code, (n, _) in EXPECTED_COMMUNES.items() if n}
    for unit in result.units:
        rows = _sheet_rows(unit.workbook, NOTICE_SHEET) + _sheet_rows(unit.workbook, CONTACTLESS_SHEET)
        assert len(rows) == got[unit.code]


@pytest.mark.slow
def test_templates_of_a_province(demo_dir: Path, tmp_path: Path) -> None:
    """--templates: an accented SMS goes as UCS-2 with its part count; a broken template stops before any file."""
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "sms.txt").write_text("Hồ sơ {ma_ho_so} của {ho_ten} đã chuyển về {don_vi_moi}.\n", "utf-8")
    (folder / "email.txt").write_text("Tiêu đề: Hồ sơ {ma_ho_so}\nKính gửi {ho_ten}.\n", "utf-8")
    result = _export(demo_dir / "target.db", tmp_path / "out", "--templates", str(folder))
    gateway = _gateway(Path(result["folder"]))
    sms = [g for g in gateway if g["kenh"] == "sms"]
    assert sms and all(g["ma_hoa"] == "UCS-2" for g in sms)
    for line in sms:
        units = len(line["noi_dung"].encode("utf-16-le")) // 2
        assert int(line["so_phan"]) == (1 if units <= 70 else -(-units // 67))
        assert line["nhieu_phan"] == ("có" if units > 70 else "không")
    assert any(g["nhieu_phan"] == "có" for g in sms)
    email = next(g for g in gateway if g["kenh"] == "email")
    assert email["tieu_de"] == f"Hồ sơ {email['ma_ho_so']}"

    (folder / "sms.txt").write_text("Hồ sơ {ma_hs}", "utf-8")
    db, out = _url(demo_dir / "target.db"), str(tmp_path / "b")
    args = ["export", "notices", BATCH, "--db", db, "--out", out, "--templates", str(folder)]
    broken = runner.invoke(app, args)
    assert broken.exit_code == ConfigError.exit_code
    assert "ma_hs" in broken.output and "sms.txt" in broken.output
    assert not (tmp_path / "b").exists()
