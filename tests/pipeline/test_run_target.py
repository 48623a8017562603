"""``handover run`` and its target: checked before any source row is read; every run leaves its findings CSV."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handover.cli import app
from handover.config import load_config
from handover.errors import ExitCode, LoadError
from handover.pipeline.run import run_batch

runner = CliRunner()

CSV = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số CCCD,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
    "000.00.53.H38-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,10203012345,Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý\n"
    "000.00.53.H38-250620-0002,Đăng ký khai tử,Lê Thị Bích,010203012346,Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý\n"
)
SOURCE = '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n'


def _config(tmp_path: Path, batch_id: str = "t1", target: str = "target.db", extra: str = "") -> Path:
    path = tmp_path / f"{batch_id}.toml"
    path.write_text(
        f'[batch]\nid = "{batch_id}"\nworkers = 0\n\n[target]\nurl = "sqlite:///{target}"\n{extra}\n{SOURCE}',
        encoding="utf-8",
    )
    return path


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_real_run_writes_its_findings_csv_with_the_loads_findings(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    first = runner.invoke(app, ["run", str(_config(tmp_path)), "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    path = Path(out["reports"]["findings"])
    assert path == tmp_path / "reports" / "t1-findings.csv"
    rows = _csv_rows(path)
    assert len(rows) == sum(out["findings"].values()) > 0
    assert ("2", "applicant_id", "id_leading_zero") in {(r["row"], r["field"], r["check"]) for r in rows}
    # a second batch delivers changed content for a loaded key: the loader's conflict finding is in its CSV
    (tmp_path / "a.csv").write_text(CSV.replace("Nguyễn Văn An", "Nguyễn Văn Ân"), encoding="utf-8")
    second = runner.invoke(app, ["run", str(_config(tmp_path, "t2")), "--json"])
    assert second.exit_code == 0, second.output
    out2 = json.loads(second.stdout)
    assert out2["conflicts"] == 1
    rows2 = _csv_rows(Path(out2["reports"]["findings"]))
    assert len(rows2) == sum(out2["findings"].values())
    load_checks = {r["check"] for r in rows2} - {r["check"] for r in rows}
    assert load_checks, rows2  # the conflict, found by the loader, not by pass 1


def _run_recording(cfg_path: Path) -> tuple[list[str], BaseException]:
    stages: list[str] = []
    with pytest.raises(LoadError) as caught:
        run_batch(load_config(cfg_path), progress=lambda stage, *_: stages.append(stage))
    return stages, caught.value


def test_missing_target_folder_fails_before_a_row_is_read(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    stages, error = _run_recording(_config(tmp_path, target="no-such-folder/target.db"))
    assert stages == []  # no extract, no validate
    assert "the folder of the SQLite target does not exist" in error.message
    assert not (tmp_path / "no-such-folder").exists() and not (tmp_path / "reports").exists()
    result = runner.invoke(app, ["run", str(_config(tmp_path, target="no-such-folder/target.db"))])
    assert result.exit_code == ExitCode.LOAD


def test_unwritable_sqlite_target_fails_before_a_row_is_read(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "target.db").write_bytes(b"")
    real_access = os.access
    monkeypatch.setattr(
        "handover.target.db.os.access",
        lambda p, mode: False if Path(p).name == "target.db" else real_access(p, mode),
    )  # (the tests may run as root, who may write anywhere)
    stages, error = _run_recording(_config(tmp_path, target="ro/target.db"))
    assert stages == []
    assert error.message == f"the SQLite target's file is not writable: {tmp_path / 'ro' / 'target.db'}"
