"""A province's own mappings: ``handover mappings export DIR``, then ``[mapping] dir`` or ``run --mappings``."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from handover.cli import app
from handover.config import load_config
from handover.config_hash import config_sha256
from handover.errors import ExitCode
from handover.resources import mapping_files, mappings_dir, shipped_mappings_dir
from handover.target import schema

runner = CliRunner()

CSV = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
    "000.00.53.H38-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý\n"
)
SOURCE = '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n'
SHIPPED_LINE = "1.001193,Đăng ký khai sinh,Hộ tịch,commune_pc,UBND xã/phường,"
EDITED_LINE = "1.001193,Đăng ký khai sinh,Hộ tịch,province_dept,Sở Tư pháp tỉnh Lào Cai,"


def _config(folder: Path, name: str, mapping: str = "") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'[batch]\nid = "{name}"\nworkers = 0\n\n[target]\nurl = "sqlite:///{name}.db"\n\n{mapping}\n{SOURCE}',
        encoding="utf-8",
    )
    return path


def _routing(db: Path) -> tuple[str, str]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        row = conn.execute(select(schema.dossiers.c.handling_level, schema.dossiers.c.handling_agency)).one()
    engine.dispose()
    return tuple(row)


def _stored_config_hash(db: Path, batch_id: str) -> str:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        value = conn.execute(
            select(schema.batches.c.config_sha256).where(schema.batches.c.batch_id == batch_id)
        ).scalar_one()
    engine.dispose()
    return value


def test_export_copies_the_shipped_mappings_and_refuses_a_full_folder(tmp_path: Path) -> None:
    out = tmp_path / "mappings-lao-cai"
    result = runner.invoke(app, ["mappings", "export", str(out)])
    assert result.exit_code == 0, result.output
    shipped = shipped_mappings_dir()
    expected = {p.relative_to(shipped).as_posix() for p in mapping_files(shipped)}
    expected = {p for p in expected if not p.startswith("encodings/")}  # character tables: always shipped
    assert {p.relative_to(out).as_posix() for p in mapping_files(out)} == expected
    assert (out / "procedures.csv").read_bytes() == (shipped / "procedures.csv").read_bytes()
    assert f'[mapping] dir = "{out}"' in " ".join(result.stdout.split())
    again = runner.invoke(app, ["mappings", "export", str(out)])
    assert again.exit_code == ExitCode.USAGE
    assert "is not empty" in again.output and "--force" in again.output
    assert runner.invoke(app, ["mappings", "export", str(out), "--force"]).exit_code == 0


def test_edited_routing_in_the_batch_mappings_takes_effect_and_changes_the_config_hash(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    copy = tmp_path / "mappings-lao-cai"
    assert runner.invoke(app, ["mappings", "export", str(copy)]).exit_code == 0
    with_dir = _config(tmp_path, "own", '[mapping]\ndir = "mappings-lao-cai"\n')
    before = config_sha256(load_config(with_dir))

    procedures = copy / "procedures.csv"
    text = procedures.read_text(encoding="utf-8")
    assert SHIPPED_LINE in text
    procedures.write_text(text.replace(SHIPPED_LINE, EDITED_LINE), encoding="utf-8")
    after = config_sha256(load_config(with_dir))
    assert after != before  # the same batch file: only the mappings folder changed

    own = runner.invoke(app, ["run", str(with_dir), "--json"])
    assert own.exit_code == 0, own.output
    assert json.loads(own.stdout)["total"]["loaded"] == 1
    assert _routing(tmp_path / "own.db") == ("province_dept", "Sở Tư pháp tỉnh Lào Cai")
    assert _stored_config_hash(tmp_path / "own.db", "own") == after
    assert mappings_dir() == shipped_mappings_dir()  # the override ends with the run

    shipped = runner.invoke(app, ["run", str(_config(tmp_path, "shipped"))])
    assert shipped.exit_code == 0, shipped.output
    assert _routing(tmp_path / "shipped.db") == ("commune_pc", "UBND xã/phường")

    flag = runner.invoke(app, ["run", str(_config(tmp_path, "flag")), "--mappings", str(copy)])
    assert flag.exit_code == 0, flag.output
    assert _routing(tmp_path / "flag.db") == ("province_dept", "Sở Tư pháp tỉnh Lào Cai")

    # a later edit of the same folder: the batch refuses to run on under the same id
    procedures.write_text(
        text.replace(SHIPPED_LINE, EDITED_LINE.replace("Lào Cai", "Lao Cai")), encoding="utf-8"
    )
    refused = runner.invoke(app, ["run", str(with_dir)])
    assert refused.exit_code == ExitCode.USAGE, refused.output
    assert "configuration of batch own changed" in refused.output


def test_edited_profile_in_the_batch_mappings_maps_a_new_header(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(CSV.replace("Mã hồ sơ", "Mã tra cứu hẹn"), encoding="utf-8")
    copy = tmp_path / "m"
    assert runner.invoke(app, ["mappings", "export", str(copy)]).exit_code == 0
    shipped = runner.invoke(app, ["run", str(_config(tmp_path, "shipped")), "--dry-run"])
    assert shipped.exit_code == ExitCode.INPUT and "dossier_code" in shipped.output
    profile = copy / "profiles" / "dossier-vi.toml"
    text = profile.read_text(encoding="utf-8")
    marker = "[fields.dossier_code]\nheaders = ["
    assert marker in text
    profile.write_text(text.replace(marker, marker + '"Mã tra cứu hẹn", '), encoding="utf-8")
    own = runner.invoke(app, ["run", str(_config(tmp_path, "own", '[mapping]\ndir = "m"\n')), "--json"])
    assert own.exit_code == 0, own.output
    assert json.loads(own.stdout)["total"]["loaded"] == 1


def test_missing_or_incomplete_mappings_folder_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    missing = runner.invoke(app, ["run", str(_config(tmp_path, "x", '[mapping]\ndir = "nowhere"\n'))])
    assert missing.exit_code == ExitCode.USAGE
    assert "does not exist" in missing.output and "handover mappings export" in missing.output
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "procedures.csv").write_text("x\n", encoding="utf-8")
    partial = runner.invoke(app, ["run", str(_config(tmp_path, "y", '[mapping]\ndir = "part"\n'))])
    assert partial.exit_code == ExitCode.USAGE
    assert "lacks units/old_units.csv" in partial.output
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "y.db").exists()


def test_validation_reads_the_id_prefixes_of_the_batch_mappings(tmp_path: Path) -> None:
    """Validation reads the ID prefixes of the batch's folder, not the shipped ones."""
    (tmp_path / "a.csv").write_text(
        CSV.replace("Nguyễn Văn An,", "Nguyễn Văn An,010203012346,").replace(
            "Chủ hồ sơ,", "Chủ hồ sơ,Số CCCD,"
        ),
        encoding="utf-8",
    )
    copy = tmp_path / "m"
    assert runner.invoke(app, ["mappings", "export", str(copy)]).exit_code == 0
    prefixes = copy / "id_province_codes.csv"
    lines = prefixes.read_text(encoding="utf-8").splitlines(keepends=True)
    prefixes.write_text("".join(line for line in lines if not line.startswith("010,")), encoding="utf-8")
    results = {}
    gate = "[thresholds]\nmax_error_share = 1.0\n"
    for name, mapping in (("shipped", gate), ("own", f'{gate}[mapping]\ndir = "m"\n')):
        cfg = _config(tmp_path, name, mapping)
        result = runner.invoke(app, ["run", str(cfg), "--dry-run", "--json"])
        assert result.exit_code == 0, result.output
        results[name] = json.loads(result.stdout)["findings"]
    assert "cccd_province" not in results["shipped"]
    assert results["own"].get("cccd_province") == 1
