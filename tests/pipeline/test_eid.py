"""e-ID checks: the CCCD's birth year and sex digit against the row's birth date and sex, and the population
extract of ``[checks] population`` (name, birth date, missing ID). Each crafted mismatch raises its finding in
the findings CSV of a dry run and in the target after a real run; matching rows raise none; no message shows a
full ID or the extract's name."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from handover.cli import app
from handover.config import load_config
from handover.config_hash import config_meaning, config_sha256
from handover.ids import normalise_sex, sex
from handover.target import schema

runner = CliRunner()

RECORDS = (
    "Số đăng ký,Loại sổ,Họ và tên,Số CCCD,Ngày sinh,Giới tính,Xã,Ngày đăng ký\n"
    "KS-1,birth,Hoàng Thị Hoà,010190000002,15/03/1990,Nữ,Xã Sơn Hà,20/06/2025\n"  # matches (tone placement)
    "KS-2,birth,Phạm Văn Cường,010085000003,01/01/1986,1,Xã Sơn Hà,20/06/2025\n"  # birth year 1985 ≠ 1986
    "KS-3,birth,Đỗ Văn Dũng,010092000004,02/02/1992,F,Xã Sơn Hà,20/06/2025\n"  # digit 4 male, source female
    "KS-4,birth,Trần Văn Bình,010088000005,03/03/1988,male,Xã Sơn Hà,20/06/2025\n"  # extract: another name
    "KS-5,birth,Vũ Thị Em,010187000006,05/05/1987,0,Xã Sơn Hà,20/06/2025\n"  # extract: another birth date
    "KS-6,birth,Bùi Văn Giang,010091000007,07/07/1991,Nam,Xã Sơn Hà,20/06/2025\n"  # not in the extract
    "KS-7,birth,Ngo Thi Hanh,010300000008,08/08/2000,Nữ,Xã Sơn Hà,20/06/2025\n"  # 2000s female, no diacritics
)
DOSSIERS = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số CCCD,GioiTinh,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
    "000.00.53.H38-250620-0001,Đăng ký khai sinh,Lý Văn Khánh,010080000009,Nữ,Xã Sơn Hà,20/06/2025,"
    "30/06/2025,Đang xử lý\n"  # sex mismatch (digit 4 male)
    "000.00.53.H38-250620-0002,Đăng ký khai sinh,Mai Thị Lan,010182000010,Nữ,Xã Sơn Hà,20/06/2025,"
    "30/06/2025,Đang xử lý\n"  # matches
)
POPULATION = (
    "so_dinh_danh,ho_ten,ngay_sinh\n"
    "010190000002,Hoàng Thị Hòa,1990-03-15\n"
    "010085000003,Phạm Văn Cường,01/01/1986\n"
    "010092000004,Đỗ Văn Dũng,1992-02-02\n"
    "010088000005,Lê Văn Bình,1988-03-03\n"
    "010187000006,Vũ Thị Em,1987-06-05\n"
    "010300000008,Ngô Thị Hạnh,2000-08-08\n"
    "10080000009,Lý Văn Khánh,1980-01-01\n"  # leading zero lost in the extract too
    "010182000010,Mai Thị Lan,1982-01-01\n"
)
EXPECTED = {  # (source, line of the file: the header is line 1, check)
    ("rec", "3", "cccd_birth_year_mismatch"),
    ("rec", "4", "cccd_sex_mismatch"),
    ("rec", "5", "population_mismatch"),
    ("rec", "6", "population_mismatch"),
    ("rec", "7", "population_not_found"),
    ("dos", "2", "cccd_sex_mismatch"),
}
EID_CHECKS = {c for _, _, c in EXPECTED}
IDS = [
    v for line in (RECORDS + DOSSIERS).splitlines() for v in line.split(",") if len(v) == 12 and v.isdigit()
]
SOURCE = 'old_province_code = "10"\nold_district_code = "086"\n'


def _batch(tmp_path: Path, population: bool = True, workers: int = 0) -> Path:
    (tmp_path / "rec.csv").write_text(RECORDS, encoding="utf-8")
    (tmp_path / "dos.csv").write_text(DOSSIERS, encoding="utf-8")
    (tmp_path / "dan-cu.csv").write_text(POPULATION, encoding="utf-8")
    checks = '[checks]\npopulation = "dan-cu.csv"\n\n' if population else ""
    cfg = tmp_path / "batch.toml"
    cfg.write_text(
        f'[batch]\nid = "eid"\nworkers = {workers}\n\n[target]\nurl = "sqlite:///{tmp_path / "target.db"}"\n\n{checks}'
        f'[[sources]]\nid = "rec"\nkind = "csv"\npath = "rec.csv"\nentity = "record"\n{SOURCE}\n'
        f'[[sources]]\nid = "dos"\nkind = "csv"\npath = "dos.csv"\n{SOURCE}',
        encoding="utf-8",
    )
    return cfg


def _messages_are_masked(messages: list[str]) -> None:
    assert len(IDS) == 9 and all(len(i) == 12 for i in IDS)
    for text in messages:
        assert not any(i in text for i in IDS), text
        assert "Lê Văn Bình" not in text and "1987-06-05" not in text, text


def test_dry_run_findings_csv_has_each_eid_finding(tmp_path: Path) -> None:
    cfg = _batch(tmp_path)
    result = runner.invoke(app, ["run", str(cfg), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    with Path(json.loads(result.stdout)["reports"]["findings"]).open(encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["check"] in EID_CHECKS]
    assert {(r["source_id"], r["row"], r["check"]) for r in rows} == EXPECTED
    assert {r["severity"] for r in rows} == {"warning"}
    by_row = {(r["source_id"], r["row"]): r for r in rows}
    assert "họ tên" in by_row["rec", "5"]["message_vi"] and "L. V. B." in by_row["rec", "5"]["message_vi"]
    assert "birth date" in by_row["rec", "6"]["message_en"] and "name" not in by_row["rec", "6"]["message_en"]
    assert "010******005" in by_row["rec", "5"]["message_en"]
    _messages_are_masked([r["message_vi"] for r in rows] + [r["message_en"] for r in rows])
    assert not (tmp_path / "target.db").exists()


def test_real_run_stores_the_findings_and_loads_the_rows(tmp_path: Path) -> None:
    cfg = _batch(tmp_path)
    result = runner.invoke(app, ["run", str(cfg), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"]["loaded"] == 9  # warnings only: every row is loaded
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    f = schema.findings.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(f.source_id, f.source_row, f.check_name, f.message_vi, f.message_en).where(
                f.batch_id == "eid", f.check_name.in_(EID_CHECKS)
            )
        ).all()
    engine.dispose()
    assert {(r.source_id, str(r.source_row), r.check_name) for r in rows} == EXPECTED
    _messages_are_masked([r.message_vi for r in rows] + [r.message_en for r in rows])


def test_without_an_extract_only_the_id_digit_checks_fire(tmp_path: Path) -> None:
    cfg = _batch(tmp_path, population=False)
    result = runner.invoke(app, ["run", str(cfg), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    with Path(json.loads(result.stdout)["reports"]["findings"]).open(encoding="utf-8-sig", newline="") as fh:
        found = {
            (r["source_id"], r["row"], r["check"]) for r in csv.DictReader(fh) if r["check"] in EID_CHECKS
        }
    assert found == {e for e in EXPECTED if not e[2].startswith("population")}


def test_the_extract_is_part_of_the_configuration_hash(tmp_path: Path) -> None:
    cfg = _batch(tmp_path)
    before = config_sha256(load_config(cfg))
    (tmp_path / "dan-cu.csv").write_text(POPULATION.replace("Lê Văn Bình", "Trần Văn Bình"), encoding="utf-8")
    assert config_sha256(load_config(cfg)) != before
    # a batch without [checks] means what it meant before the section existed (its recorded hash holds)
    (tmp_path / "plain").mkdir()
    assert '"checks"' not in config_meaning(load_config(_batch(tmp_path / "plain", population=False)))


def test_a_missing_extract_is_a_configuration_error(tmp_path: Path) -> None:
    cfg = _batch(tmp_path)
    (tmp_path / "dan-cu.csv").unlink()
    result = runner.invoke(app, ["run", str(cfg), "--dry-run"])
    assert result.exit_code == 2, result.output
    assert "dan-cu.csv" in result.output and "[checks] population" in result.output


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("Nam", "M"),
        ("Nữ", "F"),
        ("male", "M"),
        ("Female", "F"),
        ("M", "M"),
        ("f", "F"),
        ("1", "M"),
        ("0", "F"),
    ],
)
def test_sex_values_are_normalised(raw: str, code: str) -> None:
    assert normalise_sex(raw) == code


def test_sex_digit() -> None:
    assert [sex(f"0100{0}0000001".replace("00", f"0{d}", 1)) for d in range(5)] == ["M", "F", "M", "F", None]
